//! The write path alone: HTTP POST → JetStream (`sync_interval: always`) → 201.
//!
//! leaf and the client each get a runtime of their own, as a leaf process and a TD's browser
//! have, so the client's work never queues behind leaf's. On this 2-core VM the figure moves
//! with how idle the box is (waking an idle vCPU costs more than the disk): compare runs made
//! the same way.

use std::time::Duration;

use benches::bench_leaf::BenchLeaf;
use criterion::{Criterion, criterion_group, criterion_main};

fn durable_append(c: &mut Criterion) {
    // leaf runs on a runtime of its own, as in its own process; the client on another.
    let leaf_rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (leaf, tournament) = leaf_rt.block_on(async {
        let leaf = BenchLeaf::start().await.expect("leaf starts");
        let t = leaf.create_tournament("Bench").await.expect("tournament");
        (leaf, t)
    });
    let mut group = c.benchmark_group("durable_append");
    group
        .sample_size(100)
        .measurement_time(Duration::from_secs(10));
    let mut n = 0u64;
    group.bench_function("post_to_201", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let leaf = &leaf;
            let i = n;
            async move { leaf.append(tournament, i).await.expect("append") }
        });
    });
    // One append at a time, as a TD makes them: each after a pause in which the previous
    // append's audit record is written. Back to back (above), an append also waits for the
    // disk to finish the previous one's audit record.
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("post_to_201_after_a_pause", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let leaf = &leaf;
            let first = n;
            n += iters;
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let begun = std::time::Instant::now();
                    leaf.append(tournament, first + i + 1)
                        .await
                        .expect("append");
                    total += begun.elapsed();
                }
                total
            }
        });
    });
    group.finish();
    leaf_rt.block_on(async { leaf.stop().await.expect("leaf stops") });
}

criterion_group!(benches, durable_append);
criterion_main!(benches);
