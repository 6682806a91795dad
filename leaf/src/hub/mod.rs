//! The WebSocket hub: which clients are connected, to what, and fan-out to them.
//!
//! - `registry` holds the clients by scope; [`Hub::broadcast`] serialises a message once and
//!   pushes the shared bytes into each target's bounded queue (`queue`) without waiting.
//! - `client` runs one connection: a writer that drains the queue and pings, a reader that
//!   watches for pongs, closes and bad frames, and a single close path.
//! - `disconnect` lists why the server closes a connection, with documented codes.
//! - [`protocol`] is every message of the WebSocket protocol.
//!
//! The hub knows clients and messages; it knows nothing of HTTP, storage or the event log.

pub(crate) mod client;
mod disconnect;
pub mod protocol;
mod queue;
mod registry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::{Serialize, Serializer};
use tokio::sync::watch;

pub use self::client::ClientConfig;
pub use self::disconnect::Disconnect;
use self::queue::{Closer, QueueReceiver, QueueSender};
use self::registry::Registry;
use crate::event::TournamentId;

/// A connection's id, unique within one leaf run. A counter, so runs are reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(pub u64);

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a client watches (and what a broadcast is for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One tournament: a table display, a player's phone.
    Tournament(TournamentId),
    /// The whole venue, for TD consoles: every tournament's broadcasts as well as venue-wide
    /// ones. As a broadcast scope: every client, whatever it watches.
    All,
    /// A screen without a token: venue-wide announcements only, no tournament's events.
    Lobby,
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scope::Tournament(t) => {
                serde_json::json!({"kind": "tournament", "tournament_id": t}).serialize(s)
            }
            Scope::All => serde_json::json!({"kind": "all"}).serialize(s),
            Scope::Lobby => serde_json::json!({"kind": "lobby"}).serialize(s),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the hub is shutting down")]
    ShuttingDown,
    /// Lobby screens need no token, so their number is capped on its own
    /// ([`ClientConfig::max_lobby_clients`]).
    #[error("{0} lobby screens are connected, the most leaf takes; retry later")]
    LobbyFull(usize),
}

/// Counters for health and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HubStats {
    pub clients: usize,
    /// Messages dropped because a client's queue was full.
    pub dropped_messages: u64,
    /// Clients closed with [`Disconnect::Slow`].
    pub slow_disconnects: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HubHealth {
    pub ok: bool,
    #[serde(flatten)]
    pub stats: HubStats,
}

/// An event applied longer than this after its append is a replay, not live: left out of the
/// fan-out latency.
const LIVE_WITHIN: Duration = Duration::from_secs(300);

/// A cheap handle; clones share one hub.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    server_id: String,
    config: ClientConfig,
    // A std mutex: every critical section is map work and non-blocking pushes, never an await.
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    slow: AtomicU64,
    count: watch::Sender<usize>,
    /// Append → queued for the last client, for `/metrics`.
    fanout: crate::metrics::Latency,
    #[cfg(feature = "planted-bugs")]
    planted: crate::planted::PlantedBugs,
    #[cfg(feature = "planted-bugs")]
    broadcasts: AtomicU64,
}

/// The rest of a client's start, produced as its socket drains (a replay read from the log
/// page by page), sent after the preamble and before the queue.
pub type Replay = futures_util::stream::BoxStream<'static, Result<Utf8Bytes, ReplayFailed>>;

/// A replay could not go on (the log did not answer): the client is closed with
/// [`Disconnect::ReplayFailed`] and resumes from the last seq it got.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the replay failed: {0}")]
pub struct ReplayFailed(pub String);

