//! The event pipeline end to end: appends through the API, the log, the feed, and the
//! screens, with the real nats-server.

mod support;

use std::time::Duration;

use leaf::event::TournamentId;
use leaf::log::{Filter, PublishOptions, StreamName, Subject};
use support::{TestLeaf, event_seqs_until, next_json, stays_quiet, ws_connect};

#[tokio::test]
async fn many_tournaments_and_screens_each_get_exactly_their_own_events_in_order() {
    let leaf = TestLeaf::start().await;
    let mut tournaments = Vec::new();
    for i in 0..4 {
        tournaments.push(leaf.tournament(&format!("Table {i}")).await);
    }
    let mut screens = Vec::new();
    for t in &tournaments {
        for _ in 0..3 {
            let (mut ws, _) = ws_connect(&leaf.ws_tournament(*t)).await;
            assert_eq!(next_json(&mut ws).await["type"], "snapshot");
            screens.push((*t, ws));
        }
    }
    let (mut venue, _) = ws_connect(&leaf.ws_venue()).await;

    for round in 1..=8u64 {
        for t in &tournaments {
            assert_eq!(
                leaf.append(*t, "level", serde_json::json!({"round": round}))
                    .await,
                round
            );
        }
    }
    for (t, ws) in &mut screens {
        for expected in 1..=8u64 {
            let m = next_json(ws).await;
            assert_eq!(m["type"], "event");
            assert_eq!(
                m["tournament_id"],
                t.to_string(),
                "a screen got another tournament's event"
            );
            assert_eq!(m["seq"], expected);
            assert_eq!(m["event"]["data"]["round"], expected);
        }
        assert!(stays_quiet(ws, Duration::from_millis(100)).await);
    }
    let mut per_tournament = std::collections::HashMap::new();
    for _ in 0..32 {
        let m = next_json(&mut venue).await;
        let seqs: &mut Vec<u64> = per_tournament
            .entry(m["tournament_id"].to_string())
            .or_default();
        seqs.push(m["seq"].as_u64().unwrap());
    }
    assert!(
        per_tournament
            .values()
            .all(|s| *s == (1..=8).collect::<Vec<_>>())
    );
    leaf.stop().await;
}

#[tokio::test]
async fn resuming_from_any_since_across_a_restart_has_no_gap_and_no_duplicate() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    for n in 1..=12u64 {
        leaf.append(t, "tick", serde_json::json!({"n": n})).await;
    }
    let dir = leaf.stop().await;
    let leaf = TestLeaf::restart(dir).await;

    let mut clients = Vec::new();
    for since in 0..=12u64 {
        let url = leaf.ws_url(&format!(
            "?tournament={t}&since={since}&token={}",
            leaf.td_token()
        ));
        let (ws, _) = ws_connect(&url).await;
        clients.push((since, ws));
    }
    // A live event after every client subscribed: each must switch from replay to live cleanly.
    assert_eq!(
        leaf.append(t, "tick", serde_json::json!({"n": 13})).await,
        13
    );
    for (since, ws) in &mut clients {
        let seqs = event_seqs_until(ws, 13).await;
        assert_eq!(seqs, (*since + 1..=13).collect::<Vec<_>>(), "since={since}");
        assert!(
            stays_quiet(ws, Duration::from_millis(50)).await,
            "since={since}: a duplicate followed"
        );
    }
    leaf.stop().await;
}

#[tokio::test]
async fn without_since_a_screen_gets_the_snapshot_then_live_events() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    leaf.append(t, "level", serde_json::json!({"level": 1}))
        .await;
    leaf.append(t, "clock", serde_json::json!({"running": true}))
        .await;
    leaf.append(t, "level", serde_json::json!({"level": 2}))
        .await;
    let (mut ws, _) = ws_connect(&leaf.ws_tournament(t)).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["seq"], 3);
    assert_eq!(snapshot["state"]["level"]["data"]["level"], 2);
    assert_eq!(snapshot["state"]["clock"]["seq"], 2);
    leaf.append(t, "clock", serde_json::json!({"running": false}))
        .await;
    let live = next_json(&mut ws).await;
    insta::assert_json_snapshot!("event_message", live, {
        ".tournament_id" => "[uuid]",
        ".ts" => "[ts]",
    });
    insta::assert_json_snapshot!("snapshot_message", snapshot, {
        ".tournament_id" => "[uuid]",
        ".state.*.ts" => "[ts]",
    });
    leaf.stop().await;
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_original_and_stores_one_event() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let post = |key: &'static str| {
        let client = reqwest::Client::new();
        let url = leaf.url(&format!("/api/v1/tournaments/{t}/events"));
        let token = leaf.td_token();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&serde_json::json!({"type": "break", "data": {"minutes": 15}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let first = post("td-console-7:42").await;
    leaf.append(t, "level", serde_json::json!({})).await;
    let retry = post("td-console-7:42").await;
    assert_eq!(
        first, retry,
        "a retry must answer exactly as the first time"
    );
    assert_eq!(first["seq"], 1);
    let other = post("td-console-7:43").await;
    assert_eq!(other["seq"], 3);
    let (_, events) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}/events"),
            Some(&leaf.td_token()),
            None,
        )
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 3);
    leaf.stop().await;
}

