//! Suite 4: the disk under leaf's data dir fills up while TDs append.
//!
//! leaf runs as at a venue, with its own nats-server and everything (the JetStream store,
//! leaf.db, leaf's log) on one small disk. A ballast file takes the rest of the disk, and
//! nats-server's writes fail with ENOSPC. What must hold: every append is answered 201 or a
//! clear refusal (507 `storage_full`, or 503 when its outcome is unknown), nothing
//! acknowledged is lost, reads and displays keep working, and once the ballast is removed
//! appends work again by themselves, without restarting leaf.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leaf_crash::findings::emit;
use leaf_crash::leaf_api::{Api, PIN, TD};
use leaf_crash::leaf_node::{LeafNode, leaf_binary};
use leaf_crash::small_disk::SmallDisk;
use serde_json::{Value, json};

/// The disk: room for leaf.db, nats-server's store and a little history, as a nearly full
/// venue box has.
const DISK_MB: u64 = 64;
/// How long appends may take to come back after space is freed: the guard looks every 2 s,
/// then restarts nats-server.
const RECOVERY: Duration = Duration::from_secs(60);

fn nats_server() -> PathBuf {
    if let Some(path) = std::env::var_os("LEAF_NATS_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/nats-server")
}

async fn append(api: &Api, token: &str, t: &str, n: u64) -> (u16, Value) {
    let response = api
        .http
        .post(format!("{}/api/v1/tournaments/{t}/events", api.base))
        .bearer_auth(token)
        .json(&json!({"type": "chips", "data": {"n": n, "pad": "x".repeat(512)}}))
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }
        Err(e) => (0, json!({"transport": e.to_string()})),
    }
}

async fn health_of(api: &Api) -> Value {
    api.http
        .get(format!("{}/api/v1/health", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn events(api: &Api, token: &str, t: &str) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    loop {
        let since = out.last().map_or(0, |(seq, _)| *seq);
        let page: Value = api
            .http
            .get(format!(
                "{}/api/v1/tournaments/{t}/events?since={since}",
                api.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = page["events"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        out.extend(page.iter().map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["data"]["n"].as_u64().unwrap_or(u64::MAX),
            )
        }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_clearly_loses_nothing_and_recovers_by_itself() {
    let dir = tempfile::Builder::new()
        .prefix("crash-disk-full-")
        .tempdir()
        .unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"), DISK_MB)
        .unwrap_or_else(|e| panic!("the disk-full suite needs a tmpfs: {e}"));
    // leaf's own log (its stderr) is on the same disk, beside the data dir: a log line that
    // cannot be written must not take leaf down.
    let mut leaf = LeafNode::supervised(
        leaf_binary().unwrap(),
        disk.path().join("data"),
        nats_server(),
    )
    .unwrap();
    leaf.add_td(TD, PIN).await.unwrap();
    leaf.start().await.unwrap();
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: leaf.base_url(),
    };
    let token = api.login().await.unwrap();
    let t = api
        .create_tournament(&token, "Disk full")
        .await
        .unwrap()
        .to_string();

    // Acknowledged: (seq, n) of every 201.
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut n = 0;
    for _ in 0..20 {
        n += 1;
        let (status, body) = append(&api, &token, &t, n).await;
        assert_eq!(status, 201, "{body}");
        acked.push((body["seq"].as_u64().unwrap(), n));
    }

    let ballast = disk.fill("ballast").unwrap();
    // The `n` of every append refused with 507: none may be in the log.
    let mut refused_ns: Vec<u64> = Vec::new();
    let mut unknown = 0;
    for _ in 0..40 {
        n += 1;
        let (status, body) = append(&api, &token, &t, n).await;
        match status {
            201 => acked.push((body["seq"].as_u64().unwrap(), n)),
            507 => {
                assert_eq!(body["error"]["code"], "storage_full", "{body}");
                refused_ns.push(n);
            }
            // Its outcome is unknown: the check below allows it either way.
            503 => unknown += 1,
            other => panic!(
                "an append on a full disk got {other}: {body}\n{}",
                leaf.log_tail()
            ),
        }
    }
    assert!(
        !refused_ns.is_empty(),
        "no append was refused with 507 on a full disk"
    );

    // Reads and displays still work, and hold every acknowledged event.
    let health = health_of(&api).await;
    assert_eq!(health["subsystems"]["storage"]["state"], "full", "{health}");
    let stored = events(&api, &token, &t).await;
    for ack in &acked {
        assert!(
            stored.contains(ack),
            "acknowledged {ack:?} is not in the log"
        );
    }
    assert!(
        api.ws_status(t.parse().unwrap(), &token).await == Some(101),
        "a display cannot connect"
    );

    // Space comes back: appends work again without a restart of leaf.
    disk.free("ballast").unwrap();
    let freed = Instant::now();
    let recovered = loop {
        n += 1;
        let (status, body) = append(&api, &token, &t, n).await;
        if status == 201 {
            acked.push((body["seq"].as_u64().unwrap(), n));
            break freed.elapsed();
        }
        match status {
            507 => refused_ns.push(n),
            503 => unknown += 1,
            other => panic!("while recovering: {other} {body}"),
        }
        assert!(
            freed.elapsed() < RECOVERY,
            "appends did not come back within {RECOVERY:?} of freeing space:\n{}",
            leaf.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let stored = events(&api, &token, &t).await;
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seqs with gaps"
    );
    for ack in &acked {
        assert!(stored.contains(ack), "acknowledged {ack:?} is lost");
    }
    for n in &refused_ns {
        assert!(
            !stored.iter().any(|(_, stored_n)| stored_n == n),
            "append {n} was refused with 507 (nothing stored), yet it is in the log"
        );
    }
    let health = health_of(&api).await;
    assert_ne!(
        health["subsystems"]["storage"]["state"], "full",
        "health still says full once appends work again: {health}"
    );
    if std::env::var_os("DISK_FULL_LOG").is_some() {
        println!("{}", leaf.log_text());
    }
    leaf.stop().await.unwrap();
    emit(&format!(
        "disk-full: {} acknowledged, 0 lost, {} refused 507 (none stored), {unknown} unknown (503), ballast {} MB, appends back {:.1} s after freeing space",
        acked.len(),
        refused_ns.len(),
        ballast / (1024 * 1024),
        recovered.as_secs_f64()
    ));
}
