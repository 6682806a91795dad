//! The feed: from the log to the screens.
//!
//! One tail on STATE and one on AUDIT apply every message, in log order, to the in-memory
//! `view` and broadcast each event to its tournament's clients, keeping the newest ones in
//! the `recent` resume cache. The hub is fed from the log, never from an HTTP handler, so an
//! event written by anything else reaches the displays the same way. The `projector` writes
//! the same changes into LibSQL, off the broadcast path. `Feed::start` replays the whole log
//! before returning: leaf serves only once heads and snapshots are as new as what was
//! acknowledged.
//!
//! Lock order: the feed's lock, then the hub's. Registering a client under the feed's lock
//! makes "snapshot at head, then every event after head" exact.

mod projector;
mod recent;
mod view;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::recent::ResumeCache;
pub use self::recent::{RECENT_BYTES, RECENT_MESSAGES, RECENT_TOURNAMENTS};
use self::view::View;
pub use self::view::{Head, Latest};
use crate::event::{Event, Seq, TournamentId, TournamentSummary};
use crate::hub::{Hub, HubError, Scope, Session, protocol};
use crate::log::{Entry, EntryStream, EventLog, Filter, LogError, StreamName};
use crate::store::{Cursor, ProjectionUpdate, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the projection in leaf.db: {0}")]
    Store(#[from] StoreError),
}

/// The last stream sequence the log holds.
async fn last_seq(log: &dyn EventLog, stream: StreamName) -> Result<Seq, LogError> {
    // Read pages from the start: cheap for a venue's log, and it needs no extra log API.
    let mut last = Seq::ZERO;
    loop {
        let page = log.read(stream, Filter::All, last, PAGE).await?;
        match page.last() {
            Some(entry) => last = entry.stream_seq,
            None => return Ok(last),
        }
    }
}

/// How far `cursor` has applied `stream`.
fn applied_through(cursor: Cursor, stream: StreamName) -> Seq {
    match stream {
        StreamName::State => cursor.state,
        StreamName::Audit => cursor.audit,
    }
}

/// Messages read per request while catching up.
const PAGE: usize = 1000;
/// The longest a broken tail waits between attempts to reopen. Retrying against a local log
/// is cheap, and every second without a tail is a second of frozen displays.
const MAX_REOPEN_DELAY: Duration = Duration::from_secs(1);
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
    /// Changes for LibSQL, and how far LibSQL already is (changes at or before it are not
    /// sent again). `None` once the feed is shut down.
    projection: Mutex<Option<mpsc::UnboundedSender<ProjectionUpdate>>>,
    projected: Cursor,
    projector: Mutex<Option<JoinHandle<()>>>,
    // A std mutex: applying a message and registering a client are map work, never an await.
    memory: Mutex<Memory>,
    /// The positions applied so far, for callers waiting on their own appends.
    applied: watch::Sender<Cursor>,
    stop: CancellationToken,
    /// Someone just heard from the log (an append was acknowledged): a tail waiting out its
    /// back-off should try again now rather than leave displays stale for seconds.
    /// Counts those moments; each tail that waits to reopen watches it.
    log_answered: watch::Sender<u64>,
}

/// What the feed holds in memory, under one lock.
#[derive(Default)]
struct Memory {
    view: View,
    recent: ResumeCache,
}

