//! `leaf backup` beside a running leaf, `leaf backup --verify` and `leaf restore`, through the
//! real binary: the restored leaf carries on where the backup was taken.

mod support;

use std::path::Path;
use tokio::process::Command;

use serde_json::{Value, json};
use support::{TestLeaf, add_td, login, nats_server};

const LEAF: &str = env!("CARGO_BIN_EXE_leaf");

/// Runs `leaf --data-dir <data_dir> <args>` (without blocking the in-process leaf): exit
/// code, stdout and stderr together.
async fn leaf_cli(data_dir: &Path, args: &[&str]) -> (i32, String) {
    leaf_cli_in(Path::new("."), data_dir, args).await
}

/// [`leaf_cli`] in the working directory `cwd`.
async fn leaf_cli_in(cwd: &Path, data_dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(LEAF)
        .current_dir(cwd)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--nats-server")
        .arg(nats_server())
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn data_of(leaf: &TestLeaf) -> std::path::PathBuf {
    leaf.database_path().parent().unwrap().to_owned()
}

async fn events(leaf: &TestLeaf, t: &str, token: &str, since: u64) -> Vec<Value> {
    let (status, page) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}/events?since={since}&limit=1000"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

/// A payout with an `Idempotency-Key`: its seq, first time or retry.
async fn append_keyed(leaf: &TestLeaf, t: &str, token: &str) -> u64 {
    let response = reqwest::Client::new()
        .post(leaf.url(&format!("/api/v1/tournaments/{t}/events")))
        .bearer_auth(token)
        .header("Idempotency-Key", "payout-seat-3")
        .json(&json!({"type": "payout", "data": {"seat": 3}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(status == 201 || status == 200, "{status}: {body}");
    body["seq"].as_u64().unwrap()
}

/// Every message of both streams up to `last` of each, as a restore must reproduce them:
/// without the publish guards, which a restore replaces.
async fn messages(
    log: &leaf::log::JetStreamLog,
    last: [u64; 2],
) -> Vec<(u64, String, Vec<(String, String)>, bytes::Bytes)> {
    let mut out = Vec::new();
    for (stream, last) in leaf::log::StreamName::ALL.into_iter().zip(last) {
        let mut after = leaf::event::Seq(0);
        while after.0 < last {
            let page = log.read_stored(stream, after, 1000).await.unwrap();
            let Some(newest) = page.last() else { break };
            after = newest.seq;
            for m in page.into_iter().filter(|m| m.seq.0 <= last) {
                let headers = m
                    .headers
                    .into_iter()
                    .filter(|(n, _)| !n.starts_with("Nats-Expected-"))
                    .collect();
                out.push((m.seq.0, m.subject, headers, m.payload));
            }
        }
    }
    out
}

/// What a backup's manifest says of each stream's last seq, in `StreamName::ALL` order, and
/// of STATE's.
fn last_seqs(backup: &Path) -> ([u64; 2], u64) {
    let manifest = leaf::backup::read_manifest(backup).unwrap();
    let state = manifest
        .stream(leaf::log::StreamName::State)
        .unwrap()
        .last_seq;
    (
        leaf::log::StreamName::ALL.map(|s| manifest.stream(s).unwrap().last_seq),
        state,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_leaf_restores_into_a_leaf_that_carries_on() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "alice", "482193").await;
    let alice = login(&leaf, "alice", "482193").await;
    let t = leaf.tournament("Main Event").await;
    // Past one page of a backup's reads (1,000) and of a restore's publishes in flight (512).
    for level in 1..=1_200 {
        leaf.append_direct(t, "clock", json!({"level": level}))
            .await;
    }
    let keyed_seq = append_keyed(&leaf, &t.to_string(), &alice).await;
    let viewer = leaf.viewer_token(t).await;
    let before = events(&leaf, &t.to_string(), &alice, 1_195).await;
    assert_eq!(before.len(), 6);

    // Appends go on while the backup runs: it holds what was stored when it began, at least.
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("tonight");
    let appending = {
        let writer = leaf.app_state.writer.clone();
        tokio::spawn(async move {
            let actor = leaf::writer::Actor {
                who: "td:alice".into(),
                request_id: None,
            };
            for n in 0..200 {
                let event = leaf::writer::NewEvent::new("seat".parse().unwrap(), json!({"n": n}));
                writer.append(t, event, &actor).await.unwrap();
            }
        })
    };
    let (code, out) = leaf_cli(
        &data_of(&leaf),
        &["backup", "--to", backup.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    appending.await.unwrap();
    let (last, state_last) = last_seqs(&backup);
    assert!(state_last >= 1_201, "{out}");
    let original = messages(&leaf.jetstream, last).await;
    assert_eq!(original.len() as u64, last[0] + last[1]);
    // The tournament's events are the STATE stream's: those the backup holds.
    let in_backup: Vec<Value> = events(&leaf, &t.to_string(), &alice, 1_195)
        .await
        .into_iter()
        .filter(|e| e["seq"].as_u64() <= Some(state_last))
        .collect();
    assert_eq!(in_backup[..6], before[..]);

    let (code, out) = leaf_cli(
        &data_of(&leaf),
        &["backup", "--to", backup.to_str().unwrap()],
    )
    .await;
    assert_ne!(code, 0, "a backup overwrote another: {out}");
    assert!(out.contains("already exists"), "{out}");
    let (code, out) = leaf_cli(
        &data_of(&leaf),
        &["backup", "--verify", backup.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is a whole backup"), "{out}");
    // A bare name is a backup in the working directory.
    let (code, out) =
        leaf_cli_in(backups.path(), &data_of(&leaf), &["backup", "--to", "bare"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(backups.path().join("bare/manifest.json").is_file());

    // Into a data dir with something in it: refused, and nothing touched.
    let occupied = tempfile::tempdir().unwrap();
    std::fs::write(occupied.path().join("keep.txt"), "mine").unwrap();
    let (code, out) = leaf_cli(
        occupied.path(),
        &["restore", "--from", backup.to_str().unwrap()],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not empty"), "{out}");
    assert_eq!(
        std::fs::read_to_string(occupied.path().join("keep.txt")).unwrap(),
        "mine"
    );

    let restored_dir = tempfile::tempdir().unwrap();
    let (code, out) = leaf_cli(
        &restored_dir.path().join("data"),
        &["restore", "--from", backup.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&backup.join("leaf.db")), 0o600);
    assert_eq!(mode(&restored_dir.path().join("data/leaf.db")), 0o600);
    let original_dir = leaf.stop().await;
    // A stopped leaf is backed up too: its data dir's nats-server runs for the time of it.
    let (code, out) = leaf_cli(
        &original_dir.path().join("data"),
        &[
            "backup",
            "--to",
            backups.path().join("stopped").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("STATE 1401 messages"), "{out}");

    let restored = TestLeaf::restart(restored_dir).await;
    // Every message of both streams at its seq, with its subject, headers and bytes.
    assert_eq!(messages(&restored.jetstream, last).await, original);
    let t = t.to_string();
    // The same events at the same seqs, with the same data, and the old tokens still hold.
    assert_eq!(events(&restored, &t, &alice, 1_195).await, in_backup);
    assert_eq!(events(&restored, &t, &viewer, 1_199).await, in_backup[4..]);
    let again = login(&restored, "alice", "482193").await;
    // The idempotency key carries on: a retry is answered with the original seq.
    assert_eq!(append_keyed(&restored, &t, &again).await, keyed_seq);
    assert_eq!(
        restored
            .append(t.parse().unwrap(), "clock", json!({"level": 7}))
            .await,
        state_last + 1
    );
    restored.stop().await;
}

#[tokio::test]
async fn a_damaged_foreign_or_newer_backup_is_refused_with_a_clear_message() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    leaf.append(t, "clock", json!({"level": 1})).await;
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("good");
    let (code, out) = leaf_cli(&data_of(&leaf), &["backup", "--to", good.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    leaf.stop().await;
    let copy = |name: &str| {
        let to = backups.path().join(name);
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(&good).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        to
    };

    let flipped = copy("flipped");
    let state = flipped.join("STATE.jsonl");
    let mut bytes = std::fs::read(&state).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&state, bytes).unwrap();

    let newer = copy("newer");
    let manifest = newer.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"version\": 1", "\"version\": 2");
    std::fs::write(&manifest, text).unwrap();

    let missing = copy("missing");
    std::fs::remove_file(missing.join("leaf.db")).unwrap();

    let foreign = backups.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "not a backup").unwrap();

    for (backup, says) in [
        (&flipped, "damaged: STATE.jsonl"),
        (&newer, "format version 2"),
        (&missing, "damaged: leaf.db is missing"),
        (&foreign, "is not a leaf backup"),
    ] {
        let (code, out) = leaf_cli(
            backups.path(),
            &["backup", "--verify", backup.to_str().unwrap()],
        )
        .await;
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(says), "{backup:?}: {out}");
        let target = backups.path().join(format!(
            "restored-{}",
            backup.file_name().unwrap().to_str().unwrap()
        ));
        let (code, out) = leaf_cli(&target, &["restore", "--from", backup.to_str().unwrap()]).await;
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(says), "{backup:?}: {out}");
        assert!(!target.exists(), "a refused restore left {target:?}");
    }
    // Nothing half-made is left beside the backups either.
    let left: Vec<String> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn scheduled_backups_are_taken_rotated_and_reported_in_health_and_a_failure_warns() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let config = leaf::config::Config {
        backups: leaf::config::BackupFlags {
            backup_dir: Some(backups.clone()),
            backup_every: "10s".parse().unwrap(),
            backup_keep: 1,
        },
        ..support::config(dir.path().join("data"))
    };
    let leaf = TestLeaf::with_config(dir, &config).await;
    let t = leaf.tournament("Main Event").await;
    for level in 1..=3 {
        leaf.append(t, "clock", json!({"level": level})).await;
    }
    let (status, health) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["subsystems"]["backups"]["state"], "ok", "{health}");
    assert_eq!(health["subsystems"]["backups"]["every_s"], 10);

    let good = |health: &Value| health["subsystems"]["backups"]["last_good"].clone();
    let first = wait_for_health(&leaf, |h| !good(h).is_null()).await;
    let first = good(&first);
    assert_eq!(first["messages"], 1 + 3 + 3, "{first}");
    assert!(first["bytes"].as_u64().unwrap() > 0, "{first}");
    assert!(first["age_s"].as_u64().unwrap() < 10, "{first}");

    // The next one replaces it: one is kept.
    let second = wait_for_health(&leaf, |h| good(h)["name"] != first["name"]).await;
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![good(&second)["name"].as_str().unwrap().to_owned()]
    );
    let (code, out) = leaf_cli(
        &backups,
        &[
            "backup",
            "--verify",
            backups.join(&names[0]).to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");

    // The backup dir gone (a disk unmounted, say): a warning, not an outage.
    std::fs::remove_dir_all(&backups).unwrap();
    std::fs::write(&backups, "not a directory").unwrap();
    let warned = wait_for_health(&leaf, |h| h["subsystems"]["backups"]["state"] == "warning").await;
    assert_eq!(warned["status"], "warning", "{warned}");
    assert!(
        !warned["subsystems"]["backups"]["last_error"]["error"].is_null(),
        "{warned}"
    );
    assert_eq!(good(&warned)["name"], good(&second)["name"]);
    let (status, _) = leaf.call("GET", "/api/v1/health", None, None).await;
    assert_eq!(status, 200);
    leaf.stop().await;
}

/// Health, once `done` holds for it (within 40 s).
async fn wait_for_health(leaf: &TestLeaf, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let (_, health) = leaf.call("GET", "/api/v1/health", None, None).await;
        if done(&health) {
            return health;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health never got there: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