#[tokio::test]
async fn a_second_writer_never_gets_a_seq_leaf_handed_out() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    assert_eq!(
        leaf.append(t, "level", serde_json::json!({"level": 1}))
            .await,
        1
    );
    // Another process writes straight into the stream, past leaf's API.
    let foreign = Subject::State(t, "level".parse().unwrap());
    leaf.app_state
        .log
        .publish(foreign, r#"{"level":99}"#.into(), PublishOptions::default())
        .await
        .unwrap();
    // leaf's next append notices, catches up, and takes the next free seq.
    assert_eq!(
        leaf.append(t, "level", serde_json::json!({"level": 2}))
            .await,
        3
    );

    // And many concurrent appends still get distinct, contiguous seqs.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let state = leaf.app_state.clone();
        tasks.push(tokio::spawn(async move {
            let actor = leaf::writer::Actor {
                who: "td:test".into(),
                request_id: None,
            };
            state
                .writer
                .append(
                    t,
                    leaf::writer::NewEvent::new(
                        "tick".parse().unwrap(),
                        serde_json::json!({"i": i}),
                    ),
                    &actor,
                )
                .await
                .unwrap()
                .seq
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (4..=23).map(leaf::event::Seq).collect::<Vec<_>>());
    let (_, events) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}/events?limit=1000"),
            Some(&leaf.td_token()),
            None,
        )
        .await;
    let listed: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, (1..=23).collect::<Vec<_>>());
    leaf.stop().await;
}

#[tokio::test]
async fn deleting_leaf_db_rebuilds_the_same_state_from_the_log() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    for n in 1..=5u64 {
        leaf.append(t, "level", serde_json::json!({"level": n}))
            .await;
    }
    let (_, before) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}"),
            Some(&leaf.td_token()),
            None,
        )
        .await;
    let dir = leaf.stop().await;
    for file in ["leaf.db", "leaf.db-wal", "leaf.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("data").join(file));
    }
    let leaf = TestLeaf::restart(dir).await;
    let (status, after) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}"),
            Some(&leaf.td_token()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(before, after);
    assert_eq!(after["last_seq"], 5);
    // LibSQL's own projection was rebuilt as well (flushed at shutdown).
    let dir = leaf.stop().await;
    let store = leaf::store::Store::open(&dir.path().join("data").join("leaf.db"))
        .await
        .unwrap();
    let row = store.tournament_row(t).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.last_seq),
        ("Main Event", leaf::event::Seq(5))
    );
    store.close().await;
}

#[tokio::test]
async fn viewer_tokens_read_their_own_tournament_only() {
    let leaf = TestLeaf::start().await;
    let (a, b) = (leaf.tournament("A").await, leaf.tournament("B").await);
    let viewer = leaf.viewer_token(a).await;
    let event = serde_json::json!({"type": "x", "data": {}});
    let table = [
        ("GET", format!("/api/v1/tournaments/{a}"), None, 200),
        ("GET", format!("/api/v1/tournaments/{a}/events"), None, 200),
        ("GET", format!("/api/v1/tournaments/{b}"), None, 403),
        ("GET", format!("/api/v1/tournaments/{b}/events"), None, 403),
        ("GET", "/api/v1/tournaments".to_owned(), None, 403),
        (
            "POST",
            format!("/api/v1/tournaments/{a}/events"),
            Some(event),
            403,
        ),
        (
            "POST",
            "/api/v1/tournaments".to_owned(),
            Some(serde_json::json!({"name": "x"})),
            403,
        ),
    ];
    for (method, path, body, expected) in table {
        let (status, answer) = leaf.call(method, &path, Some(&viewer), body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
    }

    let (_, connected) = ws_connect(&leaf.ws_url(&format!("?tournament={a}&token={viewer}"))).await;
    assert_eq!(connected["scope"]["tournament_id"], a.to_string());
    let refused =
        tokio_tungstenite::connect_async(leaf.ws_url(&format!("?tournament={b}&token={viewer}")))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a viewer of A opened B: {other:?}"),
    }
    leaf.stop().await;
}

