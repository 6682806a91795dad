//! The feed: from the log to the screens.
//!
//! One tail on STATE and one on AUDIT apply every message, in log order, to the in-memory
//! projection ([`state`]) and broadcast each event to its tournament's clients. The hub is fed
//! from the log, never from an HTTP handler, so an event written by anything else reaches the
//! displays the same way. `Feed::start` replays the whole log before returning: leaf serves
//! only once heads and snapshots are as new as what was acknowledged.
//!
//! Lock order: the feed's lock, then the hub's. Registering a client under the feed's lock
//! makes "snapshot at head, then every event after head" exact.

pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::state::{Event, FeedState, Head, TournamentInfo};
use crate::event::{Seq, TournamentId};
use crate::hub::{Hub, HubError, Scope, Session};
use crate::log::{EventLog, Filter, LogError, StreamName};

/// Messages read per request while catching up.
const PAGE: usize = 1000;
/// How long a caller waits for the feed to apply what it just appended.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A cheap handle; clones share one feed.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn EventLog>,
    hub: Hub,
    // A std mutex: applying a message and registering a client are map work, never an await.
    state: Mutex<FeedState>,
    /// (STATE, AUDIT) positions applied so far, for callers waiting on their own appends.
    applied: watch::Sender<(Seq, Seq)>,
    stop: CancellationToken,
}

/// The `event` message of the WebSocket protocol.
#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tournament_id: TournamentId,
    seq: u64,
    ts: &'a str,
    event: EventBody<'a>,
}

#[derive(Serialize)]
struct EventBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    data: &'a serde_json::Value,
}

impl Feed {
    /// Replays the log into memory, then follows it live until [`Feed::stop`].
    pub async fn start(log: Arc<dyn EventLog>, hub: Hub) -> Result<Self, LogError> {
        let feed = Self {
            inner: Arc::new(Inner {
                log,
                hub,
                state: Mutex::new(FeedState::default()),
                applied: watch::Sender::new((Seq(0), Seq(0))),
                stop: CancellationToken::new(),
            }),
        };
        for stream in [StreamName::Audit, StreamName::State] {
            feed.catch_up(stream).await?;
        }
        for stream in [StreamName::Audit, StreamName::State] {
            let position = feed.position(stream);
            let tail = feed.inner.log.tail(stream, position).await?;
            tokio::spawn(feed.clone().follow(stream, tail));
        }
        Ok(feed)
    }

    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn position(&self, stream: StreamName) -> Seq {
        let state = self.lock();
        match stream {
            StreamName::State => state.state_pos,
            StreamName::Audit => state.audit_pos,
        }
    }

    async fn catch_up(&self, stream: StreamName) -> Result<(), LogError> {
        loop {
            let after = self.position(stream);
            let page = self
                .inner
                .log
                .read(stream, Filter::All, after, PAGE)
                .await?;
            if page.is_empty() {
                return Ok(());
            }
            for entry in &page {
                self.apply(stream, entry);
            }
        }
    }

    async fn follow(self, stream: StreamName, mut tail: crate::log::EntryStream) {
        loop {
            let next = tokio::select! {
                next = tail.next() => next,
                () = self.inner.stop.cancelled() => return,
            };
            match next {
                Some(Ok(entry)) => self.apply(stream, &entry),
                Some(Err(e)) => {
                    tracing::warn!(stream = %stream, error = %e, "the log tail failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match self.inner.log.tail(stream, self.position(stream)).await {
                        Ok(fresh) => tail = fresh,
                        Err(e) => {
                            tracing::warn!(stream = %stream, error = %e, "cannot reopen the log tail")
                        }
                    }
                }
                None => return,
            }
        }
    }

    fn apply(&self, stream: StreamName, entry: &crate::log::Entry) {
        let mut state = self.lock();
        match stream {
            StreamName::Audit => state.apply_audit(entry),
            StreamName::State => {
                if let Some((tournament, event)) = state.apply_state(entry) {
                    self.inner
                        .hub
                        .broadcast_raw(Scope::Tournament(tournament), message(tournament, &event));
                }
            }
        }
        let positions = (state.state_pos, state.audit_pos);
        drop(state);
        self.inner.applied.send_replace(positions);
    }

    /// Waits until the feed has applied `stream` up to `seq` (or the timeout passes).
    pub async fn applied(&self, stream: StreamName, seq: Seq) -> bool {
        let mut applied = self.inner.applied.subscribe();
        let reached = applied.wait_for(|(state, audit)| match stream {
            StreamName::State => *state >= seq,
            StreamName::Audit => *audit >= seq,
        });
        matches!(
            tokio::time::timeout(APPLY_TIMEOUT, reached).await,
            Ok(Ok(_))
        )
    }

    pub fn info(&self, id: TournamentId) -> Option<TournamentInfo> {
        self.lock().info(id)
    }

    pub fn list(&self) -> Vec<TournamentInfo> {
        self.lock().list()
    }

    /// Where a tournament's log ends now; `None` if it was never created.
    pub fn head(&self, id: TournamentId) -> Option<Head> {
        let state = self.lock();
        let t = state.tournaments.get(&id)?;
        t.name.as_ref()?;
        Some(t.head())
    }

    /// The seq of the event stored at `stream_seq` in tournament `id`.
    pub fn seq_at(&self, id: TournamentId, stream_seq: Seq) -> Option<Seq> {
        self.lock().tournaments.get(&id)?.seq_at(stream_seq)
    }

    /// Events `since + 1 ..` of a tournament, at most `limit`, from the log.
    pub async fn events(
        &self,
        id: TournamentId,
        since: Seq,
        limit: usize,
    ) -> Result<Vec<Event>, LogError> {
        let Some(after) = self
            .lock()
            .tournaments
            .get(&id)
            .and_then(|t| t.position_of(since))
        else {
            return Ok(Vec::new());
        };
        let entries = self
            .inner
            .log
            .read(StreamName::State, Filter::Tournament(id), after, limit)
            .await?;
        let mut scratch = FeedState::default();
        // Seqs come from positions, not from payloads: the log's order is the truth.
        if let Some(t) = self.lock().tournaments.get(&id) {
            scratch.tournaments.entry(id).or_default().positions =
                t.positions[..since.0 as usize].to_vec();
        }
        Ok(entries
            .iter()
            .filter_map(|entry| scratch.apply_state(entry).map(|(_, event)| event))
            .collect())
    }

    /// Registers a client. For a tournament scope it also returns the head and the snapshot
    /// at that head; every later event of that tournament goes into the client's queue.
    pub fn subscribe(
        &self,
        scope: Scope,
    ) -> Result<(Session, Option<(Head, serde_json::Value)>), HubError> {
        let state = self.lock();
        let at = match scope {
            Scope::Tournament(t) => Some(
                state
                    .tournaments
                    .get(&t)
                    .map(|t| (t.head(), t.snapshot()))
                    .unwrap_or_default(),
            ),
            Scope::All | Scope::Lobby => None,
        };
        let session = self.inner.hub.register(scope)?;
        drop(state);
        Ok((session, at))
    }

    /// The `event` message for one event, serialised once for every client.
    pub fn message(tournament: TournamentId, event: &Event) -> Utf8Bytes {
        message(tournament, event)
    }
}

fn message(tournament: TournamentId, event: &Event) -> Utf8Bytes {
    let message = EventMessage {
        kind: "event",
        tournament_id: tournament,
        seq: event.seq,
        ts: &event.ts,
        event: EventBody {
            kind: &event.kind,
            data: &event.data,
        },
    };
    Utf8Bytes::from(serde_json::to_string(&message).unwrap_or_default())
}
