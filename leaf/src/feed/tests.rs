//! The feed over the memory log and an in-memory LibSQL.

use super::*;
use crate::hub::{ClientConfig, protocol};
use crate::log::{MemoryLog, PublishOptions, Subject};
use crate::store::ProjectionUpdate;
use crate::writer::{Actor, NewEvent, TournamentWriter};

fn event(kind: &str, data: serde_json::Value) -> NewEvent {
    NewEvent::new(kind.parse().unwrap(), data)
}

fn actor() -> Actor {
    Actor {
        who: "td:test".into(),
        request_id: None,
    }
}

async fn venue() -> (Arc<MemoryLog>, Store, TournamentWriter, Feed) {
    let log = Arc::new(MemoryLog::new());
    let store = Store::open_in_memory().await.unwrap();
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store.clone(), ReadBudget::default())
        .await
        .unwrap();
    (
        log.clone(),
        store.clone(),
        TournamentWriter::new(
            log,
            feed.clone(),
            store,
            Arc::new(crate::world::SystemWorld),
        ),
        feed,
    )
}

async fn created(tournaments: &TournamentWriter) -> TournamentId {
    tournaments
        .create("Main Event".parse().unwrap(), &actor())
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn the_projection_in_libsql_follows_the_log() {
    let (_log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    for n in 1..=3 {
        tournaments
            .append(t, event("level", serde_json::json!({"level": n})), &actor())
            .await
            .unwrap();
    }
    feed.shutdown().await;
    let row = store.tournament_row(t).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.last_seq), ("Main Event", Seq(3)));
    let cursor = store.projection_cursor().await.unwrap();
    assert_eq!(cursor.state, Seq(3));
}

#[tokio::test]
async fn a_restart_applies_only_what_libsql_lacks_and_a_projection_ahead_of_the_log_is_rebuilt() {
    let (log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    tournaments
        .append(t, event("level", serde_json::json!({})), &actor())
        .await
        .unwrap();
    feed.shutdown().await;

    // A projection that claims more than the log holds (the log was replaced): rebuilt.
    store
        .apply_projection(vec![ProjectionUpdate::Event {
            tournament: t,
            seq: Seq(99),
            stream_seq: Seq(500),
            kind: "level".into(),
            ts: String::new(),
            data: "{}".into(),
            idempotency_key: Some("k".into()),
        }])
        .await
        .unwrap();
    let hub = Hub::new("test".into(), ClientConfig::default());
    let feed = Feed::start(log.clone(), hub, store.clone(), ReadBudget::default())
        .await
        .unwrap();
    feed.shutdown().await;
    let row = store.tournament_row(t).await.unwrap().unwrap();
    assert_eq!(
        row.last_seq,
        Seq(1),
        "the projection still claims a seq the log does not hold"
    );
    assert_eq!(store.projection_cursor().await.unwrap().state, Seq(1));
}

#[tokio::test]
async fn an_event_from_another_writer_reaches_subscribers_like_any_other() {
    let (log, _store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    let (mut session, at) = feed.subscribe(Scope::Tournament(t)).unwrap();
    assert_eq!(at.unwrap().0.seq, Seq(0));
    log.publish(
        Subject::State(t, "clock".parse().unwrap()),
        bytes::Bytes::from_static(br#"{"from":"elsewhere"}"#),
        PublishOptions::default(),
    )
    .await
    .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), session.queue.recv())
        .await
        .unwrap()
        .unwrap();
    let message: serde_json::Value = serde_json::from_str(message.as_str()).unwrap();
    assert_eq!(message["seq"], 1);
    assert_eq!(message["event"]["data"]["from"], "elsewhere");
}

#[tokio::test]
async fn idempotency_keys_come_back_from_the_log_into_the_projection() {
    let (_log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    let first = tournaments
        .append(
            t,
            event("break", serde_json::json!({})).with_key(Some("console-1:7".parse().unwrap())),
            &actor(),
        )
        .await
        .unwrap();
    feed.shutdown().await;
    assert_eq!(
        store.idempotent_answer(t, "console-1:7").await.unwrap(),
        Some((first.seq, first.ts.clone()))
    );
}

#[tokio::test]
async fn a_resume_from_memory_sends_exactly_what_the_log_would() {
    let (_log, _store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    for data in [
        serde_json::json!({"level": 1}),
        serde_json::json!({"player": "Zoë \"Ace\" Müller", "seat": 4}),
        serde_json::json!({}),
    ] {
        tournaments
            .append(t, event("note", data), &actor())
            .await
            .unwrap();
    }
    let from_memory = feed.recent_messages(t, Seq(0), Seq(3)).unwrap();
    let from_log: Vec<_> = feed
        .events(t, Seq(0), 3)
        .await
        .unwrap()
        .iter()
        .map(|e| protocol::event(t, e))
        .collect();
    assert_eq!(from_memory, from_log);
    assert_eq!(
        feed.recent_messages(t, Seq(1), Seq(3)).unwrap(),
        from_log[1..]
    );
    feed.shutdown().await;
}
