//! The write side: what a Tournament Director does to tournaments, create them and append
//! events to them. Both become durable in the log first, in the format of
//! [`crate::log::record`]; everything else (the screens, the projection, the answer's seq)
//! follows from the [`Feed`] reading the log back.
//!
//! Appends to one tournament are serialised by a per-tournament lock and guarded in the log
//! by the tournament's last stream sequence (see `docs/pipeline.md`), so two events can never
//! get the same seq, not even with a second writer on the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use tracing::Instrument;

use crate::event::{MsgId, Seq, SubjectToken, TournamentId, TournamentName, TournamentSummary};
use crate::feed::Feed;
use crate::log::record::{AuditRecord, CREATED, StateRecord};
use crate::log::{EventLog, LogError, PublishOptions, StreamName, Subject};
use crate::metrics::AppendOutcome;
use crate::store::{Store, StoreError};
use crate::world::{World, rfc3339_millis};

mod audit;
mod idempotency;

pub use self::audit::{AUDIT_GRACE, MAX_REPAIRED};
pub use self::idempotency::{IdempotencyKey, InvalidIdempotencyKey};

/// Attempts after a sequence conflict before giving up with [`TournamentError::Conflict`].
const CONFLICT_RETRIES: usize = 3;

/// Attempts at an append's audit record before leaving it to the next start's repair.
const AUDIT_ATTEMPTS: u32 = 3;
/// When a live audit record could not be written, the first retry of the repair, and the
/// longest wait between two.
const LIVE_REPAIR_FIRST: std::time::Duration = std::time::Duration::from_secs(2);
const LIVE_REPAIR_MAX: std::time::Duration = std::time::Duration::from_secs(300);

/// An append's audit record, written after its TD is answered.
struct PendingAudit {
    tournament: TournamentId,
    seq: Seq,
    record: crate::log::record::AuditRecord,
}

/// How long a caller waits for an append before being told its outcome is unknown. Under
/// the HTTP request timeout (30 s), so the TD hears this rather than a bare 503; the append
/// itself goes on (see [`TournamentWriter::append`]).
pub const APPEND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Largest `data` of one event, as JSON. Events are small facts (a level, a seat, a payout);
/// a display must be able to take thousands of them.
pub const MAX_EVENT_DATA: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TournamentError {
    #[error("no tournament {0}")]
    NotFound(TournamentId),
    #[error("another writer keeps appending to tournament {0}; retry")]
    Conflict(TournamentId),
    /// The log holds events of the tournament that leaf's feed has not applied yet, so the
    /// append cannot know its seq. The feed is reopening its tails; a retry soon works.
    #[error("leaf is catching up with the event log for tournament {0}; retry in a moment")]
    FeedBehind(TournamentId),
    #[error("the event's data is {0} bytes; the limit is {MAX_EVENT_DATA}")]
    TooLarge(usize),
    /// The log acknowledged the creation, but the feed did not apply it within
    /// [`crate::feed::APPLY_TIMEOUT`]: the tournament exists and shows up once it does.
    #[error("tournament {0} was stored but the feed has not seen it yet")]
    NotYetApplied(TournamentId),
    /// A retry's message id matched a stored message of another tournament: the id was
    /// reused by another writer.
    #[error("a retry matched stream message {stream_seq}, which is not in tournament {tournament}")]
    ForeignDuplicate {
        tournament: TournamentId,
        stream_seq: Seq,
    },
    /// The idempotency key could not be looked up in leaf.db: appending anyway could store
    /// the event twice, so the append is refused.
    #[error("cannot check the Idempotency-Key in leaf.db: {0}")]
    KeysUnavailable(StoreError),
    /// The append did not finish within [`APPEND_DEADLINE`]; it may or may not end up
    /// stored. `keyed`: it carries an `Idempotency-Key`, so a retry with it is safe.
    #[error("{}", outcome_unknown(*tournament, *keyed))]
    OutcomeUnknown {
        tournament: TournamentId,
        keyed: bool,
    },
    /// Its caller left before the publish was sent: nothing was stored.
    #[error("the append was abandoned before it was sent: nobody waited for it")]
    Abandoned,
    /// The append's task failed (a bug); what it stored, if anything, is in the log.
    #[error("the append failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Log(#[from] LogError),
}

