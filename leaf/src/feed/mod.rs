//! The feed: from the log to the screens.
//!
//! One tail on STATE and one on AUDIT apply every message, in log order, to the in-memory
//! `view` and broadcast each event to its tournament's clients, keeping the newest ones in
//! the `recent` resume cache. The hub is fed from the log, never from an HTTP handler, so an
//! event written by anything else reaches the displays the same way. The `projector` writes
//! the same changes into LibSQL, off the broadcast path. `Feed::start` catches up with the
//! log before returning: leaf serves only once heads and snapshots are as new as what was
//! acknowledged. It starts from the checkpoint in leaf.db (the projection, with its cursor)
//! and replays only the log after it; without a usable checkpoint it rebuilds from the whole
//! log.
//!
//! Where a client starts (snapshot, or a replay from memory or the log) is `resume`; the
//! share of log reads clients may take is `budget`; the `watchdog` notices a feed that fell
//! behind the log and reopens its tails.
//!
//! Lock order: the feed's lock, then the hub's. Registering a client under the feed's lock
//! makes "snapshot at head, then every event after head" exact.

mod budget;
mod projector;
mod recent;
mod resume;
mod view;
mod watchdog;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::budget::{
    MAX_READS, MAX_READS_PER_READER, ReadBudget, ReadPermit, Reader, ReadsBusy,
};
use self::recent::ResumeCache;
pub use self::recent::{RECENT_BYTES, RECENT_MESSAGES, RECENT_TOURNAMENTS};
pub use self::resume::{MAX_REPLAY, WatchError};
use self::view::{AuditApplied, Lookup, View};
pub use self::view::{Head, Latest, POSITIONS_KEPT, Snapshot};
pub use self::watchdog::{FeedHealth, HEAL_AFTER, Lag};
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

/// How far `cursor` has applied `stream`.
fn applied_through(cursor: Cursor, stream: StreamName) -> Seq {
    match stream {
        StreamName::State => cursor.state,
        StreamName::Audit => cursor.audit,
    }
}

