//! A store at its limit (`--max-store`), with the real nats-server: appends are refused with
//! 507 and lose nothing, reads and displays go on, health says so, and a larger limit takes
//! appends again.

mod support;

use support::{TestLeaf, next_json, ws_connect};

#[tokio::test]
async fn a_full_store_refuses_appends_with_507_keeps_reads_and_a_larger_limit_takes_them_again() {
    let leaf =
        TestLeaf::with_store_limit(tempfile::tempdir().unwrap(), "1MB".parse().unwrap()).await;
    let t = leaf.tournament("Main Event").await;
    let td = leaf.td_token();
    let (status, health) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["subsystems"]["storage"]["state"], "ok", "{health}");
    assert_eq!(health["subsystems"]["storage"]["limit_bytes"], 1024 * 1024);

    let events = format!("/api/v1/tournaments/{t}/events");
    let blob = serde_json::json!({"blob": "x".repeat(60_000)});
    let mut stored = Vec::new();
    let refused = loop {
        let body = serde_json::json!({"type": "seating", "data": blob});
        let (status, answer) = leaf.call("POST", &events, Some(&td), Some(body)).await;
        match status {
            201 => stored.push(answer["seq"].as_u64().unwrap()),
            507 => break answer,
            other => panic!("{other}: {answer}"),
        }
        assert!(stored.len() < 40, "1 MB never filled");
    };
    assert_eq!(refused["error"]["code"], "storage_full", "{refused}");
    assert!(!stored.is_empty());

    let (status, health) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 503, "{health}");
    let storage = &health["subsystems"]["storage"];
    assert_eq!(storage["state"], "full", "{health}");
    assert!(storage["message"].as_str().unwrap().contains("--max-store"));
    assert!(
        storage["used_bytes"].as_u64().unwrap() > 512 * 1024,
        "{storage}"
    );

    // Everything acknowledged is there (in pages: these events are large), and a display
    // still gets its snapshot.
    let mut seqs: Vec<u64> = Vec::new();
    loop {
        let since = seqs.last().copied().unwrap_or(0);
        let (status, page) = leaf
            .call("GET", &format!("{events}?since={since}"), Some(&td), None)
            .await;
        assert_eq!(status, 200, "{page}");
        let page = page["events"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        seqs.extend(page.iter().map(|e| e["seq"].as_u64().unwrap()));
    }
    assert_eq!(
        seqs, stored,
        "nothing acknowledged is lost, nothing refused is stored"
    );
    let (mut ws, _) = ws_connect(&leaf.ws_tournament(t)).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], *stored.last().unwrap());

    // Started again with room to spare, it takes appends and says all is well.
    let dir = leaf.stop().await;
    let leaf = TestLeaf::with_store_limit(dir, "64MB".parse().unwrap()).await;
    let next = leaf
        .append(t, "clock", serde_json::json!({"level": 2}))
        .await;
    assert_eq!(next, stored.last().unwrap() + 1);
    let (status, health) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["subsystems"]["storage"]["state"], "ok", "{health}");
    leaf.stop().await;
}
