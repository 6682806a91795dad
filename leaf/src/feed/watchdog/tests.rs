//! The feed heals a tail that went quiet: the memory log, except that its first tails stop
//! delivering after a few messages without failing, as a consumer the server dropped does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use crate::event::{Seq, TournamentId};
use crate::feed::{Feed, ReadBudget};
use crate::hub::{ClientConfig, Hub};
use crate::log::{
    Ack, Entry, EntryStream, EventLog, Filter, LogError, LogHealth, MemoryLog, PublishOptions,
    StreamName, Subject,
};
use crate::store::Store;
use crate::writer::{Actor, NewEvent, TournamentWriter};

/// The memory log whose STATE tails opened while `quiet_tails` is above zero deliver
/// `deliver` messages and then nothing, ever.
struct QuietLog {
    log: MemoryLog,
    quiet_tails: AtomicUsize,
    deliver: usize,
    /// Messages past the end that the log's bookkeeping counts but nobody can read (deleted
    /// ones, or subjects no tail of leaf's follows).
    phantoms: u64,
}

impl EventLog for QuietLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        self.log.publish(subject, payload, options)
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>> {
        self.log.read(stream, filter, after, limit)
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        Box::pin(async move {
            let end = self.log.last_seq(stream).await?;
            Ok(Seq(end.0 + self.phantoms))
        })
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        Box::pin(async move {
            let tail = self.log.tail(stream, after).await?;
            let quiet = stream == StreamName::State
                && self
                    .quiet_tails
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if !quiet {
                return Ok(tail);
            }
            Ok(tail
                .take(self.deliver)
                .chain(futures_util::stream::pending())
                .boxed())
        })
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

async fn venue(deliver: usize) -> (Arc<QuietLog>, Feed, TournamentWriter, TournamentId) {
    venue_with(deliver, 1, 0).await
}

async fn venue_with(
    deliver: usize,
    quiet_tails: usize,
    phantoms: u64,
) -> (Arc<QuietLog>, Feed, TournamentWriter, TournamentId) {
    let log = Arc::new(QuietLog {
        log: MemoryLog::new(),
        quiet_tails: AtomicUsize::new(quiet_tails),
        deliver,
        phantoms,
    });
    let store = Store::open_in_memory().await.unwrap();
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store.clone(), ReadBudget::default())
        .await
        .unwrap();
    let writer = TournamentWriter::new(
        log.clone(),
        feed.clone(),
        store,
        Arc::new(crate::world::SystemWorld),
    );
    let t = writer
        .create("Main".parse().unwrap(), &actor())
        .await
        .unwrap()
        .id;
    (log, feed, writer, t)
}

#[tokio::test]
async fn an_acknowledged_append_the_tail_never_delivers_is_applied_all_the_same() {
    // The tail delivers two events and goes quiet.
    let (_log, feed, writer, t) = venue(2).await;
    for n in 1..=5 {
        let appended = writer.append(t, level(n), &actor()).await;
        match appended {
            Ok(a) => assert_eq!(a.seq, Seq(n)),
            Err(e) => panic!("append {n}: {e}; never an error for the feed's own lag"),
        }
        assert_eq!(feed.head(t).unwrap().seq, Seq(n), "the feed applied {n}");
    }
    feed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_finds_events_of_another_writer_that_the_tail_missed() {
    let (log, feed, writer, t) = venue(0).await;
    // Appended behind leaf's back: nothing waits for the feed to apply it.
    log.publish(
        Subject::State(t, "level".parse().unwrap()),
        Bytes::from_static(br#"{"seq":1,"ts":"","type":"level","data":{}}"#),
        PublishOptions::default(),
    )
    .await
    .unwrap();
    let mut lagging_seen = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let health = feed.health();
        lagging_seen |= !health.ok && health.behind.state == 1;
        if feed.head(t).unwrap().seq == Seq(1) {
            break;
        }
    }
    assert_eq!(feed.head(t).unwrap().seq, Seq(1), "the feed caught up");
    assert!(lagging_seen, "health said the feed was one event behind");
    tokio::time::sleep(super::CHECK_EVERY * 2).await;
    assert!(feed.health().ok, "and is ok again once it caught up");
    let next = writer.append(t, level(2), &actor()).await.unwrap();
    assert_eq!(next.seq, Seq(2));
    feed.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_end_no_tail_can_reach_is_not_lag() {
    // The stream's end counts a message nobody can read: the feed is not behind.
    let (_log, feed, writer, t) = venue_with(usize::MAX, 0, 1).await;
    writer.append(t, level(1), &actor()).await.unwrap();
    for _ in 0..5 {
        tokio::time::sleep(super::CHECK_EVERY).await;
        let health = feed.health();
        assert!(health.ok, "{health:?}");
    }
    feed.shutdown().await;
}
