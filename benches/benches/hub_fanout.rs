//! The hub alone: one event serialised once and queued to N clients of a tournament.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use leaf::event::TournamentId;
use leaf::hub::{ClientConfig, Hub, Scope};
use serde_json::json;

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub_fanout");
    let event = json!({
        "seq": 42,
        "ts": "2026-11-30T21:04:11.123Z",
        "event": { "type": "level_up", "data": { "level": 7, "blinds": [200, 400], "ante": 50 } }
    });
    for n in [1usize, 100, 1_000] {
        let hub = Hub::new("bench".into(), ClientConfig::default());
        let tournament = TournamentId::new_random();
        let mut sessions: Vec<_> = (0..n)
            .map(|_| hub.register(Scope::Tournament(tournament)))
            .collect::<Result<_, _>>()
            .expect("the hub accepts clients");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let begun = Instant::now();
                    let queued = hub.broadcast(Scope::Tournament(tournament), "event", &event);
                    spent += begun.elapsed();
                    assert_eq!(black_box(queued), n);
                    // The clients' writers would drain their queues; here, outside the clock.
                    for session in &mut sessions {
                        while session.queue.try_recv().is_ok() {}
                    }
                }
                spent
            });
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