fn outcome_unknown(tournament: TournamentId, keyed: bool) -> String {
    let advice = if keyed {
        "retry with the same Idempotency-Key, which never appends twice"
    } else {
        "look at the tournament's events before sending it again: without an Idempotency-Key a retry may append it twice"
    };
    format!(
        "the append to tournament {tournament} has not finished; its outcome is unknown: {advice}"
    )
}

/// Who acts, for the audit record.
#[derive(Debug, Clone)]
pub struct Actor {
    pub who: String,
    pub request_id: Option<String>,
}

/// One event a TD appends.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: SubjectToken,
    pub data: serde_json::Value,
    /// Makes a retry return the original answer instead of appending again.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl NewEvent {
    pub fn new(kind: SubjectToken, data: serde_json::Value) -> Self {
        Self {
            kind,
            data,
            idempotency_key: None,
        }
    }

    pub fn with_key(mut self, key: Option<IdempotencyKey>) -> Self {
        self.idempotency_key = key;
        self
    }
}

impl TournamentError {
    /// Whether leaf or the log failed (the outcome may be unknown to the TD), rather than
    /// the append being refused for what it is or where it goes.
    pub fn is_failure(&self) -> bool {
        match self {
            Self::NotFound(_)
            | Self::Conflict(_)
            | Self::FeedBehind(_)
            | Self::TooLarge(_)
            | Self::ForeignDuplicate { .. }
            | Self::Abandoned => false,
            Self::NotYetApplied(_)
            | Self::KeysUnavailable(_)
            | Self::OutcomeUnknown { .. }
            | Self::Failed(_) => true,
            Self::Log(e) => !matches!(
                e,
                LogError::TooLarge(_) | LogError::Conflict { .. } | LogError::StorageFull(_)
            ),
        }
    }
}

/// What an append returns: the event's place in its tournament.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Appended {
    #[schema(value_type = u64)]
    pub seq: Seq,
    pub ts: String,
}

/// Creates tournaments and appends their events; one per leaf. A cheap handle: clones share
/// one writer.
#[derive(Clone)]
pub struct TournamentWriter {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn EventLog>,
    feed: Feed,
    /// Idempotency keys older than JetStream's duplicate window.
    store: Store,
    // A std mutex around the map only; the per-tournament locks are async and are held
    // across the publish.
    locks: Mutex<HashMap<TournamentId, Arc<tokio::sync::Mutex<()>>>>,
    world: Arc<dyn World>,
    appends: crate::metrics::AppendCounts,
    ack: crate::metrics::Latency,
    /// Appends running, with the audit records they write after answering: a shutdown
    /// waits for them ([`TournamentWriter::finish`]).
    tasks: tokio_util::task::TaskTracker,
    /// Cancelled by a shutdown: a repair still waiting out its grace gives up (the next
    /// start does it).
    stopping: tokio_util::sync::CancellationToken,
    /// A background repair after a failed live audit record is waiting or running.
    repair_scheduled: std::sync::atomic::AtomicBool,
    #[cfg(feature = "planted-bugs")]
    planted: crate::planted::PlantedBugs,
}

impl TournamentWriter {
    /// A writer that takes time and new ids from `world` (the system's, or leaf-sim's seeded
    /// one). Planted bugs, for leaf-sim, are added before the writer is shared.
    pub fn new(log: Arc<dyn EventLog>, feed: Feed, store: Store, world: Arc<dyn World>) -> Self {
        Self {
            inner: Arc::new(Inner {
                log,
                feed,
                store,
                locks: Mutex::new(HashMap::new()),
                world,
                tasks: tokio_util::task::TaskTracker::new(),
                stopping: tokio_util::sync::CancellationToken::new(),
                repair_scheduled: Default::default(),
                appends: Default::default(),
                ack: Default::default(),
                #[cfg(feature = "planted-bugs")]
                planted: crate::planted::PlantedBugs::default(),
            }),
        }
    }

    /// Appends by outcome, for `/metrics`.
    pub fn append_counts(&self) -> crate::metrics::AppendCounts {
        self.inner.appends.clone()
    }

    /// Publish → ack of every append, for `/metrics`.
    pub fn append_ack(&self) -> crate::metrics::Latency {
        self.inner.ack.clone()
    }

    /// Waits up to `patience` for the appends still running (their audit records included),
    /// for a shutdown. New appends after this still run.
    pub async fn finish(&self, patience: std::time::Duration) -> bool {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        let done = tokio::time::timeout(patience, self.inner.tasks.wait())
            .await
            .is_ok();
        self.inner.tasks.reopen();
        done
    }