#[tokio::test]
async fn tampered_foreign_and_unsigned_tokens_are_401() {
    let leaf = TestLeaf::start().await;
    let token = leaf.td_token();
    let mut bytes = token.clone().into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let foreign = leaf::auth::TokenKeys::from_secret(b"someone else's key, 32 bytes long")
        .issue(
            &leaf::auth::Principal::Td {
                name: "mallory".into(),
                account: "mallorys".into(),
            },
            Duration::from_secs(60),
        )
        .unwrap()
        .0;
    for bad in [
        tampered.as_str(),
        unsigned.as_str(),
        foreign.as_str(),
        "",
        "x.y.z",
    ] {
        let (status, body) = leaf
            .call("GET", "/api/v1/tournaments", Some(bad), None)
            .await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        leaf.call("GET", "/api/v1/tournaments", None, None).await.0,
        401
    );
    leaf.stop().await;
}

#[tokio::test]
async fn hostile_ids_and_event_types_are_refused_and_publish_nothing() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let before = leaf
        .app_state
        .log
        .read(StreamName::State, Filter::All, leaf::event::Seq(0), 10_000)
        .await
        .unwrap()
        .len();
    let token = leaf.td_token();
    let long = "a".repeat(10_000);
    for id in [
        "*",
        "%2A",
        "%3E",
        "a.b",
        "..%2F",
        "%C3%A9t%C3%A9",
        long.as_str(),
        &format!("{t}.x"),
        &format!("{t}%2E*"),
    ] {
        let (status, body) = leaf
            .call(
                "POST",
                &format!("/api/v1/tournaments/{id}/events"),
                Some(&token),
                Some(serde_json::json!({"type": "x", "data": {}})),
            )
            .await;
        assert!(status == 400 || status == 404, "{id:.40}: {status} {body}");
    }
    for kind in [
        "a.b",
        "*",
        ">",
        "Level",
        "a b",
        "",
        "tournament.x",
        "x\n",
        &"y".repeat(65),
        "é",
    ] {
        let (status, body) = leaf
            .call(
                "POST",
                &format!("/api/v1/tournaments/{t}/events"),
                Some(&token),
                Some(serde_json::json!({"type": kind, "data": {}})),
            )
            .await;
        assert_eq!(status, 400, "{kind:?}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    for body in [
        serde_json::json!({"type": "x"}),
        serde_json::json!({"type": "x", "data": [1, 2]}),
        serde_json::json!({"type": 7, "data": {}}),
        serde_json::json!({"type": "x", "data": {}, "seq": 1}),
    ] {
        let (status, _) = leaf
            .call(
                "POST",
                &format!("/api/v1/tournaments/{t}/events"),
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
    let unknown = TournamentId::new_random();
    let (status, _) = leaf
        .call(
            "POST",
            &format!("/api/v1/tournaments/{unknown}/events"),
            Some(&token),
            Some(serde_json::json!({"type": "x", "data": {}})),
        )
        .await;
    assert_eq!(status, 404);
    let big = serde_json::json!({"type": "x", "data": {"s": "a".repeat(70 * 1024)}});
    assert_eq!(
        leaf.call(
            "POST",
            &format!("/api/v1/tournaments/{t}/events"),
            Some(&token),
            Some(big)
        )
        .await
        .0,
        413
    );
    let after = leaf
        .app_state
        .log
        .read(StreamName::State, Filter::All, leaf::event::Seq(0), 10_000)
        .await
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused request published something");
    leaf.stop().await;
}

#[tokio::test]
async fn api_responses_keep_their_shape() {
    let leaf = TestLeaf::start().await;
    let token = leaf.td_token();
    let (status, created) = leaf
        .call(
            "POST",
            "/api/v1/tournaments",
            Some(&token),
            Some(serde_json::json!({"name": "Sunday Deepstack"})),
        )
        .await;
    assert_eq!(status, 201);
    let t = created["id"].as_str().unwrap().to_owned();
    let (_, appended) = leaf
        .call(
            "POST",
            &format!("/api/v1/tournaments/{t}/events"),
            Some(&token),
            Some(
                serde_json::json!({"type": "level_up", "data": {"level": 2, "blinds": [100, 200]}}),
            ),
        )
        .await;
    let (_, events) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}/events?since=0"),
            Some(&token),
            None,
        )
        .await;
    let (_, one) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}"),
            Some(&token),
            None,
        )
        .await;
    insta::assert_json_snapshot!("api_responses", serde_json::json!({
        "created": created, "appended": appended, "events": events, "tournament": one,
    }), {
        ".*.id" => "[uuid]",
        ".*.created_at" => "[ts]",
        ".*.ts" => "[ts]",
        ".events.events[].ts" => "[ts]",
    });
    let (status, doc) = leaf.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    paths.sort();
    insta::assert_json_snapshot!("openapi_paths", paths);
    leaf.stop().await;
}

