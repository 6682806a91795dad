//! Append → receive latency for one tournament watched by 100 WebSocket clients, through the
//! real API, nats-server and hub. It prints p50/p99/max (a figure for the record, not an
//! assertion: speed targets belong in benches) and checks only that every client got every
//! event, in order.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use support::{TestLeaf, next_json, ws_connect};
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 100;
const EVENTS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_receive_latency_with_100_clients() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Latency").await;
    let started = Instant::now();
    let mut receivers = Vec::new();
    for _ in 0..CLIENTS {
        let (mut ws, _) = ws_connect(&leaf.ws_tournament(t)).await;
        assert_eq!(next_json(&mut ws).await["type"], "snapshot");
        // Each client notes when each seq arrives, relative to `started`.
        receivers.push(tokio::spawn(async move {
            let mut arrivals = Vec::with_capacity(EVENTS as usize);
            while arrivals.len() < EVENTS as usize {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) => {
                        let at = started.elapsed();
                        let m: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                        arrivals.push((m["seq"].as_u64().unwrap(), at));
                    }
                    Ok(Some(Ok(_))) => {}
                    other => panic!("a client stopped receiving: {other:?}"),
                }
            }
            arrivals
        }));
    }

    let client = reqwest::Client::new();
    let url = leaf.url(&format!("/api/v1/tournaments/{t}/events"));
    let token = leaf.td_token();
    let mut sent = Vec::new();
    for n in 1..=EVENTS {
        let at = started.elapsed();
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({"type": "tick", "data": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        sent.push(at);
    }

    let mut latencies = Vec::new();
    for receiver in receivers {
        let arrivals = receiver.await.unwrap();
        let seqs: Vec<u64> = arrivals.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=EVENTS).collect::<Vec<_>>());
        for (seq, at) in arrivals {
            latencies.push(at.saturating_sub(sent[seq as usize - 1]));
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "append→receive over {} deliveries ({CLIENTS} clients × {EVENTS} events, {} build): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    leaf.stop().await;
}