/// Messages read per request while catching up.
const PAGE: usize = 1000;
/// A catch-up longer than this many messages (a rebuild, or a start after a long outage) logs
/// its progress as it goes.
const LOG_PROGRESS_EVERY: u64 = 100_000;
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
    /// Where positions older than memory keeps are read from.
    store: Store,
    /// Changes for LibSQL, and how far LibSQL already is (changes at or before it are not
    /// sent again). `None` once the feed is shut down.
    projection: Mutex<Option<mpsc::UnboundedSender<ProjectionUpdate>>>,
    /// How many of those changes LibSQL has written.
    projected_progress: Arc<projector::Progress>,
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
    /// Counts requests to drop the tails and reopen them from where the feed is: something
    /// the log acknowledged has not arrived (see `watchdog`).
    reopen: watch::Sender<u64>,
    /// When the tails were last asked to reopen, so that many waiting appends ask once.
    reopened_at: Mutex<Option<tokio::time::Instant>>,
    /// How far behind the log the watchdog last found the feed.
    lag: watch::Sender<Lag>,
    /// Client reads of the log, overall and per reader.
    budget: ReadBudget,
    /// Live STATE messages delivered, for [`crate::planted::PlantedBug::FeedDropsOne`].
    #[cfg(feature = "planted-bugs")]
    delivered: std::sync::atomic::AtomicU64,
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
    pub async fn start(
        log: Arc<dyn EventLog>,
        hub: Hub,
        store: Store,
        budget: ReadBudget,
    ) -> Result<Self, FeedError> {
        let (log_state, log_audit) = (
            log.last_seq(StreamName::State).await?,
            log.last_seq(StreamName::Audit).await?,
        );
        let view = load_checkpoint(log.as_ref(), &store, log_state, log_audit).await?;
        let projected = view.applied();
        tracing::info!(
            checkpoint_state = %projected.state,
            checkpoint_audit = %projected.audit,
            %log_state,
            %log_audit,
            "starting the feed from leaf.db's checkpoint; replaying the log after it"
        );
        let projected_progress = Arc::new(projector::Progress::from(projected.state));
        let (projection, projector) = projector::spawn(store.clone(), projected_progress.clone());
        let feed = Self {
            inner: Arc::new(Inner {
                log,
                hub,
                store,
                projection: Mutex::new(Some(projection)),
                projected_progress,
                projected,
                projector: Mutex::new(Some(projector)),
                memory: Mutex::new(Memory {
                    view,
                    recent: ResumeCache::default(),
                }),
                applied: watch::Sender::new(projected),
                stop: CancellationToken::new(),
                log_answered: watch::Sender::new(0),
                reopen: watch::Sender::new(0),
                reopened_at: Mutex::new(None),
                lag: watch::Sender::new(Lag::default()),
                budget,
                #[cfg(feature = "planted-bugs")]
                delivered: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        for (stream, end) in [
            (StreamName::Audit, log_audit),
            (StreamName::State, log_state),
        ] {
            feed.catch_up(stream, end).await?;
        }
        // Both tails before either is followed: a start that fails at the second leaves no
        // task of the first behind (the central reader tries a venue again after a failure).
        let mut tails = Vec::new();
        for stream in [StreamName::Audit, StreamName::State] {
            let position = feed.position(stream);
            tails.push((stream, feed.inner.log.tail(stream, position).await?));
        }
        for (stream, tail) in tails {
            tokio::spawn(feed.clone().follow(stream, tail));
        }
        tokio::spawn(feed.clone().watch_the_log());
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
        applied_through(self.applied(), stream)
    }

    fn applied(&self) -> Cursor {
        self.lock().view.applied()
    }

    fn budget(&self) -> &ReadBudget {
        &self.inner.budget
    }

    /// Asks both tails to reopen from where the feed is; at most once per [`HEAL_AFTER`].
    fn reopen_tails(&self) {
        let now = tokio::time::Instant::now();
        let mut last = self
            .inner
            .reopened_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < HEAL_AFTER) {
            return;
        }
        *last = Some(now);
        self.inner.reopen.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies `stream` from where the feed is to its end (`end` when the start looked, or
    /// later).
    async fn catch_up(&self, stream: StreamName, end: Seq) -> Result<(), LogError> {
        let from = self.position(stream);
        let mut logged = from;
        loop {
            let after = self.position(stream);
            if after.since(logged) >= LOG_PROGRESS_EVERY {
                logged = after;
                tracing::info!(%stream, applied = %after, of = %end, "catching up with the log");
            }
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
        let mut reopen = self.inner.reopen.subscribe();
        loop {
            let next = tokio::select! {
                // Fixed order, not tokio's random one, so a simulated run replays from its
                // seed; stopping wins.
                biased;
                () = self.inner.stop.cancelled() => return,
                next = tail.next() => Some(next),
                _ = reopen.changed() => None,
            };
            match next {
                Some(Some(Ok(entry))) => {
                    #[cfg(feature = "planted-bugs")]
                    if self.drops_planted(stream, &entry) {
                        continue;
                    }
                    self.apply(stream, &entry);
                    continue;
                }
                Some(Some(Err(e))) => {
                    tracing::warn!(stream = %stream, error = %e, "the log tail failed; reopening it")
                }
                Some(None) => tracing::error!(stream = %stream, "the log tail ended; reopening it"),
                None => {
                    tracing::warn!(stream = %stream, position = %self.position(stream), "the log acknowledged what the tail has not delivered; reopening it")
                }
            }
            match self.reopen(stream).await {
                Some(fresh) => tail = fresh,
                None => return,
            }
            // A request made while this reopen ran is answered by it.
            reopen.borrow_and_update();
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

    /// [`crate::planted::PlantedBug::FeedDropsOne`]: whether to lose this live message.
    #[cfg(feature = "planted-bugs")]
    fn drops_planted(&self, stream: StreamName, _entry: &Entry) -> bool {
        use crate::planted::PlantedBug;
        stream == StreamName::State
            && self.inner.hub.planted_bugs().has(PlantedBug::FeedDropsOne)
            && self
                .inner
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                == 4
    }

    fn apply(&self, stream: StreamName, entry: &Entry) {
        let stored = self.inner.projected_progress.stored_state();
        let mut memory = self.lock();
        // The append time of an event queued for at least one client, for `/metrics` (read
        // once the lock is let go).
        let mut fanned_out = None;
        let update = match stream {
            StreamName::Audit => memory.view.apply_audit(entry).map(|applied| match applied {
                AuditApplied::Created {
                    tournament,
                    name,
                    created_at,
                } => ProjectionUpdate::Created {
                    tournament,
                    name,
                    created_at,
                    audit_seq: entry.stream_seq,
                },
                AuditApplied::Marked {
                    tournament,
                    through,
                    above,
                } => ProjectionUpdate::Audited {
                    tournament,
                    through,
                    above,
                    audit_seq: entry.stream_seq,
                },
            }),
            StreamName::State => memory.view.apply_state(entry, stored).map(|applied| {
                let (tournament, event) = (applied.tournament, applied.event);
                let text = protocol::event(tournament, &event);
                memory.recent.remember(tournament, event.seq, text.clone());
                let reached = self
                    .inner
                    .hub
                    .broadcast_raw(Scope::Tournament(tournament), text);
                if reached > 0 {
                    fanned_out = Some(event.ts.clone());
                }
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
        if let Some(ts) = fanned_out {
            self.inner.hub.queued_event_appended_at(&ts);
        }
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
        if let Some(projection) = projection.as_ref()
            && projection.send(update).is_ok()
        {
            self.inner.projected_progress.sent();
        }
    }

    /// Waits until the feed has applied `stream` up to `seq`; `false` if [`APPLY_TIMEOUT`]
    /// passed first. The caller has just heard from the log, so the log is up: a broken tail
    /// reopens at once, and a tail that has not delivered `seq` within [`HEAL_AFTER`] is
    /// reopened.
    pub async fn wait_applied(&self, stream: StreamName, seq: Seq) -> bool {
        // Seen by every waiting tail; one that is between two attempts sees it at its next wait.
        self.inner
            .log_answered
            .send_modify(|n| *n = n.wrapping_add(1));
        let mut applied = self.inner.applied.subscribe();
        let reached = |applied: &Cursor| applied_through(*applied, stream) >= seq;
        if matches!(
            tokio::time::timeout(HEAL_AFTER, applied.wait_for(reached)).await,
            Ok(Ok(_))
        ) {
            return true;
        }
        tracing::warn!(%stream, %seq, "an acknowledged message has not reached the feed; reopening its tails");
        self.reopen_tails();
        matches!(
            tokio::time::timeout(
                APPLY_TIMEOUT.saturating_sub(HEAL_AFTER),
                applied.wait_for(reached)
            )
            .await,
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

    /// The seq of the event stored at `stream_seq` in tournament `id`; `None` if it holds
    /// no such event.
    pub async fn seq_at(&self, id: TournamentId, stream_seq: Seq) -> Result<Option<Seq>, LogError> {
        let lookup = match self.lock().view.tournament(id) {
            Some(t) => t.seq_at(stream_seq),
            None => return Ok(None),
        };
        match lookup {
            Lookup::Found(seq) => Ok(Some(seq)),
            Lookup::Unknown => Ok(None),
            Lookup::Stored => match self
                .inner
                .store
                .event_seq_at(id, stream_seq)
                .await
                .map_err(older_positions)?
            {
                Some(seq) => Ok(Some(seq)),
                None => Err(missing_position(id, stream_seq)),
            },
        }
    }

    /// The messages of a tournament's events `after + 1 ..= until`, from memory, if it still
    /// holds all of them (see [`RECENT_MESSAGES`]).
    fn recent_messages(&self, id: TournamentId, after: Seq, until: Seq) -> Option<Vec<Utf8Bytes>> {
        self.lock().recent.between(id, after, until)
    }

    /// Events `since + 1 ..` of a tournament from the log: one page of at most `limit`
    /// (fewer if they are large; an empty page is the end). For leaf's own use; a client's
    /// read goes through [`Feed::read_events`].
    pub async fn events(
        &self,
        id: TournamentId,
        since: Seq,
        limit: usize,
    ) -> Result<Vec<Event>, LogError> {
        let entries = self.state_entries(id, since, limit).await?;
        Ok(view::events_after(since, &entries))
    }

    /// A tournament's STATE messages after event `since`, each with its seq, as stored: for
    /// the writer's audit repair, which needs what an event says of itself.
    pub async fn numbered_entries(
        &self,
        id: TournamentId,
        since: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, Entry)>, LogError> {
        let entries = self.state_entries(id, since, limit).await?;
        let mut seq = since;
        Ok(entries
            .into_iter()
            .filter(view::is_event)
            .map(|entry| {
                seq = seq.next();
                (seq, entry)
            })
            .collect())
    }

    /// Per tournament, the runs of applied events whose AUDIT record the log does not hold.
    pub fn unaudited(&self) -> Vec<(TournamentId, Vec<std::ops::RangeInclusive<Seq>>)> {
        self.lock().view.unaudited()
    }

    /// [`Feed::events`] for a client: a read in `reader`'s share of the budget, refused with
    /// [`WatchError::Busy`] past it.
    pub async fn read_events(
        &self,
        reader: &Reader,
        id: TournamentId,
        since: Seq,
        limit: usize,
    ) -> Result<Vec<Event>, WatchError> {
        let _permit = self.budget().try_acquire(reader)?;
        Ok(self.events(id, since, limit).await?)
    }

    /// The stream sequence of a tournament's event `seq` (`ZERO` before its first); `None` if
    /// it has no such event.
    async fn position_of(&self, id: TournamentId, seq: Seq) -> Result<Option<Seq>, LogError> {
        let lookup = match self.lock().view.tournament(id) {
            Some(t) => t.position_of(seq),
            None => return Ok(None),
        };
        match lookup {
            Lookup::Found(position) => Ok(Some(position)),
            Lookup::Unknown => Ok(None),
            Lookup::Stored => match self
                .inner
                .store
                .event_position(id, seq)
                .await
                .map_err(older_positions)?
            {
                Some(position) => Ok(Some(position)),
                None => Err(missing_position(id, seq)),
            },
        }
    }

    /// Registers a client. For a tournament scope it also returns the head and the snapshot
    /// at that head; every later event of that tournament goes into the client's queue.
    /// Clients use [`Feed::watch`], which starts them from there.
    fn subscribe(&self, scope: Scope) -> Result<(Session, Option<(Head, Snapshot)>), HubError> {
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

/// A position older than memory keeps could not be read from leaf.db: to a reader, the log's
/// history is out of reach for now.
fn older_positions(e: StoreError) -> LogError {
    LogError::Unavailable(format!("reading event positions from leaf.db: {e}"))
}

/// Memory says leaf.db holds this position and leaf.db has no row for it: the file was
/// damaged or replaced under a running leaf. Never an empty answer, which would end a
/// client's read early as if the history were shorter; a restart rebuilds leaf.db.
fn missing_position(id: TournamentId, seq: Seq) -> LogError {
    tracing::error!(tournament = %id, %seq, "leaf.db lacks an event position it should hold; restart leaf to rebuild leaf.db from the log");
    LogError::Other(format!(
        "leaf.db lacks the position of {seq} in tournament {id}"
    ))
}

/// The view to start from: leaf.db's checkpoint when it describes a prefix of this log,
/// otherwise an empty one (the projection is emptied and rebuilt from the whole log).
async fn load_checkpoint(
    log: &dyn EventLog,
    store: &Store,
    log_state: Seq,
    log_audit: Seq,
) -> Result<View, FeedError> {
    let reason = match store.checkpoint().await {
        Ok(checkpoint) => {
            let cursor = checkpoint.cursor;
            if cursor.state > log_state || cursor.audit > log_audit {
                // The projection describes a log this server does not hold (the JetStream
                // store was replaced or lost): it would claim seqs the log does not have.
                format!(
                    "leaf.db is ahead of the event log (it has STATE {}, AUDIT {}; the log ends at {log_state}, {log_audit})",
                    cursor.state, cursor.audit
                )
            } else {
                match View::from_checkpoint(checkpoint) {
                    Ok(view) => match last_event_agrees(log, &view).await? {
                        None => return Ok(view),
                        Some(differs) => differs,
                    },
                    Err(e) => e,
                }
            }
        }
        Err(StoreError::Damaged(e)) => e,
        Err(e) => return Err(e.into()),
    };
    tracing::warn!(%reason, %log_state, %log_audit, "rebuilding the projection from the whole event log; this takes time in proportion to the log");
    store.reset_projection().await?;
    Ok(View::default())
}

/// Whether the log holds, at the checkpoint's STATE cursor, the event leaf.db says is there
/// (same tournament, type, time and data): one read that tells a log replaced by another of
/// at least the same length. `Some` says what differs.
async fn last_event_agrees(log: &dyn EventLog, view: &View) -> Result<Option<String>, LogError> {
    let cursor = view.applied().state;
    if cursor == Seq::ZERO {
        return Ok(None);
    }
    let page = log
        .read(StreamName::State, Filter::All, cursor.prev(), 1)
        .await?;
    let at_cursor = page.first().filter(|e| e.stream_seq == cursor);
    let holds = at_cursor.is_some_and(|entry| {
        view::tournament_of(entry)
            .and_then(|t| view.tournament(t))
            .is_some_and(|t| t.is_head(entry))
    });
    Ok((!holds).then(|| {
        format!("the event log does not hold at STATE {cursor} the event leaf.db says is there")
    }))
}

#[cfg(test)]
mod tests;
