use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use leaf::event::{Seq, TournamentId};
use leaf::log::{EventLog, Filter, PublishOptions, StreamName, Subject};

use super::*;

// The same contract leaf's JetStream and memory logs are held to. Outside a simulation the
// clock reads zero, there are no outages, and reads are instant.
#[tokio::test]
async fn the_simulated_log_keeps_the_event_log_contract() {
    leaf::log::contract::check_all(&SimLog::new(Rng::new(1), Vec::new()))
        .await
        .unwrap();
}

/// What a burst of big reads did, seen from leaf's side.
#[derive(Debug)]
struct Burst {
    failures: Vec<String>,
    /// What the STATE tail said after the burst, when one more event was stored.
    tail_after: Vec<Result<Seq, String>>,
}

/// Inside a simulation: stores 8 events of 60 KiB, opens a STATE tail, reads the whole
/// tournament 6 times at once (each page about 480 KiB: the second one overflows the pending
/// limit), then stores one more event.
fn burst_of_reads(wiring: Wiring) -> (Burst, SimLog) {
    let log = SimLog::wired(Rng::new(7), Vec::new(), wiring);
    let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut sim = turmoil::Builder::new().build();
    {
        let (log, outcome) = (log.clone(), outcome.clone());
        sim.client("leaf", async move {
            let t = TournamentId::new_random();
            let append = |n: u64| {
                let log = log.clone();
                async move {
                    let subject = Subject::State(t, "seat".parse().unwrap());
                    let payload = Bytes::from(format!("{n}") + &"x".repeat(61_440 - 1));
                    log.publish(subject, payload, PublishOptions::default())
                        .await
                        .unwrap();
                }
            };
            for n in 0..8 {
                append(n).await;
            }
            let mut tail = log.tail(StreamName::State, Seq(8)).await.unwrap();
            let reads =
                (0..6).map(|_| log.read(StreamName::State, Filter::Tournament(t), Seq(0), 100));
            let failures = futures_util::future::join_all(reads)
                .await
                .into_iter()
                .filter_map(|r| r.err().map(|e| e.to_string()))
                .collect();
            tokio::time::sleep(RECONNECT_AFTER).await;
            append(8).await;
            let mut tail_after = Vec::new();
            while let Ok(Some(next)) =
                tokio::time::timeout(Duration::from_millis(50), tail.next()).await
            {
                tail_after.push(next.map(|e| e.stream_seq).map_err(|e| e.to_string()));
            }
            *outcome.lock().unwrap() = Some(Burst {
                failures,
                tail_after,
            });
            Ok(())
        });
    }
    sim.run().unwrap();
    let burst = outcome.lock().unwrap().take().unwrap();
    (burst, log)
}

#[test]
fn a_burst_of_reads_cuts_the_reads_connection_but_never_the_tails() {
    let (burst, log) = burst_of_reads(Wiring::Separate);
    assert!(
        burst.failures.iter().any(|f| f.contains("slow consumer")),
        "{burst:?}"
    );
    assert!(log.cuts_of(Connection::Reads) >= 1, "{:?}", log.cuts());
    assert_eq!(log.cuts_of(Connection::Main), 0, "{:?}", log.cuts());
    assert_eq!(burst.tail_after, vec![Ok(Seq(9))], "the tail goes on");
}

#[test]
fn with_reads_beside_the_tails_the_cut_ends_the_tails() {
    let (burst, log) = burst_of_reads(Wiring::Shared);
    assert!(log.cuts_of(Connection::Main) >= 1, "{:?}", log.cuts());
    assert_eq!(log.cuts_of(Connection::Reads), 0);
    match burst.tail_after.as_slice() {
        [Err(e)] => assert!(e.contains("slow consumer"), "{e}"),
        other => panic!("the tail should fail once and end: {other:?}"),
    }
}

#[test]
fn reads_take_simulated_time_at_the_bandwidth() {
    let log = SimLog::new(Rng::new(3), Vec::new());
    let took = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut sim = turmoil::Builder::new().build();
    {
        let (log, took) = (log.clone(), took.clone());
        sim.client("leaf", async move {
            let t = TournamentId::new_random();
            for n in 0..4 {
                let subject = Subject::State(t, "seat".parse().unwrap());
                let payload = Bytes::from(format!("{n}") + &"x".repeat(102_400 - 1));
                log.publish(subject, payload, PublishOptions::default())
                    .await
                    .unwrap();
            }
            let before = turmoil::sim_elapsed().unwrap();
            let page = log
                .read(StreamName::State, Filter::Tournament(t), Seq(0), 10)
                .await
                .unwrap();
            *took.lock().unwrap() = Some((page.len(), turmoil::sim_elapsed().unwrap() - before));
            Ok(())
        });
    }
    sim.run().unwrap();
    let (n, took) = took.lock().unwrap().take().unwrap();
    assert_eq!(n, 4);
    // About 400 KiB at 4 MiB/s, in whole ticks of the simulated clock.
    assert!(
        (Duration::from_millis(97)..=Duration::from_millis(100)).contains(&took),
        "{took:?}"
    );
    assert_eq!(log.reads_failed(), 0);
}
