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

/// nats-server turns JetStream off in a running server when a write to its store is denied
/// (and, clustered, on a full disk), and leaves it off until it restarts. Here it is turned off
/// the one way a test can do it on demand: its config with JetStream disabled, and SIGHUP.
/// leaf notices, and with room on the disk restarts its nats-server (which rewrites the
/// config): appends are refused meanwhile, never lost, and taken again without restarting leaf.
#[tokio::test]
async fn jetstream_turned_off_under_leaf_is_brought_back_by_restarting_nats_server() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    // The `n` of every append answered 201, and of those whose outcome is unknown (503).
    let mut acked = vec![0];
    let mut unknown = Vec::new();
    leaf.append(t, "clock", serde_json::json!({"n": 0})).await;

    let nats_dir = leaf.database_path().with_file_name("nats");
    let conf_path = nats_dir.join("nats-server.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    // `enabled: false` in the block: the rest must stay as it was, or nats-server refuses the
    // reload (it cannot change sync_interval in a running server).
    assert!(conf.contains("jetstream {\n"), "{conf}");
    std::fs::write(
        &conf_path,
        conf.replacen("jetstream {\n", "jetstream {\n  enabled: false\n", 1),
    )
    .unwrap();
    let pid = nats_server_pid(&nats_dir.join("run")).await;
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());

    // Refused (503 while leaf finds out, 507 once it knows) until nats-server is back.
    let events = format!("/api/v1/tournaments/{t}/events");
    let td = leaf.td_token();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut refused = 0;
    for n in 1.. {
        let body = serde_json::json!({"type": "clock", "data": {"n": n}});
        let (status, answer) = leaf.call("POST", &events, Some(&td), Some(body)).await;
        match status {
            201 => {
                acked.push(n);
                if refused > 0 {
                    break;
                }
            }
            503 | 507 => {
                let code = answer["error"]["code"].as_str().unwrap_or_default();
                assert!(
                    ["unavailable", "storage_full"].contains(&code),
                    "{status}: {answer}"
                );
                if status == 503 {
                    unknown.push(n);
                }
                refused += 1;
            }
            other => panic!("{other}: {answer}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "appends were not taken again within 30 s: {:?}",
            leaf.call("GET", "/api/v1/health", None, None).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(
        nats_server_pid(&nats_dir.join("run")).await,
        pid,
        "leaf restarted its nats-server"
    );
    let (status, health) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200, "{health}");
    assert!(
        health["subsystems"]["nats"]["restarts"].as_u64() >= Some(1),
        "{health}"
    );
    let (status, page) = leaf.call("GET", &events, Some(&td), None).await;
    assert_eq!(status, 200, "{page}");
    let stored = page["events"].as_array().unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let ns: Vec<u64> = stored
        .iter()
        .map(|e| e["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gaps");
    for n in &acked {
        assert!(ns.contains(n), "acknowledged append {n} is lost");
    }
    for n in &ns {
        assert!(
            acked.contains(n) || unknown.contains(n),
            "append {n} was refused with 507 (nothing stored), yet it is stored"
        );
    }
    leaf.stop().await;
}

/// The pid of the running nats-server, from the ports file it names after itself.
async fn nats_server_pid(run_dir: &std::path::Path) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pid = std::fs::read_dir(run_dir).unwrap().find_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("nats-server_")?
                .strip_suffix(".ports")?
                .parse()
                .ok()
        });
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ports file in {run_dir:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
