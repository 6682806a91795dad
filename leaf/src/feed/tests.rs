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

/// A feed over `log` and `store`, as a restart would make it.
async fn restarted(log: Arc<MemoryLog>, store: &Store) -> Feed {
    let hub = Hub::new("test".into(), ClientConfig::default());
    Feed::start(log, hub, store.clone(), ReadBudget::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restart_starts_from_the_checkpoint_and_reads_older_events_through_leaf_db() {
    let (log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    let total = POSITIONS_KEPT as u64 + 50;
    for n in 1..=total {
        tournaments
            .append(t, event("level", serde_json::json!({"level": n})), &actor())
            .await
            .unwrap();
    }
    assert!(tournaments.finish(Duration::from_secs(5)).await);
    let audits = log.last_seq(StreamName::Audit).await.unwrap();
    assert!(feed.wait_applied(StreamName::Audit, audits).await);
    feed.shutdown().await;
    // What the log holds of other writers since: applied after the checkpoint.
    log.publish(
        Subject::State(t, "clock".parse().unwrap()),
        bytes::Bytes::from_static(br#"{"from":"elsewhere"}"#),
        PublishOptions::default(),
    )
    .await
    .unwrap();

    let feed = restarted(log.clone(), &store).await;
    let head = feed.head(t).unwrap();
    assert_eq!(head.seq, Seq(total + 1));
    assert_eq!(feed.summary(t).unwrap().name, "Main Event");
    let (_, at) = feed.subscribe(Scope::Tournament(t)).unwrap();
    let snapshot = at.unwrap().1.to_json();
    assert_eq!(snapshot["level"]["data"]["level"], total);
    assert_eq!(snapshot["clock"]["data"]["from"], "elsewhere");
    assert_eq!(
        feed.unaudited(),
        [(t, vec![Seq(total + 1)..=Seq(total + 1)])],
        "audit marks come back with the checkpoint: only the other writer's event has none"
    );

    // Positions from before this start come from leaf.db.
    let events = feed.events(t, Seq(3), 2).await.unwrap();
    let seqs: Vec<_> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [Seq(4), Seq(5)]);
    assert_eq!(events[0].data["level"], 4);
    let position = store.event_position(t, Seq(4)).await.unwrap().unwrap();
    assert_eq!(feed.seq_at(t, position).await.unwrap(), Some(Seq(4)));

    // The next append continues the count.
    let next = tournaments_over(log.clone(), feed.clone(), store.clone())
        .append(t, event("level", serde_json::json!({})), &actor())
        .await
        .unwrap();
    assert_eq!(next.seq, Seq(total + 2));
    feed.shutdown().await;
    let row = store.tournament_row(t).await.unwrap().unwrap();
    assert_eq!(row.last_seq, Seq(total + 2));
}

fn tournaments_over(log: Arc<MemoryLog>, feed: Feed, store: Store) -> TournamentWriter {
    TournamentWriter::new(log, feed, store, Arc::new(crate::world::SystemWorld))
}

#[tokio::test]
async fn a_checkpoint_of_another_log_is_rebuilt_even_with_the_same_tournament_at_its_cursor() {
    let (_log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    for n in 1..=3 {
        tournaments
            .append(t, event("level", serde_json::json!({"n": n})), &actor())
            .await
            .unwrap();
    }
    assert!(tournaments.finish(Duration::from_secs(5)).await);
    feed.shutdown().await;
    let cursor = store.projection_cursor().await.unwrap();

    // Another log, as long, with the same tournament's events at the same positions but
    // other data: the checkpoint's head agrees on tournament and position, not on the event.
    let other = Arc::new(MemoryLog::new());
    for _ in 0..cursor.audit.0 {
        other
            .publish(
                Subject::Audit(t),
                bytes::Bytes::from_static(b"{}"),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
    for n in 1..=cursor.state.0 + 2 {
        other
            .publish(
                Subject::State(t, "level".parse().unwrap()),
                bytes::Bytes::from(format!(r#"{{"other":{n}}}"#)),
                PublishOptions::default(),
            )
            .await
            .unwrap();
    }
    let feed = restarted(other, &store).await;
    let head = feed.head(t);
    assert!(
        head.is_none(),
        "no creation record in the other log: {head:?}"
    );
    let (_, at) = feed.subscribe(Scope::Tournament(t)).unwrap();
    let snapshot = at.unwrap().1.to_json();
    assert_eq!(snapshot["level"]["data"]["other"], cursor.state.0 + 2);
    feed.shutdown().await;
    assert!(store.tournament_row(t).await.unwrap().is_none());
}

#[tokio::test]
async fn a_checkpoint_of_another_log_is_rebuilt_even_when_that_log_is_as_long() {
    let (_log, store, tournaments, feed) = venue().await;
    let t = created(&tournaments).await;
    for _ in 0..3 {
        tournaments
            .append(t, event("level", serde_json::json!({})), &actor())
            .await
            .unwrap();
    }
    feed.shutdown().await;

    // A new JetStream store, longer than the old one, with another tournament in it.
    let other = Arc::new(MemoryLog::new());
    let feed = restarted(other.clone(), &store).await;
    let writer = tournaments_over(other.clone(), feed.clone(), store.clone());
    let u = created(&writer).await;
    for _ in 0..5 {
        writer
            .append(u, event("level", serde_json::json!({})), &actor())
            .await
            .unwrap();
    }
    feed.shutdown().await;
    let feed = restarted(other, &store).await;
    assert!(feed.head(t).is_none(), "a tournament of the old log");
    assert_eq!(feed.head(u).unwrap().seq, Seq(5));
    feed.shutdown().await;
    assert!(store.tournament_row(t).await.unwrap().is_none());
    assert_eq!(
        store.tournament_row(u).await.unwrap().unwrap().last_seq,
        Seq(5)
    );
}
