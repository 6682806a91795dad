//! The write path alone: HTTP POST → JetStream (`sync_interval: always`) → 201.

use std::time::Duration;

use benches::bench_leaf::BenchLeaf;
use criterion::{Criterion, criterion_group, criterion_main};

fn durable_append(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (leaf, tournament) = rt.block_on(async {
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
    group.finish();
    rt.block_on(async { leaf.stop().await.expect("leaf stops") });
}

criterion_group!(benches, durable_append);
criterion_main!(benches);
