//! Resumes over the memory log: from memory, from the log a page at a time, and refused
//! past the read budget.

use std::sync::Arc;

use futures_util::StreamExt;

use super::*;
use crate::hub::{ClientConfig, Hub};
use crate::log::{EventLog, MemoryLog, PAGE_BYTES, PublishOptions, Subject};
use crate::store::Store;

async fn feed_with(budget: ReadBudget) -> (Arc<MemoryLog>, Feed) {
    let log = Arc::new(MemoryLog::new());
    let store = Store::open_in_memory().await.unwrap();
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store, budget).await.unwrap();
    (log, feed)
}

/// A tournament with `n` events of about `size` bytes each, written straight to the log.
async fn tournament(log: &MemoryLog, feed: &Feed, n: usize, size: usize) -> TournamentId {
    let t = TournamentId::new_random();
    let created =
        serde_json::json!({"action": "created", "actor": "td:test", "ts": "", "name": "big"});
    log.publish(
        Subject::Audit(t),
        created.to_string().into(),
        PublishOptions::default(),
    )
    .await
    .unwrap();
    let mut last = Seq::ZERO;
    for seq in 1..=n {
        let record = serde_json::json!({"seq": seq, "ts": "", "type": "note", "data": {"text": "x".repeat(size)}});
        last = log
            .publish(
                Subject::State(t, "note".parse().unwrap()),
                record.to_string().into(),
                PublishOptions::default(),
            )
            .await
            .unwrap()
            .seq;
    }
    assert!(feed.wait_applied(StreamName::State, last).await);
    t
}

fn seq_of(text: &Utf8Bytes) -> u64 {
    let message: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
    message["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn a_long_replay_is_read_a_page_at_a_time_as_it_is_taken() {
    let (log, feed) = feed_with(ReadBudget::default()).await;
    // 300 events of 48 KB: 14 MB, far more than the resume cache keeps.
    let t = tournament(&log, &feed, 300, 48_000).await;
    let mut session = feed
        .watch(
            Scope::Tournament(t),
            Some(Seq::ZERO),
            Reader::new("viewer:a"),
        )
        .await
        .unwrap();
    assert_eq!(session.preamble.len(), 1, "only `connected` is held whole");
    let mut replay = session.replay.take().expect("a replay from the log");
    let mut seqs = Vec::new();
    while let Some(text) = replay.next().await {
        seqs.push(seq_of(&text.unwrap()));
    }
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "every event once, in order"
    );
}

#[tokio::test]
async fn a_page_holds_at_most_a_page_of_bytes() {
    let (log, feed) = feed_with(ReadBudget::default()).await;
    let t = tournament(&log, &feed, 60, 48_000).await;
    let entries = feed.state_entries(t, Seq::ZERO, REPLAY_PAGE).await.unwrap();
    let bytes: usize = entries.iter().map(|e| e.payload.len()).sum();
    assert!(entries.len() < 60);
    assert!(bytes <= PAGE_BYTES + 49_000, "{bytes} bytes in one page");
}

#[tokio::test]
async fn a_reader_past_its_share_is_refused_before_anything_is_read() {
    let (log, feed) = feed_with(ReadBudget::new(8, 1)).await;
    let t = tournament(&log, &feed, 300, 48_000).await;
    let viewer = Reader::new("viewer:a");
    let first = feed
        .watch(Scope::Tournament(t), Some(Seq::ZERO), viewer.clone())
        .await
        .unwrap();
    // The first socket's replay is between pages: the place is free again.
    let held = feed.budget().try_acquire(&viewer).unwrap();
    let refused = feed
        .watch(Scope::Tournament(t), Some(Seq::ZERO), viewer.clone())
        .await;
    assert!(matches!(refused, Err(WatchError::Busy(_))), "{refused:?}");
    let other = feed
        .watch(
            Scope::Tournament(t),
            Some(Seq::ZERO),
            Reader::new("viewer:b"),
        )
        .await;
    assert!(other.is_ok(), "another reader has its own share");
    drop((held, first));
}

#[tokio::test]
async fn a_client_a_few_events_behind_is_served_from_memory() {
    let (log, feed) = feed_with(ReadBudget::new(1, 1)).await;
    let t = tournament(&log, &feed, 20, 100).await;
    // The whole budget is taken: a resume from memory does not need it.
    let _held = feed.budget().try_acquire(&Reader::new("someone")).unwrap();
    let session = feed
        .watch(Scope::Tournament(t), Some(Seq(15)), Reader::new("viewer:a"))
        .await
        .unwrap();
    assert!(session.replay.is_none());
    let seqs: Vec<u64> = session.preamble[1..].iter().map(seq_of).collect();
    assert_eq!(seqs, vec![16, 17, 18, 19, 20]);
}

#[tokio::test]
async fn a_client_too_far_behind_gets_the_snapshot() {
    let (log, feed) = feed_with(ReadBudget::default()).await;
    let t = tournament(&log, &feed, (MAX_REPLAY + 5) as usize, 10).await;
    let session = feed
        .watch(Scope::Tournament(t), Some(Seq(1)), Reader::new("viewer:a"))
        .await
        .unwrap();
    assert!(session.replay.is_none());
    let last: serde_json::Value = serde_json::from_str(session.preamble[1].as_str()).unwrap();
    assert_eq!(last["type"], "snapshot");
}