impl Feed {
    /// Replays the log into memory (and into LibSQL from where its projection stopped), then
    /// follows it live until [`Feed::shutdown`].
    pub async fn start(log: Arc<dyn EventLog>, hub: Hub, store: Store) -> Result<Self, FeedError> {
        let mut projected = store.projection_cursor().await?;
        let (log_state, log_audit) = (
            last_seq(&*log, StreamName::State).await?,
            last_seq(&*log, StreamName::Audit).await?,
        );
        if projected.state > log_state || projected.audit > log_audit {
            // The projection describes a log this server does not hold (the JetStream store
            // was replaced or lost): it would claim seqs the log does not have. Rebuild it.
            tracing::warn!(?projected, %log_state, %log_audit, "leaf.db is ahead of the event log; rebuilding the projection from the log");
            store.reset_projection().await?;
            projected = Cursor::default();
        }
        let (projection, projector) = projector::spawn(store);
        let feed = Self {
            inner: Arc::new(Inner {
                log,
                hub,
                projection: Mutex::new(Some(projection)),
                projected,
                projector: Mutex::new(Some(projector)),
                memory: Mutex::new(Memory::default()),
                applied: watch::Sender::new(Cursor::default()),
                stop: CancellationToken::new(),
                log_answered: watch::Sender::new(0),
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

    /// Stops following the log and waits until LibSQL has everything applied so far.
    /// Safe to call more than once.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner
            .projection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let task = self
            .inner
            .projector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.inner.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn position(&self, stream: StreamName) -> Seq {
        applied_through(self.lock().view.applied(), stream)
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

    async fn follow(self, stream: StreamName, mut tail: EntryStream) {
        loop {
            let next = tokio::select! {
                // Fixed order, not tokio's random one, so a simulated run replays from its
                // seed; stopping wins.
                biased;
                () = self.inner.stop.cancelled() => return,
                next = tail.next() => next,
            };
            match next {
                Some(Ok(entry)) => {
                    self.apply(stream, &entry);
                    continue;
                }
                Some(Err(e)) => {
                    tracing::warn!(stream = %stream, error = %e, "the log tail failed; reopening it")
                }
                None => tracing::error!(stream = %stream, "the log tail ended; reopening it"),
            }
            match self.reopen(stream).await {
                Some(fresh) => tail = fresh,
                None => return,
            }
        }
    }

    /// Opens a new tail from where the feed is, retrying with back-off until it works or the
    /// feed stops. Without a tail, displays freeze and appends cannot learn their heads.
    async fn reopen(&self, stream: StreamName) -> Option<EntryStream> {
        let mut delay = Duration::from_millis(100);
        // Both tails (STATE and AUDIT) may be waiting: each has its own view of the nudges.
        let mut answered = self.inner.log_answered.subscribe();
        loop {
            tokio::select! {
                biased;
                () = self.inner.stop.cancelled() => return None,
                _ = answered.changed() => {}
                () = tokio::time::sleep(delay) => {}
            }
            match self.inner.log.tail(stream, self.position(stream)).await {
                Ok(tail) => return Some(tail),
                Err(e) => {
                    tracing::error!(stream = %stream, error = %e, retry_in = ?delay, "cannot reopen the log tail");
                    delay = (delay * 2).min(MAX_REOPEN_DELAY);
                }
            }
        }
    }

    fn apply(&self, stream: StreamName, entry: &Entry) {
        let mut memory = self.lock();
        let update = match stream {
            StreamName::Audit => {
                memory
                    .view
                    .apply_audit(entry)
                    .map(|created| ProjectionUpdate::Created {
                        tournament: created.tournament,
                        name: created.name,
                        created_at: created.created_at,
                        audit_seq: entry.stream_seq,
                    })
            }
            StreamName::State => memory.view.apply_state(entry).map(|applied| {
                let (tournament, event) = (applied.tournament, applied.event);
                let text = protocol::event(tournament, &event);
                memory.recent.remember(tournament, event.seq, text.clone());
                self.inner
                    .hub
                    .broadcast_raw(Scope::Tournament(tournament), text);
                ProjectionUpdate::Event {
                    tournament,
                    seq: event.seq,
                    stream_seq: entry.stream_seq,
                    kind: event.kind,
                    ts: event.ts,
                    data: event.data.to_string(),
                    idempotency_key: applied.idempotency_key,
                }
            }),
        };
        let applied = memory.view.applied();
        drop(memory);
        self.inner.applied.send_replace(applied);
        let already = applied_through(self.inner.projected, stream);
        let Some(update) = update.filter(|_| entry.stream_seq > already) else {
            return;
        };
        let projection = self
            .inner
            .projection
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(projection) = projection.as_ref() {
            let _ = projection.send(update);
        }
    }

    /// Waits until the feed has applied `stream` up to `seq`; `false` if [`APPLY_TIMEOUT`]
    /// passed first. The caller has just heard from the log, so the log is up: a broken tail
    /// reopens at once.
    pub async fn wait_applied(&self, stream: StreamName, seq: Seq) -> bool {
        // Seen by every waiting tail; one that is between two attempts sees it at its next wait.
        self.inner
            .log_answered
            .send_modify(|n| *n = n.wrapping_add(1));
        let mut applied = self.inner.applied.subscribe();
        let reached = applied.wait_for(|applied| applied_through(*applied, stream) >= seq);
        matches!(
            tokio::time::timeout(APPLY_TIMEOUT, reached).await,
            Ok(Ok(_))
        )
    }

    /// A created tournament; `None` for one that was never created.
    pub fn summary(&self, id: TournamentId) -> Option<TournamentSummary> {
        self.lock().view.summary(id)
    }

    /// Every created tournament, oldest first.
    pub fn list(&self) -> Vec<TournamentSummary> {
        self.lock().view.list()
    }

    /// Where a tournament's log ends now; `None` if it was never created.
    pub fn head(&self, id: TournamentId) -> Option<Head> {
        Some(self.lock().view.created(id)?.head())
    }

    /// The seq of the event stored at `stream_seq` in tournament `id`.
    pub fn seq_at(&self, id: TournamentId, stream_seq: Seq) -> Option<Seq> {
        self.lock().view.tournament(id)?.seq_at(stream_seq)
    }

    /// The messages of a tournament's events `after + 1 ..= until`, from memory, if it still
    /// holds all of them (see [`RECENT_MESSAGES`]).
    pub fn recent_messages(
        &self,
        id: TournamentId,
        after: Seq,
        until: Seq,
    ) -> Option<Vec<Utf8Bytes>> {
        self.lock().recent.between(id, after, until)
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
            .view
            .tournament(id)
            .and_then(|t| t.position_of(since))
        else {
            return Ok(Vec::new());
        };
        let entries = self
            .inner
            .log
            .read(StreamName::State, Filter::Tournament(id), after, limit)
            .await?;
        Ok(view::events_after(since, &entries))
    }

    /// Registers a client. For a tournament scope it also returns the head and the snapshot
    /// at that head; every later event of that tournament goes into the client's queue.
    pub fn subscribe(
        &self,
        scope: Scope,
    ) -> Result<(Session, Option<(Head, serde_json::Value)>), HubError> {
        let memory = self.lock();
        let at = match scope {
            Scope::Tournament(t) => Some(
                memory
                    .view
                    .tournament(t)
                    .map(|t| (t.head(), t.snapshot()))
                    .unwrap_or_default(),
            ),
            Scope::All | Scope::Lobby => None,
        };
        let session = self.inner.hub.register(scope)?;
        drop(memory);
        Ok((session, at))
    }
}

#[cfg(test)]
mod tests;
