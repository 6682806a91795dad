//! End to end over loopback: a TD's append (HTTP POST, JetStream with `sync_interval:
//! always`, the feed, the hub) until the last watching WebSocket client has the event.

use std::time::{Duration, Instant};

use benches::bench_leaf::BenchLeaf;
use benches::watchers::Watchers;
use criterion::{Criterion, criterion_group, criterion_main};

fn broadcast(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut group = c.benchmark_group("append_to_last_client");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    for (tournaments, clients) in [(1usize, 100usize), (50, 20)] {
        let (leaf, ids, watchers) = rt.block_on(async {
            let leaf = BenchLeaf::start().await.expect("leaf starts");
            let mut urls = Vec::new();
            for i in 0..tournaments {
                let id = leaf
                    .create_tournament(&format!("Bench {i}"))
                    .await
                    .expect("tournament created");
                urls.push((id, leaf.ws_url(id)));
            }
            let watchers = Watchers::open(&urls, clients)
                .await
                .expect("clients connect");
            let ids: Vec<_> = urls.into_iter().map(|(id, _)| id).collect();
            (leaf, ids, watchers)
        });
        let watchers = tokio::sync::Mutex::new(watchers);
        let name = format!("{tournaments}x{clients}");
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let leaf = &leaf;
                let ids = &ids;
                let watchers = &watchers;
                let first = n;
                n += iters;
                async move {
                    let mut watchers = watchers.lock().await;
                    let begun = Instant::now();
                    for i in first..first + iters {
                        let tournament = ids[(i as usize) % ids.len()];
                        let seq = leaf.append(tournament, i).await.expect("append");
                        watchers.wait_for(tournament, seq, clients).await;
                    }
                    begun.elapsed()
                }
            });
        });
        rt.block_on(async {
            drop(watchers);
            leaf.stop().await.expect("leaf stops");
        });
    }
    group.finish();
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