    /// Writes the audit records that never reached the log (see [`audit`]) after `grace`,
    /// in a task of its own that a shutdown waits for. Returns how many.
    pub async fn repair_audits(&self, grace: std::time::Duration) -> usize {
        self.try_repair_audits(grace).await.unwrap_or(0)
    }

    /// [`TournamentWriter::repair_audits`], telling a failure from nothing to do.
    async fn try_repair_audits(&self, grace: std::time::Duration) -> Result<usize, LogError> {
        let now = || self.inner.now();
        let begun = tokio::time::Instant::now();
        match audit::repair(self.inner.log.as_ref(), &self.inner.feed, grace, &now).await {
            Ok(0) => Ok(0),
            Ok(n) => {
                tracing::warn!(
                    records = n,
                    ms = begun.elapsed().as_millis() as u64,
                    "wrote audit records missing from the log (recovered)"
                );
                Ok(n)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write the missing audit records now; leaf tries again later, and at the next start");
                Err(e)
            }
        }
    }

    /// After a live audit record could not be written (a full disk, a log outage): writes it
    /// again in the background, retrying with back-off until a repair goes through, rather than
    /// only at the next start. Until then every later record lands above the gap, and the
    /// marks the projection keeps grow with each append. One such task at a time.
    fn repair_later(&self) {
        if self
            .inner
            .repair_scheduled
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let writer = self.clone();
        let stopping = self.inner.stopping.clone();
        self.inner.tasks.spawn(async move {
            let mut delay = LIVE_REPAIR_FIRST;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopping.cancelled() => break,
                }
                if writer.try_repair_audits(AUDIT_GRACE).await.is_ok() {
                    break;
                }
                delay = (delay * 2).min(LIVE_REPAIR_MAX);
            }
            writer
                .inner
                .repair_scheduled
                .store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// [`TournamentWriter::repair_audits`] in the background, at a start: serving does not
    /// wait for it.
    pub fn start_audit_repair(&self, grace: std::time::Duration) {
        let writer = self.clone();
        let stopping = self.inner.stopping.clone();
        self.inner.tasks.spawn(async move {
            tokio::select! {
                _ = writer.repair_audits(grace) => {}
                () = stopping.cancelled() => {}
            }
        });
    }

    /// Plants bugs for leaf-sim's checker to catch.
    #[cfg(feature = "planted-bugs")]
    pub fn with_planted_bugs(mut self, planted: crate::planted::PlantedBugs) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.planted = planted;
        }
        self
    }

    /// Records the creation in the log and returns the tournament once the feed knows it.
    pub async fn create(
        &self,
        name: TournamentName,
        actor: &Actor,
    ) -> Result<TournamentSummary, TournamentError> {
        self.inner.create(name, actor).await
    }

    /// Appends one event; returns its seq once the log has it durably.
    ///
    /// The append runs in a task of its own, in the caller's span. Until its publish is sent
    /// it gives up with its caller (an append nobody waits for is not started late, after a TD
    /// was told it failed); once the publish is sent, nothing the caller does (an HTTP
    /// timeout, a dropped connection) stops it half-way, so the rest (waiting for the feed,
    /// the audit record) happens too. A caller that waits longer than [`APPEND_DEADLINE`] gets
    /// [`TournamentError::OutcomeUnknown`].
    pub async fn append(
        &self,
        tournament: TournamentId,
        event: NewEvent,
        actor: &Actor,
    ) -> Result<Appended, TournamentError> {
        let inner = self.inner.clone();
        let writer = self.clone();
        let actor = actor.clone();
        let keyed = event.idempotency_key.is_some();
        let (answer, mut answered) = tokio::sync::oneshot::channel();
        // Set by a caller that gave up at the deadline and counted the append as failed.
        let counted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counted_by_caller = counted.clone();
        let task = async move {
            let waiting = || !answer.is_closed();
            let (result, audit) = match inner.append(tournament, event, &actor, &waiting).await {
                Ok((appended, audit)) => (Ok(appended), audit),
                Err(e) => (Err(e), None),
            };
            let outcome = match (&result, &audit) {
                (Ok(_), Some(_)) => AppendOutcome::Stored,
                (Ok(_), None) => AppendOutcome::Repeated,
                (Err(e), _) if e.is_failure() => AppendOutcome::Failed,
                (Err(_), _) => AppendOutcome::Refused,
            };
            match &result {
                Err(TournamentError::Abandoned) => {
                    tracing::info!(%tournament, "append abandoned before its publish: its caller left")
                }
                _ if answer.is_closed() => {
                    tracing::warn!(%tournament, outcome = ?result, "an append finished after its caller left")
                }
                _ => {}
            }
            // The caller counts what it answers; an append whose caller went away (and did
            // not count it at the deadline) is counted as it ended.
            if answer.send((result, outcome)).is_err()
                && !counted.load(std::sync::atomic::Ordering::Acquire)
            {
                inner.appends.count(outcome);
            }
            if let Some(audit) = audit
                && !inner.write_audit(audit).await
            {
                writer.repair_later();
            }
        };
        self.inner
            .tasks
            .spawn(task.instrument(tracing::Span::current()));
        // The receiver outlives the wait, so the task cannot see it gone before `counted` is.
        match tokio::time::timeout(APPEND_DEADLINE, &mut answered).await {
            Ok(Ok((result, outcome))) => {
                self.inner.appends.count(outcome);
                result
            }
            Ok(Err(_)) => {
                self.inner.appends.count(AppendOutcome::Failed);
                Err(TournamentError::Failed(
                    "the append task ended without an answer".into(),
                ))
            }
            Err(_) => {
                counted_by_caller.store(true, std::sync::atomic::Ordering::Release);
                self.inner.appends.count(AppendOutcome::Failed);
                Err(TournamentError::OutcomeUnknown { tournament, keyed })
            }
        }
    }
}

