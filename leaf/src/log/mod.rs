//! The event log: the durable truth that everything else in leaf is derived from.
//!
//! [`EventLog`] is the seam. Production uses [`JetStreamLog`] (a NATS JetStream server that
//! leaf either supervises as a child process, see [`supervisor`], or reaches with
//! `--nats-url`); unit tests and leaf-sim use [`MemoryLog`], a real in-process log with the
//! same contract, not a mock.
//!
//! ## The contract
//! - Two streams: `AUDIT` holds `tournament.{id}.audit`, `STATE` holds
//!   `tournament.{id}.state.{token}`. A [`Subject`] can only be one of those two shapes.
//! - Each stream numbers its messages from 1 with no gaps; an [`Ack`] carries the number.
//! - An ack means durable: JetStream runs with `sync_interval: always`, so an acknowledged
//!   message survives a crash or power loss of the box.
//! - A publish with a [`MsgId`] is idempotent within the duplicate window: a repeat returns
//!   the original sequence with `duplicate: true` and stores nothing new.
//!
//! What leaf writes into the two streams is defined in [`record`]; `contract` (behind the
//! `contract-tests` feature) checks any implementation against the contract above.

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
mod jetstream;
mod memory;
pub mod record;
pub mod storage;
mod subject;
pub(crate) mod supervisor;

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::Serialize;

pub use self::jetstream::{JetStreamLog, JetStreamState, NatsAuth, ServerKind, StoredMessage};
pub(crate) use self::jetstream::{Reconnects, connect_as, read_page, tail, watched};
pub use self::memory::MemoryLog;
pub use self::subject::{Filter, StreamName, Subject};
pub use self::supervisor::{ChildStatus, running_server};
use crate::event::{MsgId, Seq};

/// How long JetStream remembers message ids for deduplication. Long enough to cover a TD's
/// retries across a Wi-Fi drop; every id in the window costs memory in the server.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Durable, ordered, per-stream. Sequences start at 1 and never skip.
pub trait EventLog: Send + Sync + 'static {
    /// Appends one message and resolves once the log has made it durable.
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>>;

    /// Up to `limit` messages of `stream` matching `filter`, with stream sequence after
    /// `after`, in order: one page. A page also stops once it holds [`PAGE_BYTES`] of
    /// payload (it always holds at least one message), so fewer than `limit` does not mean
    /// the end; an empty page does. A read leaves no state behind in the log.
    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>>;

    /// Every message of `stream` after `after`, in order, then new ones as they are stored,
    /// for as long as the returned stream is polled. Survives reconnects to the server.
    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>>;

    /// The sequence of the last message `stream` holds (`Seq::ZERO` when empty), from the
    /// log's own bookkeeping, not by reading the messages.
    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>>;

    /// How much the log's store holds, and whether it is refusing appends for lack of room.
    /// The in-memory logs of tests keep the default: unknown, and never full.
    fn room(&self) -> BoxFuture<'_, LogRoom> {
        Box::pin(async { LogRoom::default() })
    }

    /// A real check of the log (not a cached flag), answered within about a second.
    fn health(&self) -> BoxFuture<'_, LogHealth>;
}

/// The payload after which one [`EventLog::read`] stops: a page is this plus the message
/// that crosses it (an event's data is at most 64 KiB), so under 1 MiB, whatever size the
/// events are: what a reader holds in memory per page.
pub const PAGE_BYTES: usize = 900 * 1024;

/// The first `limit` of `candidates` that fit one page of [`EventLog::read`]: for logs that
/// hold their messages in memory, so they page as JetStream does.
pub fn one_page<'a>(candidates: impl Iterator<Item = &'a Entry>, limit: usize) -> Vec<Entry> {
    let mut bytes = 0;
    let mut page = Vec::new();
    for entry in candidates.take(limit) {
        if bytes >= PAGE_BYTES {
            break;
        }
        bytes += entry.subject.len() + entry.payload.len();
        page.push(entry.clone());
    }
    page
}

/// Live messages from [`EventLog::tail`].
pub type EntryStream = futures_util::stream::BoxStream<'static, Result<Entry, LogError>>;

/// How a publish is guarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Makes the publish idempotent within [`DUPLICATE_WINDOW`].
    pub msg_id: Option<MsgId>,
    /// Store only if the last STATE message of the subject's tournament has this stream
    /// sequence (`Seq(0)`: the tournament has none yet); else [`LogError::Conflict`].
    pub expect_last: Option<Seq>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream_seq: Seq,
    pub subject: String,
    pub payload: Bytes,
}

/// The log's answer to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub stream: StreamName,
    pub seq: Seq,
    /// The message id had been seen within the duplicate window; nothing new was stored.
    pub duplicate: bool,
}

/// What the log says of its room; see [`storage`] for what health makes of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogRoom {
    /// Bytes its streams hold; `None` when it cannot say right now.
    pub used_bytes: Option<u64>,
    /// Its last publish was refused for lack of room, and none has been stored since.
    pub refusing: bool,
}

/// What the health endpoint shows for the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHealth {
    pub ok: bool,
    pub server_version: Option<String>,
    /// What the server reports it runs with, not what leaf asked for.
    pub sync_interval: Option<String>,
    pub streams: Vec<String>,
    /// How many times the supervised server was restarted since leaf started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// Consumers on leaf's streams: the feed's two tails, and nothing else lingering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a publish or a log operation failed. Expected cases are variants to match on.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The server is down, restarting or unreachable; the publish may be retried.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// No ack arrived in time: the message may or may not have been stored.
    #[error("event log did not acknowledge in time")]
    TimedOut,
    /// The payload is larger than the server accepts.
    #[error("payload of {0} bytes is too large for the event log")]
    TooLarge(usize),
    /// A stream leaf needs is missing or cannot be brought to the configuration leaf needs.
    #[error("stream {stream}: {reason}")]
    Stream { stream: StreamName, reason: String },
    /// The publish's expectation failed: something else was appended first. `last` is the
    /// stream sequence the log really ends at for that tournament, when the server said.
    #[error("another writer appended first (the log's last sequence is {last:?})")]
    Conflict { last: Option<Seq> },
    /// The store has no room (its size limit, or the disk): nothing was stored.
    #[error("the event log is full: {0}")]
    StorageFull(String),
    #[error("event log: {0}")]
    Other(String),
}
