//! The writer over the memory log, with a gate in front of its STATE publishes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, watch};

use super::*;
use crate::feed::ReadBudget;
use crate::hub::{ClientConfig, Hub};
use crate::log::record::APPENDED;
use crate::log::{Ack, EntryStream, Filter, LogHealth, MemoryLog};
use crate::world::SystemWorld;

/// The memory log, except that a STATE publish waits while the gate is shut.
struct GatedLog {
    log: MemoryLog,
    open: watch::Sender<bool>,
    /// A STATE publish has reached the gate.
    reached: Notify,
    /// AUDIT publishes fail while set: the moment between an event and its audit record.
    audits_fail: std::sync::atomic::AtomicBool,
}

impl GatedLog {
    fn new() -> Self {
        Self {
            log: MemoryLog::new(),
            open: watch::Sender::new(true),
            reached: Notify::new(),
            audits_fail: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl EventLog for GatedLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(async move {
            if subject.stream() == StreamName::State {
                self.reached.notify_one();
                let mut open = self.open.subscribe();
                let _ = open.wait_for(|open| *open).await;
            }
            if subject.stream() == StreamName::Audit
                && self.audits_fail.load(std::sync::atomic::Ordering::SeqCst)
            {
                return Err(LogError::Unavailable("audits fail in this test".into()));
            }
            self.log.publish(subject, payload, options).await
        })
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<crate::log::Entry>, LogError>> {
        self.log.read(stream, filter, after, limit)
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        self.log.last_seq(stream)
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        self.log.tail(stream, after)
    }

    fn health(&self) -> BoxFuture<'_, LogHealth> {
        self.log.health()
    }
}

fn actor() -> Actor {
    Actor {
        who: "td:test".into(),
        request_id: None,
    }
}

fn level(n: u64) -> NewEvent {
    NewEvent::new("level".parse().unwrap(), serde_json::json!({"level": n}))
}

async fn venue() -> (Arc<GatedLog>, Store, Feed, TournamentWriter, TournamentId) {
    let log = Arc::new(GatedLog::new());
    let store = Store::open_in_memory().await.unwrap();
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store.clone(), ReadBudget::default())
        .await
        .unwrap();
    let writer = TournamentWriter::new(
        log.clone(),
        feed.clone(),
        store.clone(),
        Arc::new(SystemWorld),
    );
    let t = writer
        .create("Main Event".parse().unwrap(), &actor())
        .await
        .unwrap()
        .id;
    (log, store, feed, writer, t)
}