impl Inner {
    async fn create(
        &self,
        name: TournamentName,
        actor: &Actor,
    ) -> Result<TournamentSummary, TournamentError> {
        let id = self.world.new_tournament_id();
        let record = AuditRecord {
            action: CREATED.into(),
            actor: actor.who.clone(),
            request_id: actor.request_id.clone(),
            ts: self.now(),
            name: Some(name.into_string()),
            event_type: None,
            seq: None,
            recovered: false,
        };
        let ack = self
            .log
            .publish(
                Subject::Audit(id),
                json_bytes(&record),
                PublishOptions {
                    msg_id: MsgId::new(format!("create:{id}")).ok(),
                    expect_last: None,
                },
            )
            .await?;
        self.feed.wait_applied(StreamName::Audit, ack.seq).await;
        self.feed
            .summary(id)
            .ok_or(TournamentError::NotYetApplied(id))
    }

    /// `waiting` says whether anyone still waits for the answer; checked before each publish.
    /// Returns the answer, and the audit record to write once it is given (none for a retry
    /// answered with its original).
    async fn append(
        &self,
        tournament: TournamentId,
        event: NewEvent,
        actor: &Actor,
        waiting: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<(Appended, Option<PendingAudit>), TournamentError> {
        let size = event.data.to_string().len();
        if size > MAX_EVENT_DATA {
            return Err(TournamentError::TooLarge(size));
        }
        // Unknown tournaments are refused before anything is allocated for them.
        if self.feed.head(tournament).is_none() {
            return Err(TournamentError::NotFound(tournament));
        }
        let lock = self.lock_for(tournament);
        let _serialised = lock.lock().await;
        if let Some(key) = &event.idempotency_key {
            match self.store.idempotent_answer(tournament, key.as_str()).await {
                Ok(Some((seq, ts))) => return Ok((Appended { seq, ts }, None)),
                Ok(None) => {}
                // JetStream's own deduplication covers only its window; past it, an append
                // now could store the event a second time.
                Err(e) => {
                    tracing::warn!(%tournament, error = %e, "cannot check the idempotency key in leaf.db; refusing the append");
                    return Err(TournamentError::KeysUnavailable(e));
                }
            }
        }
        // The key travels in the event itself; the projection keeps it beyond the window.
        self.publish_event(tournament, &event, actor, waiting).await
    }

    async fn publish_event(
        &self,
        tournament: TournamentId,
        event: &NewEvent,
        actor: &Actor,
        waiting: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<(Appended, Option<PendingAudit>), TournamentError> {
        let NewEvent {
            kind,
            data,
            idempotency_key,
        } = event;
        let msg_id = idempotency_key
            .as_ref()
            .and_then(|key| MsgId::new(format!("{tournament}:{key}")).ok());
        for _ in 0..CONFLICT_RETRIES {
            if !waiting() {
                return Err(TournamentError::Abandoned);
            }
            let head = self
                .feed
                .head(tournament)
                .ok_or(TournamentError::NotFound(tournament))?;
            let payload = StateRecord {
                seq: head.seq.next(),
                ts: self.now(),
                kind: kind.to_string(),
                data: data.clone(),
                key: idempotency_key.as_ref().map(|k| k.as_str().to_owned()),
                actor: Some(actor.who.clone()),
                request_id: actor.request_id.clone(),
            };
            let options = PublishOptions {
                msg_id: msg_id.clone(),
                expect_last: Some(head.stream_seq),
            };
            let subject = Subject::State(tournament, kind.clone());
            #[cfg(feature = "planted-bugs")]
            if self
                .planted
                .has(crate::planted::PlantedBug::AnswerBeforeAck)
            {
                let log = self.log.clone();
                let payload_bytes = json_bytes(&payload);
                tokio::spawn(async move { log.publish(subject, payload_bytes, options).await });
                return Ok((
                    Appended {
                        seq: payload.seq,
                        ts: payload.ts,
                    },
                    None,
                ));
            }
            let sent = std::time::Instant::now();
            let published = self
                .log
                .publish(subject, json_bytes(&payload), options)
                .await;
            // A publish that timed out took at least this long: left out, the p99 would look
            // healthiest exactly when the log stalls.
            if matches!(published, Ok(_) | Err(LogError::TimedOut)) {
                self.ack.observe(sent.elapsed());
            }
            match published {
                Ok(ack) if ack.duplicate => {
                    return Ok((self.original(tournament, ack.seq).await?, None));
                }
                Ok(ack) => {
                    self.feed.wait_applied(StreamName::State, ack.seq).await;
                    let audit = PendingAudit {
                        tournament,
                        seq: payload.seq,
                        record: audit::appended(
                            kind.as_str(),
                            payload.seq,
                            actor.who.clone(),
                            actor.request_id.clone(),
                            self.now(),
                        ),
                    };
                    let appended = Appended {
                        seq: payload.seq,
                        ts: payload.ts,
                    };
                    return Ok((appended, Some(audit)));
                }
                Err(LogError::Conflict { last }) => {
                    tracing::warn!(%tournament, ?last, "sequence conflict: the log holds events the feed has not applied; catching up");
                    // Whoever appended them (another writer, or this leaf before its feed
                    // fell behind), the feed must apply them before a retry can be right;
                    // if it cannot, that is leaf's own lag, not a conflict for the TD.
                    if let Some(last) = last
                        && !self.feed.wait_applied(StreamName::State, last).await
                    {
                        return Err(TournamentError::FeedBehind(tournament));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TournamentError::Conflict(tournament))
    }

    /// The seq and time of the event a duplicate publish pointed at.
    async fn original(
        &self,
        tournament: TournamentId,
        stream_seq: Seq,
    ) -> Result<Appended, TournamentError> {
        // The retry's original is in the log; until the feed has it, its seq is unknown.
        if !self.feed.wait_applied(StreamName::State, stream_seq).await {
            return Err(TournamentError::FeedBehind(tournament));
        }
        let seq = self.feed.seq_at(tournament, stream_seq).await?.ok_or(
            TournamentError::ForeignDuplicate {
                tournament,
                stream_seq,
            },
        )?;
        let event = self.feed.events(tournament, seq.prev(), 1).await?;
        let ts = event.first().map(|e| e.ts.clone()).unwrap_or_default();
        Ok(Appended { seq, ts })
    }

    /// Writes an append's audit record, after its TD was answered; whether it was stored. The
    /// event is durable and carries the same facts, so a failure here is logged, never
    /// returned to the TD: the record is written again later ([`audit::repair`]).
    async fn write_audit(&self, pending: PendingAudit) -> bool {
        let PendingAudit {
            tournament,
            seq,
            record,
        } = pending;
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::before_audit();
        let mut delay = std::time::Duration::from_millis(50);
        for attempt in 1..=AUDIT_ATTEMPTS {
            match audit::publish(self.log.as_ref(), tournament, seq, &record).await {
                Ok(_) => return true,
                Err(e) if attempt == AUDIT_ATTEMPTS => {
                    tracing::error!(%tournament, seq = seq.0, error = %e, "the audit record of an appended event was not stored; leaf writes it once the log takes it");
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        false
    }

    fn now(&self) -> String {
        rfc3339_millis(self.world.now())
    }

    fn lock_for(&self, tournament: TournamentId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(tournament).or_default().clone()
    }
}

fn json_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests;