#[tokio::test]
async fn announcements_reach_every_screen_and_viewer_links_carry_a_working_token() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let td = leaf.td_token();
    let (status, link) = leaf
        .call(
            "POST",
            &format!("/api/v1/tournaments/{t}/viewer-links"),
            Some(&td),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    assert!(link["qr_svg"].as_str().unwrap().contains("<svg"));
    let token = link["token"].as_str().unwrap();
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/display/{t}?token={token}"))
    );

    let png = reqwest::Client::new()
        .get(leaf.url(&format!(
            "/api/v1/tournaments/{t}/viewer-links/{}/qr.png",
            link["id"].as_str().unwrap()
        )))
        .bearer_auth(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[1..4], b"PNG");

    // The link's token opens its tournament; the lobby and a TD console hear announcements.
    let (mut viewer, _) = ws_connect(&leaf.ws_url(&format!("?token={token}"))).await;
    assert_eq!(next_json(&mut viewer).await["type"], "snapshot");
    let (mut lobby, _) = ws_connect(&leaf.ws_url("")).await;
    let (mut console, _) = ws_connect(&leaf.ws_venue()).await;
    let (status, sent) = leaf
        .call(
            "POST",
            "/api/v1/announcements",
            Some(&td),
            Some(serde_json::json!({"data": {"text": "Dinner break"}})),
        )
        .await;
    assert_eq!((status, sent["clients"].as_u64()), (202, Some(3)));
    for ws in [&mut viewer, &mut lobby, &mut console] {
        let m = next_json(ws).await;
        assert_eq!(
            (m["type"].as_str(), m["data"]["text"].as_str()),
            (Some("announcement"), Some("Dinner break"))
        );
    }
    let (status, _) = leaf
        .call(
            "POST",
            "/api/v1/announcements",
            Some(token),
            Some(serde_json::json!({"data": {}})),
        )
        .await;
    assert_eq!(status, 403, "a viewer token cannot announce");

    // Deleting the link revokes its token at once.
    let path = format!(
        "/api/v1/tournaments/{t}/viewer-links/{}",
        link["id"].as_str().unwrap()
    );
    assert_eq!(leaf.call("DELETE", &path, Some(&td), None).await.0, 204);
    assert_eq!(leaf.call("DELETE", &path, Some(&td), None).await.0, 404);
    let (status, body) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    leaf.stop().await;
}

#[tokio::test]
async fn a_client_too_far_behind_gets_the_snapshot_instead_of_a_replay() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Long Night").await;
    let behind = leaf::http::MAX_REPLAY + 5;
    for n in 0..behind {
        leaf.append_direct(t, "tick", serde_json::json!({"n": n}))
            .await;
    }
    let (mut far, _) = ws_connect(&leaf.ws_url(&format!(
        "?tournament={t}&since=0&token={}",
        leaf.td_token()
    )))
    .await;
    let first = next_json(&mut far).await;
    assert_eq!(
        (first["type"].as_str(), first["seq"].as_u64()),
        (Some("snapshot"), Some(behind))
    );
    let (mut near, _) = ws_connect(&leaf.ws_url(&format!(
        "?tournament={t}&since={}&token={}",
        behind - 2,
        leaf.td_token()
    )))
    .await;
    assert_eq!(
        event_seqs_until(&mut near, behind).await,
        vec![behind - 1, behind]
    );
    // Behind by more than leaf keeps in memory, but within the replay limit: from the log.
    let since = behind - leaf::feed::RECENT_MESSAGES as u64 - 50;
    let (mut from_log, _) = ws_connect(&leaf.ws_url(&format!(
        "?tournament={t}&since={since}&token={}",
        leaf.td_token()
    )))
    .await;
    assert_eq!(
        event_seqs_until(&mut from_log, behind).await,
        (since + 1..=behind).collect::<Vec<_>>()
    );
    leaf.stop().await;
}
