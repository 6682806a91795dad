//! Suite 5: the backup drill. Under load, leaf takes backups on its schedule; it is killed
//! (kill -9, its nats-server with it) in the middle of one; the last good backup is restored
//! into a new data dir and leaf started on it. What must hold: every event acknowledged
//! before that backup began is there at its seq with its data, nothing is stored at a seq
//! another event was acknowledged at, the TD signs in with their PIN, the viewer link works,
//! and a display resumes from its old `since` with every event after it, in order.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use leaf_crash::appenders::{Load, api_for, events, nats_server};
use leaf_crash::findings::emit;
use leaf_crash::leaf_api::{PIN, TD};
use leaf_crash::leaf_node::{LeafNode, leaf_binary};
use serde_json::Value;

const APPENDERS: usize = 3;
/// Good backups taken under load before the one leaf is killed in.
const GOOD_BACKUPS: usize = 2;

/// The whole backups in `dir` (named as leaf names them, with a manifest), oldest first.
fn whole_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("leaf-backup-"))
                        && p.join("manifest.json").is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The hidden directories of backups being written (or cut off) in `dir`.
fn partials(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(".leaf-backup-") && n.contains(".partial-"))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// A backup is under way once its staging directory holds its owner lock. Killed before
/// that (between the mkdir and the lock), its directory is, by design, only reaped once it
/// is a minute old: its maker might be about to lock it.
fn backup_in_progress(dir: &Path) -> bool {
    partials(dir).iter().any(|p| p.join(".owner").exists())
}

async fn leaf_cli(args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(leaf_binary().unwrap())
        .arg("--nats-server")
        .arg(nats_server())
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_everything_acknowledged_before_it_began() {
    let dir = tempfile::Builder::new()
        .prefix("crash-backup-drill-")
        .tempdir()
        .unwrap();
    let backups = dir.path().join("backups");
    let mut leaf = LeafNode::supervised(
        leaf_binary().unwrap(),
        dir.path().join("data"),
        nats_server(),
    )
    .unwrap();
    leaf.set_env("LEAF_BACKUP_DIR", backups.to_str());
    leaf.set_env("LEAF_BACKUP_EVERY", Some("10s"));
    leaf.set_env("LEAF_BACKUP_KEEP", Some("100"));
    leaf.add_td(TD, PIN).await.unwrap();
    leaf.start().await.unwrap();
    let api = api_for(&leaf);
    let token = api.login().await.unwrap();
    let load = Load::start(&api, &token, APPENDERS).await;
    let watched = load.tournaments[0].clone();
    let viewer = api
        .viewer_token(&token, watched.parse().unwrap())
        .await
        .unwrap();

    // Good backups under load, then a kill -9 as soon as the next one has begun.
    let deadline = Instant::now() + Duration::from_secs(90);
    while whole_backups(&backups).len() < GOOD_BACKUPS {
        assert!(
            Instant::now() < deadline,
            "no {GOOD_BACKUPS} backups within 90 s:\n{}",
            leaf.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let good_before_kill = whole_backups(&backups).len();
    while !backup_in_progress(&backups) {
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "no backup began:\n{}",
            leaf.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    leaf.kill().await;
    let killed_at = SystemTime::now();
    assert_eq!(
        whole_backups(&backups).len(),
        good_before_kill,
        "the backup finished before the kill: the drill did not cut one"
    );
    let ledgers = load.stop().await;

    let last_good = whole_backups(&backups)
        .pop()
        .expect("a good backup is left");
    let (code, out) = leaf_cli(&["backup", "--verify", last_good.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(last_good.join("manifest.json")).unwrap()).unwrap();
    let taken_at = time::OffsetDateTime::parse(
        manifest["taken_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let began = SystemTime::from(taken_at);
    assert!(
        began < killed_at,
        "the last good backup began after the kill"
    );

    let restored_data = dir.path().join("restored");
    let (code, out) = leaf_cli(&[
        "--data-dir",
        restored_data.to_str().unwrap(),
        "restore",
        "--from",
        last_good.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    let mut restored =
        LeafNode::supervised(leaf_binary().unwrap(), restored_data, nats_server()).unwrap();
    restored.start().await.unwrap();
    let api = api_for(&restored);
    // The TD signs in with the same PIN.
    let token = api.login().await.unwrap();

    let mut before_backup = 0;
    for (t, ledger) in &ledgers {
        let stored = events(&api, &token, t).await;
        let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "gaps in {t}"
        );
        for (ack, at) in ledger.acked.iter().zip(&ledger.acked_at) {
            if *at < began {
                before_backup += 1;
                assert!(
                    stored.contains(ack),
                    "{ack:?} of {t}, acknowledged before the backup began, is not restored"
                );
            }
            // Whatever else the backup holds agrees with what the TDs were told.
            if let Some(other) = stored.iter().find(|(seq, _)| *seq == ack.0) {
                assert_eq!(other, ack, "seq {} of {t} holds another event", ack.0);
            }
        }
    }
    assert!(
        before_backup > 0,
        "nothing was acknowledged before the backup"
    );

    // The viewer link works, and a display resumes from an old `since`: every event after it,
    // in order, no snapshot.
    let stored = events(&api, &viewer, &watched).await;
    let last = stored.last().map_or(0, |(seq, _)| *seq);
    let since = last.saturating_sub(20);
    let url = format!(
        "{}?tournament={watched}&token={viewer}&since={since}",
        restored.ws_url()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut resumed = Vec::new();
    while resumed.last().copied().unwrap_or(since) < last {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the display heard nothing for 10 s")
            .unwrap()
            .unwrap();
        let Ok(text) = message.into_text() else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("event") => resumed.push(message["seq"].as_u64().unwrap()),
            Some("connected") => {}
            other => panic!("a resume from {since} got {other:?}: {message}"),
        }
    }
    assert_eq!(resumed, (since + 1..=last).collect::<Vec<_>>());
    restored.stop().await.unwrap();

    // The cut backup left only a hidden directory, which the original leaf removes as it
    // starts again.
    let cut = partials(&backups);
    assert!(!cut.is_empty(), "no trace of the cut backup");
    leaf.start().await.unwrap();
    // Only the cut one: the restarted leaf may well be writing a new backup by then.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cut.iter().any(|p| p.exists()) {
        assert!(
            Instant::now() < deadline,
            "the cut backup was not removed at the next start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    leaf.stop().await.unwrap();

    let acked: usize = ledgers.iter().map(|(_, l)| l.acked.len()).sum();
    emit(&format!(
        "backup-drill: {APPENDERS} appenders, {good_before_kill} good backups, kill -9 in a backup, {acked} acknowledged, {before_backup} before the last good backup began, 0 lost, display resumed from seq {since}"
    ));
}
