//! Suite 3: leaf SIGKILLed in the one moment an append leaves behind half done, after its
//! event is durable (and its TD answered) and before its AUDIT record is written. A kill -9
//! from outside hits that moment by luck; the `test-hooks` feature's
//! `LEAF_TEST_KILL_BEFORE_AUDIT` hits it every time. After the restart the audit trail must be
//! complete: one record per event, the lost one written from the event's own record and
//! marked recovered.

use std::time::Duration;

use leaf::event::Seq;
use leaf::log::record::{APPENDED, AuditRecord};
use leaf::log::{EventLog, Filter, JetStreamLog, NatsAuth, ServerKind, StreamName};
use leaf_crash::engine::Engine;
use leaf_crash::findings::emit;
use leaf_crash::leaf_api::{Api, PIN, TD};
use leaf_crash::leaf_node::{LeafNode, leaf_binary};
use leaf_crash::nats_node::{NatsNode, SyncPolicy};

/// Appends before the one whose audit record the kill takes.
const BEFORE: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_killed_before_its_audit_record_gets_it_at_the_restart() {
    let dir = tempfile::Builder::new()
        .prefix("crash-audit-gap-")
        .tempdir()
        .unwrap();
    let engine = Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("the audit-gap suite needs a Docker engine: {e}"));
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let mut nats = NatsNode::start(engine, &dir.path().join("conf"), &store, SyncPolicy::Always)
        .await
        .unwrap();
    let log = JetStreamLog::connect(nats.url(), NatsAuth::None, ServerKind::External)
        .await
        .unwrap();
    let mut leaf = LeafNode::new(
        leaf_binary().unwrap(),
        dir.path().join("leaf-data"),
        nats.url().to_owned(),
    )
    .unwrap();
    leaf.add_td(TD, PIN).await.unwrap();
    // The hook counts this run's appends; the creation is not one.
    leaf.set_env(
        "LEAF_TEST_KILL_BEFORE_AUDIT",
        Some(&(BEFORE + 1).to_string()),
    );
    leaf.start().await.unwrap();
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        base: leaf.base_url(),
    };
    let token = api.login().await.unwrap();
    let t = api.create_tournament(&token, "Audit gap").await.unwrap();
    for n in 1..=BEFORE {
        assert_eq!(api.append(&token, t, "level", n).await.unwrap(), n);
    }
    // This one's 201 may or may not get out before the kill: the log says what happened.
    let _ = api.append(&token, t, "level", BEFORE + 1).await;
    assert!(
        leaf.exited_within(Duration::from_secs(10)).await,
        "leaf did not die at its audit record: was it built with `--features test-hooks`? \
         (`make test-crash` and `make test` build it so)"
    );

    let events = log
        .read(StreamName::State, Filter::Tournament(t), Seq::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(events.len() as u64, BEFORE + 1, "the last event is durable");
    let before = appended(&log, t).await;
    assert_eq!(
        before.len() as u64,
        BEFORE,
        "the kill took the last event's audit record"
    );

    leaf.set_env("LEAF_TEST_KILL_BEFORE_AUDIT", None);
    let restart = leaf.start().await.unwrap();
    // The repair runs beside the first requests, once the record has stayed missing for
    // its grace (3 s).
    let begun = std::time::Instant::now();
    while (appended(&log, t).await.len() as u64) < BEFORE + 1 {
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "the missing audit record was not written; leaf's log:\n{}",
            leaf.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repaired = std::time::Instant::now() - begun;
    let after = appended(&log, t).await;
    let mut seqs: Vec<u64> = after.iter().filter_map(|r| r.seq).map(|s| s.0).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=BEFORE + 1).collect::<Vec<_>>(),
        "one audit record per event, none twice"
    );
    let recovered: Vec<&AuditRecord> = after.iter().filter(|r| r.recovered).collect();
    assert_eq!(recovered.len(), 1, "{after:?}");
    assert_eq!(
        (
            recovered[0].seq,
            recovered[0].actor.as_str(),
            recovered[0].event_type.as_deref()
        ),
        (
            Some(Seq(BEFORE + 1)),
            format!("td:{TD}").as_str(),
            Some("level")
        ),
        "written from what the event says of itself"
    );
    // What leaf itself says it wrote: the log drops a duplicate of a record it holds
    // silently, so the stream alone could not tell a repair that rewrote seqs 1 to 4.
    let repairs = |text: String| {
        text.lines()
            .map(plain)
            .filter(|l| l.contains("wrote audit records missing from the log"))
            .collect::<Vec<_>>()
    };
    let said = repairs(leaf.log_text());
    assert!(
        said.len() == 1 && said[0].contains("records=1"),
        "one repair of one record: {said:?}"
    );
    // A second start finds nothing to repair.
    let audit_end = log.last_seq(StreamName::Audit).await.unwrap();
    leaf.stop().await.unwrap();
    leaf.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(appended(&log, t).await.len() as u64, BEFORE + 1);
    assert_eq!(log.last_seq(StreamName::Audit).await.unwrap(), audit_end);
    assert_eq!(
        repairs(leaf.log_text()).len(),
        1,
        "the second start repaired something"
    );
    leaf.stop().await.unwrap();
    emit(&format!(
        "crash-suite audit-gap: killed before the audit record of event {}, restart {restart:?}, \
         audit trail complete {repaired:?} after it ({} records, 1 recovered)",
        BEFORE + 1,
        BEFORE + 1
    ));
    nats.stop().await.unwrap();
}

/// The `event.appended` audit records of `t`, as the log holds them.
async fn appended(log: &JetStreamLog, t: leaf::event::TournamentId) -> Vec<AuditRecord> {
    log.read(StreamName::Audit, Filter::Tournament(t), Seq::ZERO, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice::<AuditRecord>(&e.payload).unwrap())
        .filter(|r| r.action == APPENDED)
        .collect()
}

/// A log line without its terminal colours.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence runs to its final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