/// One registered client, handed to `client::run`. Dropping it unregisters the client.
pub struct Session {
    pub id: ClientId,
    pub scope: Scope,
    /// Sent before anything in the queue: `connected`, then whatever the caller adds (a
    /// snapshot, a replay). Unbounded on purpose: a replay may be longer than the queue.
    pub preamble: Vec<Utf8Bytes>,
    /// After the preamble, before the queue.
    pub replay: Option<Replay>,
    pub queue: QueueReceiver,
    /// For replies to the client's own messages (pong, errors).
    pub reply: QueueSender,
    pub closer: Closer,
    hub: Hub,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("preamble", &self.preamble.len())
            .field("replay", &self.replay.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl Hub {
    /// `server_id` names this leaf run in every `connected` message.
    pub fn new(server_id: String, config: ClientConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                server_id,
                config,
                registry: Mutex::new(Registry::default()),
                next_id: AtomicU64::new(1),
                dropped: AtomicU64::new(0),
                slow: AtomicU64::new(0),
                count: watch::Sender::new(0),
                fanout: crate::metrics::Latency::default(),
                #[cfg(feature = "planted-bugs")]
                planted: crate::planted::PlantedBugs::default(),
                #[cfg(feature = "planted-bugs")]
                broadcasts: AtomicU64::new(0),
            }),
        }
    }

    /// A hub with bugs planted in it, for leaf-sim's checker to catch.
    #[cfg(feature = "planted-bugs")]
    pub fn with_planted_bugs(
        server_id: String,
        config: ClientConfig,
        planted: crate::planted::PlantedBugs,
    ) -> Self {
        let mut hub = Self::new(server_id, config);
        if let Some(inner) = Arc::get_mut(&mut hub.inner) {
            inner.planted = planted;
        }
        hub
    }

    #[cfg(feature = "planted-bugs")]
    pub fn planted_bugs(&self) -> crate::planted::PlantedBugs {
        self.inner.planted
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough to
        // serve: recover rather than take every connection down with it.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a client. Its preamble starts with the `connected` message, which is sent before
    /// anything broadcast later.
    pub fn register(&self, scope: Scope) -> Result<Session, HubError> {
        let id = ClientId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (reply, queue) = queue::queue(self.inner.config.queue_capacity);
        let closer = Closer::default();
        let connected = protocol::Connected {
            protocol: protocol::PROTOCOL_VERSION,
            server_id: &self.inner.server_id,
            client_id: id,
            scope: &scope,
            ping_interval_ms: self.inner.config.ping_interval.as_millis() as u64,
            snapshot: serde_json::json!({}),
        };
        let connected = protocol::text(&connected);
        let mut registry = self.registry();
        if !registry.accepting {
            return Err(HubError::ShuttingDown);
        }
        let max_lobby = self.inner.config.max_lobby_clients;
        if scope == Scope::Lobby && registry.lobby_len() >= max_lobby {
            return Err(HubError::LobbyFull(max_lobby));
        }
        registry.insert(id, scope, reply.clone(), closer.clone());
        self.inner.count.send_replace(registry.len());
        drop(registry);
        Ok(Session {
            id,
            scope,
            preamble: vec![connected],
            replay: None,
            queue,
            reply,
            closer,
            hub: self.clone(),
        })
    }

    fn unregister(&self, id: ClientId) {
        let mut registry = self.registry();
        registry.remove(id);
        self.inner.count.send_replace(registry.len());
    }

    /// Sends `{"type": message_type, "tournament_id"?, "data": data}` to every client in
    /// `scope`: a tournament's clients plus venue-wide ones, or everyone for [`Scope::All`].
    /// Returns how many clients it was queued for.
    pub fn broadcast<T: Serialize>(&self, scope: Scope, message_type: &str, data: &T) -> usize {
        let tournament_id = match scope {
            Scope::Tournament(t) => Some(t),
            Scope::All | Scope::Lobby => None,
        };
        let message = protocol::Broadcast {
            kind: message_type,
            tournament_id,
            data,
        };
        self.broadcast_raw(scope, protocol::text(&message))
    }

    /// Pushes one already serialised message to every client in `scope`. The bytes are
    /// shared, not copied, per client.
    pub fn broadcast_raw(&self, scope: Scope, message: Utf8Bytes) -> usize {
        let mut registry = self.registry();
        #[cfg(feature = "planted-bugs")]
        let skip = self.planted_skip(&registry, scope);
        #[cfg(not(feature = "planted-bugs"))]
        let skip = None;
        let outcome = registry.push(scope, &message, skip);
        for id in &outcome.full {
            if let Some(closer) = registry.remove(*id) {
                closer.close(Disconnect::Slow);
            }
        }
        if !outcome.full.is_empty() {
            let n = outcome.full.len() as u64;
            self.inner.dropped.fetch_add(n, Ordering::Relaxed);
            self.inner.slow.fetch_add(n, Ordering::Relaxed);
            self.inner.count.send_replace(registry.len());
            tracing::warn!(clients = ?outcome.full, "closed slow clients: their queues were full");
        }
        outcome.queued
    }

    /// [`crate::planted::PlantedBug::FanoutSkipsOne`]: the newest subscriber of every 16th
    /// broadcast to a tournament.
    #[cfg(feature = "planted-bugs")]
    fn planted_skip(&self, registry: &Registry, scope: Scope) -> Option<ClientId> {
        use crate::planted::PlantedBug;
        let Scope::Tournament(t) = scope else {
            return None;
        };
        if !self.inner.planted.has(PlantedBug::FanoutSkipsOne) {
            return None;
        }
        let n = self.inner.broadcasts.fetch_add(1, Ordering::Relaxed);
        (n % 16 == 15).then(|| registry.newest_in(t)).flatten()
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            clients: self.registry().len(),
            dropped_messages: self.inner.dropped.load(Ordering::Relaxed),
            slow_disconnects: self.inner.slow.load(Ordering::Relaxed),
        }
    }

    /// Clients connected now by scope, as `/metrics` names them.
    pub fn clients_by_scope(&self) -> [(&'static str, u64); 3] {
        let (tournament, venue, lobby) = self.registry().by_scope();
        [
            ("tournament", tournament as u64),
            ("venue", venue as u64),
            ("lobby", lobby as u64),
        ]
    }

    /// The time from an event's append to its being queued for the last client watching it.
    pub fn fanout_latency(&self) -> crate::metrics::Latency {
        self.inner.fanout.clone()
    }

    /// An event appended at `appended_at` (its RFC 3339 `ts`, from the writer's clock) has
    /// just been queued for every client watching it.
    pub fn queued_event_appended_at(&self, appended_at: &str) {
        let Ok(at) = time::OffsetDateTime::parse(
            appended_at,
            &time::format_description::well_known::Rfc3339,
        ) else {
            return;
        };
        let took = time::OffsetDateTime::now_utc() - at;
        // A clock that is not the system's (leaf-sim's) or that stepped back says nothing,
        // and an event minutes old is a start catching up with the log, not a live append.
        if let Ok(took) = std::time::Duration::try_from(took)
            && took < LIVE_WITHIN
        {
            self.inner.fanout.observe(took);
        }
    }

    pub fn health(&self) -> HubHealth {
        let stats = self.stats();
        let ok = self.registry().accepting;
        HubHealth { ok, stats }
    }

    /// Stops accepting, closes every client with [`Disconnect::Shutdown`] (1001) and waits up
    /// to `timeout` for their tasks to end. Safe to call more than once.
    pub async fn shutdown(&self, timeout: Duration) {
        let closers = {
            let mut registry = self.registry();
            registry.accepting = false;
            registry.closers()
        };
        for closer in closers {
            closer.close(Disconnect::Shutdown);
        }
        let mut count = self.inner.count.subscribe();
        let all_gone = count.wait_for(|n| *n == 0);
        if tokio::time::timeout(timeout, all_gone).await.is_err() {
            tracing::warn!(
                left = *count.borrow(),
                "some WebSocket clients did not close in time"
            );
        }
    }
}

#[cfg(test)]
mod tests;
