//! Suite 4: the store fills up while TDs append, on a full disk and at leaf's `--max-store`.
//!
//! leaf runs as at a venue, with its own nats-server and everything (the JetStream store,
//! leaf.db, leaf's log) on one disk, under a load of [`APPENDERS`] TDs appending at once, each
//! to a tournament of their own. Two ways to run out of room:
//! - a small disk (tmpfs) whose rest a ballast file takes, so nats-server's writes fail with
//!   ENOSPC; freeing the ballast must bring appends back by themselves, without restarting leaf;
//! - the store's own limit (`LEAF_MAX_STORE`), which a restart with a larger one lifts.
//!
//! What must hold in both: every append is answered 201 or a clear refusal (507
//! `storage_full`, or 503 when its outcome is unknown), nothing acknowledged is lost, nothing
//! refused is stored, seqs have no gaps, and reads and displays keep working while it is full.

use std::time::{Duration, SystemTime};

use leaf_crash::appenders::{
    Ledger, Load, api_for, append, check_log, events, health_of, nats_server,
};
use leaf_crash::findings::emit;
use leaf_crash::leaf_api::{Api, PIN, TD};
use leaf_crash::leaf_node::{LeafNode, leaf_binary};
use leaf_crash::small_disk::SmallDisk;

/// The disk: room for leaf.db, nats-server's store and a little history, as a nearly full
/// venue box has.
const DISK_MB: u64 = 64;
/// TDs appending at once, each to a tournament of their own.
const APPENDERS: usize = 4;
/// How long appends may take to come back after space is freed: the guard looks every 2 s,
/// then restarts nats-server.
const RECOVERY: Duration = Duration::from_secs(60);
/// How long the load may take to meet a refusal once the store is full.
const TO_FILL: Duration = Duration::from_secs(60);

/// While full: health says so, reads hold every acknowledged event, a display connects.
async fn reads_work_while_full(api: &Api, token: &str, load: &Load) {
    let health = health_of(api).await;
    assert_eq!(health["subsystems"]["storage"]["state"], "full", "{health}");
    for (t, ledger) in load.tournaments.iter().zip(&load.ledgers) {
        let acked = ledger.lock().unwrap().acked.clone();
        let stored = events(api, token, t).await;
        for ack in &acked {
            assert!(stored.contains(ack), "acknowledged {ack:?} is not readable");
        }
        assert_eq!(
            api.ws_status(t.parse().unwrap(), token).await,
            Some(101),
            "a display cannot connect"
        );
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
    let api = api_for(&leaf);
    let token = api.login().await.unwrap();

    let load = Load::start(&api, &token, APPENDERS).await;
    load.until(Duration::from_secs(30), "5 appends each", |ls| {
        ls.iter().all(|l| l.acked.len() >= 5)
    })
    .await;
    load.until(Duration::ZERO, "no refusal while the disk has room", |ls| {
        ls.iter().all(|l| l.refused.is_empty() && l.unknown == 0)
    })
    .await;
    let ballast = disk.fill("ballast").unwrap();
    load.until(TO_FILL, "507 for every appender", |ls| {
        ls.iter().all(|l| !l.refused.is_empty())
    })
    .await;
    reads_work_while_full(&api, &token, &load).await;

    // Space comes back: appends work again without a restart of leaf.
    disk.free("ballast").unwrap();
    let freed = SystemTime::now();
    load.until(
        RECOVERY,
        "201 for every appender after freeing space",
        |ls| {
            ls.iter()
                .all(|l| l.acked_at.last().is_some_and(|at| *at > freed))
        },
    )
    .await;
    let ledgers = load.stop().await;
    let recovered = ledgers
        .iter()
        .filter_map(|(_, l)| l.acked_at.iter().find(|at| **at > freed))
        .map(|at| at.duration_since(freed).unwrap_or_default())
        .max()
        .unwrap_or_default();
    check_log(&api, &token, &ledgers).await;
    let health = health_of(&api).await;
    assert_ne!(
        health["subsystems"]["storage"]["state"], "full",
        "health still says full once appends work again: {health}"
    );
    if std::env::var_os("DISK_FULL_LOG").is_some() {
        println!("{}", leaf.log_text());
    }
    leaf.stop().await.unwrap();
    let sum = |of: fn(&Ledger) -> u64| ledgers.iter().map(|(_, l)| of(l)).sum::<u64>();
    emit(&format!(
        "disk-full: {APPENDERS} appenders, {} acknowledged, 0 lost, {} refused 507 (none stored), {} unknown (503), ballast {} MB, appends back {:.1} s after freeing space",
        sum(|l| l.acked.len() as u64),
        sum(|l| l.refused.len() as u64),
        sum(|l| l.unknown),
        ballast / (1024 * 1024),
        recovered.as_secs_f64()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_at_its_limit_refuses_appends_clearly_loses_nothing_and_a_larger_limit_lifts_it() {
    let dir = tempfile::Builder::new()
        .prefix("crash-store-limit-")
        .tempdir()
        .unwrap();
    let mut leaf = LeafNode::supervised(
        leaf_binary().unwrap(),
        dir.path().join("data"),
        nats_server(),
    )
    .unwrap();
    leaf.set_env("LEAF_MAX_STORE", Some("2MB"));
    leaf.add_td(TD, PIN).await.unwrap();
    leaf.start().await.unwrap();
    let api = api_for(&leaf);
    let token = api.login().await.unwrap();

    let load = Load::start(&api, &token, APPENDERS).await;
    load.until(TO_FILL, "507 for every appender", |ls| {
        ls.iter().all(|l| !l.refused.is_empty())
    })
    .await;
    reads_work_while_full(&api, &token, &load).await;
    let health = health_of(&api).await;
    let message = health["subsystems"]["storage"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("--max-store"), "{health}");
    let ledgers = load.stop().await;
    check_log(&api, &token, &ledgers).await;
    let before = ledgers
        .iter()
        .map(|(_, l)| l.acked.len() as u64)
        .sum::<u64>();
    let refused = ledgers
        .iter()
        .map(|(_, l)| l.refused.len() as u64)
        .sum::<u64>();

    // The flag raised, leaf takes appends again, after what it had.
    leaf.stop().await.unwrap();
    leaf.set_env("LEAF_MAX_STORE", Some("64MB"));
    leaf.start().await.unwrap();
    let token = api.login().await.unwrap();
    for (t, ledger) in &ledgers {
        let (status, body) = append(&api, &token, t, u64::MAX - 1).await;
        assert_eq!(status, 201, "{body}");
        let last = ledger.acked.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
        assert!(
            body["seq"].as_u64().unwrap() > last,
            "{body} after seq {last}"
        );
    }
    check_log(&api, &token, &ledgers).await;
    leaf.stop().await.unwrap();
    emit(&format!(
        "store-limit: {APPENDERS} appenders, 2 MB limit, {before} acknowledged, 0 lost, {refused} refused 507 (none stored), appends taken again at 64 MB"
    ));
}
