//! The WebSocket hub behind a real leaf, with real sockets.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use leaf::hub::Scope;
use support::{TestLeaf, close_code, next_json, stays_quiet, ws_connect};
use tokio_tungstenite::tungstenite::Message;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_new_client_receives_connected_with_its_scope_and_the_server_id() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let (_ws, connected) = ws_connect(&leaf.ws_tournament(t)).await;
    assert_eq!(connected["scope"]["tournament_id"], t.to_string());
    assert_eq!(connected["server_id"], leaf.app_state.server_id.to_string());
    let (_venue, connected) = ws_connect(&leaf.ws_venue()).await;
    assert_eq!(connected["scope"]["kind"], "all");
    let (_lobby, connected) = ws_connect(&leaf.ws_url("")).await;
    assert_eq!(connected["scope"]["kind"], "lobby");
    leaf.stop().await;
}

#[tokio::test]
async fn broadcasts_reach_exactly_the_clients_in_scope() {
    let leaf = TestLeaf::start().await;
    let (a, b) = (leaf.tournament("A").await, leaf.tournament("B").await);
    let (mut a1, _) = ws_connect(&leaf.ws_tournament(a)).await;
    let (mut a2, _) = ws_connect(&leaf.ws_tournament(a)).await;
    let (mut b1, _) = ws_connect(&leaf.ws_tournament(b)).await;
    let (mut venue, _) = ws_connect(&leaf.ws_venue()).await;
    let (mut lobby, _) = ws_connect(&leaf.ws_url("")).await;
    for ws in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(next_json(ws).await["type"], "snapshot");
    }
    let hub = &leaf.app_state.hub;

    assert_eq!(
        hub.broadcast(
            Scope::Tournament(a),
            "clock",
            &serde_json::json!({"level": 4})
        ),
        3
    );
    for ws in [&mut a1, &mut a2, &mut venue] {
        let m = next_json(ws).await;
        assert_eq!(
            (m["type"].as_str(), m["tournament_id"].as_str()),
            (Some("clock"), Some(a.to_string().as_str()))
        );
        assert_eq!(m["data"]["level"], 4);
    }
    assert!(
        stays_quiet(&mut b1, QUIET).await,
        "tournament b received tournament a's message"
    );
    assert!(
        stays_quiet(&mut lobby, QUIET).await,
        "a lobby screen received a tournament's message"
    );

    assert_eq!(hub.broadcast(Scope::All, "announcement", &"final table"), 5);
    for ws in [&mut a1, &mut a2, &mut b1, &mut venue, &mut lobby] {
        assert_eq!(next_json(ws).await["data"], "final table");
    }
    leaf.stop().await;
}

#[tokio::test]
async fn a_bad_tournament_id_is_refused_before_the_upgrade() {
    let leaf = TestLeaf::start().await;
    // Percent-encoded as a browser would send them: `*`, `>`, `a.b`, `%2A`, `..%2F`, unicode,
    // an id with a trailing wildcard, and 10 kB of text.
    let long = "a".repeat(10_000);
    for bad in [
        "%2A",
        "%3E",
        "a.b",
        "%252A",
        "..%252F",
        "%C3%A9t%C3%A9",
        "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d1%2A",
        &long,
    ] {
        let url = leaf.ws_url(&format!("?tournament={bad}&token={}", leaf.td_token()));
        let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                assert_eq!(response.status(), 400, "{bad}");
            }
            other => panic!("{bad}: expected an HTTP 400, got {other}"),
        }
    }
    assert_eq!(leaf.app_state.hub.stats().clients, 0);
    leaf.stop().await;
}

#[tokio::test]
async fn a_stalled_client_does_not_delay_a_fast_one() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Stall").await;
    // Connected, then never read from again: its TCP buffers fill, then its queue.
    let (_stalled, _) = ws_connect(&leaf.ws_tournament(t)).await;
    let (mut fast, _) = ws_connect(&leaf.ws_tournament(t)).await;
    assert_eq!(next_json(&mut fast).await["type"], "snapshot");
    let hub = &leaf.app_state.hub;

    // 16 KiB per message: 2,000 of them are more than any loopback socket buffers.
    let filler = "x".repeat(16 * 1024);
    for i in 0..2_000u32 {
        hub.broadcast(
            Scope::Tournament(t),
            "tick",
            &serde_json::json!({"n": i, "filler": filler}),
        );
        assert_eq!(
            next_json(&mut fast).await["data"]["n"],
            i,
            "the fast client fell behind"
        );
    }
    let stats = hub.stats();
    assert_eq!(stats.slow_disconnects, 1, "{stats:?}");
    assert!(stats.dropped_messages >= 1);
    leaf.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_sender_with_1009() {
    let leaf = TestLeaf::start().await;
    let (mut rude, _) = ws_connect(&leaf.ws_url("")).await;
    let (mut polite, _) = ws_connect(&leaf.ws_url("")).await;
    rude.send(Message::Text("x".repeat(200 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut rude).await, Some(1009));
    leaf.app_state.hub.broadcast(Scope::All, "still", &"here");
    assert_eq!(next_json(&mut polite).await["data"], "here");
    leaf.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_client_with_going_away() {
    let leaf = TestLeaf::start().await;
    let (mut a, _) = ws_connect(&leaf.ws_url("")).await;
    let t = leaf.tournament("Closing").await;
    let (mut b, _) = ws_connect(&leaf.ws_tournament(t)).await;
    let stopping = tokio::spawn(leaf.stop());
    assert_eq!(close_code(&mut a).await, Some(1001));
    assert_eq!(close_code(&mut b).await, Some(1001));
    stopping.await.unwrap();
}