#[tokio::test]
async fn an_append_whose_caller_gives_up_is_still_stored_applied_and_audited() {
    let (log, _store, feed, writer, t) = venue().await;
    log.open.send_replace(false);
    let td = actor();
    // The caller (an HTTP request hitting its timeout, a TD closing the tab) gives up once
    // the publish is on its way.
    tokio::select! {
        _ = writer.append(t, level(1), &td) => panic!("the gate is shut; the append cannot have finished"),
        () = log.reached.notified() => {}
    }
    log.open.send_replace(true);

    let applied = async {
        while feed.head(t).map(|h| h.seq) != Some(Seq(1)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), applied)
        .await
        .expect("the append was cancelled with its caller: the feed never got the event");
    let audited = async {
        loop {
            let records = log
                .read(StreamName::Audit, Filter::Tournament(t), Seq::ZERO, 10)
                .await
                .unwrap();
            if records.len() == 2 {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let records = tokio::time::timeout(Duration::from_secs(5), audited)
        .await
        .expect("the event was stored without its audit record");
    let appended: AuditRecord = serde_json::from_slice(&records[1].payload).unwrap();
    assert_eq!(
        (appended.action.as_str(), appended.seq),
        (APPENDED, Some(Seq(1)))
    );
}

#[tokio::test]
async fn an_append_whose_key_cannot_be_checked_is_refused_not_risked_twice() {
    let (_log, store, feed, writer, t) = venue().await;
    store.close().await;
    let keyed = level(1).with_key(Some("console-1:1".parse().unwrap()));
    let refused = writer.append(t, keyed, &actor()).await.unwrap_err();
    assert!(
        matches!(refused, TournamentError::KeysUnavailable(_)),
        "{refused:?}"
    );
    assert_eq!(
        feed.head(t).map(|h| h.seq),
        Some(Seq::ZERO),
        "nothing was appended"
    );
    // Without a key there is nothing to check: the append goes through.
    assert_eq!(
        writer.append(t, level(2), &actor()).await.unwrap().seq,
        Seq(1)
    );
}

/// Whether the feed sees every event's audit record within `patience`.
async fn every_event_audited(feed: &Feed, patience: Duration) -> bool {
    let healed = async {
        while !feed.unaudited().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(patience, healed).await.is_ok()
}

async fn audit_records(log: &GatedLog, t: TournamentId) -> Vec<AuditRecord> {
    log.read(StreamName::Audit, Filter::Tournament(t), Seq::ZERO, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(&e.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn an_audit_record_the_log_refused_is_written_once_the_log_takes_it_without_a_restart() {
    let (log, _store, feed, writer, t) = venue().await;
    log.audits_fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for n in 1..=2 {
        writer.append(t, level(n), &actor()).await.unwrap();
    }
    // The records' three attempts fail (50 + 100 ms apart); then the log takes them again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(audit_records(&log, t).await.len(), 1, "only the creation");
    log.audits_fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        every_event_audited(&feed, Duration::from_secs(20)).await,
        "the running writer writes the missing records itself"
    );
    let records = audit_records(&log, t).await;
    assert_eq!(records.len(), 3);
    assert!(records[1..].iter().all(|r| r.recovered));
    assert!(writer.finish(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn an_event_whose_audit_record_was_lost_gets_it_at_the_next_start() {
    let (log, store, feed, writer, t) = venue().await;
    log.audits_fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let td = Actor {
        who: "td:alice".into(),
        request_id: Some("req-7".into()),
    };
    for n in 1..=3 {
        assert_eq!(writer.append(t, level(n), &td).await.unwrap().seq, Seq(n));
    }
    assert!(writer.finish(Duration::from_secs(5)).await);
    assert_eq!(audit_records(&log, t).await.len(), 1, "only the creation");
    assert_eq!(feed.unaudited(), vec![(t, vec![Seq(1)..=Seq(3)])]);

    // The next start: a new feed replays the log, a new writer repairs before appending.
    log.audits_fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    feed.shutdown().await;
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store.clone(), ReadBudget::default())
        .await
        .unwrap();
    let writer = TournamentWriter::new(log.clone(), feed.clone(), store, Arc::new(SystemWorld));
    assert_eq!(writer.repair_audits(Duration::ZERO).await, 3);
    let records = audit_records(&log, t).await;
    assert_eq!(records.len(), 4);
    for (n, record) in records[1..].iter().enumerate() {
        assert_eq!(
            (
                record.action.as_str(),
                record.seq,
                record.actor.as_str(),
                record.request_id.as_deref(),
                record.event_type.as_deref(),
                record.recovered
            ),
            (
                APPENDED,
                Some(Seq(n as u64 + 1)),
                "td:alice",
                Some("req-7"),
                Some("level"),
                true
            )
        );
    }
    // Applied, nothing is missing any more, and a second repair writes nothing.
    assert!(
        every_event_audited(&feed, Duration::from_secs(5)).await,
        "the feed applies the repaired records"
    );
    assert_eq!(writer.repair_audits(Duration::ZERO).await, 0);
    // A normal append is audited by its writer, not marked recovered.
    writer.append(t, level(4), &td).await.unwrap();
    assert!(writer.finish(Duration::from_secs(5)).await);
    let last = audit_records(&log, t).await.pop().unwrap();
    assert_eq!((last.seq, last.recovered), (Some(Seq(4)), false));
}

/// Gaps in the middle of a history, several in one tournament, and a tournament leaf never
/// created: the runs are repaired, each once, and the foreign one is left alone.
#[tokio::test]
async fn gaps_anywhere_in_a_history_are_repaired_once() {
    let (log, store, feed, writer, t) = venue().await;
    let td = actor();
    let fail = |on: bool| {
        log.audits_fail
            .store(on, std::sync::atomic::Ordering::SeqCst)
    };
    for n in 1..=9u64 {
        fail(matches!(n, 4 | 5 | 8));
        writer.append(t, level(n), &td).await.unwrap();
        assert!(writer.finish(Duration::from_secs(5)).await);
    }
    fail(false);
    // Another writer's events in a tournament leaf never created.
    let foreign = TournamentId::new_random();
    log.publish(
        Subject::State(foreign, "x".parse().unwrap()),
        Bytes::from_static(b"{}"),
        PublishOptions::default(),
    )
    .await
    .unwrap();
    let applied = async {
        while feed.unaudited().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), applied)
        .await
        .unwrap();
    assert_eq!(
        feed.unaudited()
            .into_iter()
            .find(|(u, _)| *u == t)
            .unwrap()
            .1,
        vec![Seq(4)..=Seq(5), Seq(8)..=Seq(8)]
    );

    assert_eq!(writer.repair_audits(Duration::ZERO).await, 3);
    let mut seqs: Vec<u64> = audit_records(&log, t)
        .await
        .iter()
        .filter_map(|r| r.seq.map(|s| s.0))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    assert!(audit_records(&log, foreign).await.is_empty());
    drop(store);
}
