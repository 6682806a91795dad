//! The one wiring of leaf's services into the [`AppState`] every handler shares.
//!
//! Production ([`super::App::start`]) and leaf-sim both call [`wire`]: they differ only in
//! the [`Parts`] they hand it (a JetStream log or a simulated one, the system clock or a
//! seeded one), never in how the parts are put together, so the simulation cannot drift from
//! what runs at a venue.

use std::sync::Arc;

use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::{AuthService, TokenKeys};
use crate::feed::{Feed, FeedError, ReadBudget};
use crate::http::AppState;
use crate::hub::{ClientConfig, Hub};
use crate::log::EventLog;
use crate::log::storage::StoreSpace;
use crate::store::Store;
use crate::world::{SystemWorld, World};
use crate::writer::TournamentWriter;

/// What leaf is made of, before it is wired.
pub struct Parts {
    /// The truth.
    pub log: Arc<dyn EventLog>,
    /// leaf.db: accounts, viewer links, the projection.
    pub store: Store,
    pub keys: TokenKeys,
    /// Names this run in health and in every `connected` message.
    pub server_id: Uuid,
    /// How the hub treats its WebSocket clients.
    pub clients: ClientConfig,
    /// How many log reads clients may run at once, overall and each.
    pub reads: ReadBudget,
    /// Time and fresh ids.
    pub world: Arc<dyn World>,
    /// When startup began, for the uptime and the startup time in the log.
    pub started: Instant,
    /// `--dev`: permissive CORS for the frontend dev server.
    pub dev: bool,
    /// The log's store, for health's storage report.
    pub space: StoreSpace,
    /// Scheduled backups, for health.
    pub backups: crate::backup::Backups,
    /// HTTPS, for health.
    pub tls: crate::tls::TlsState,
    /// The uplink to a central cluster, for health.
    pub uplink: Option<crate::uplink::Link>,
    /// `--metrics-token`: lets clients off the box read `/metrics`.
    pub metrics_token: Option<String>,
    /// Tokens (a venue), or public reads of a copy that nobody writes to (the central reader).
    pub access: crate::http::access::Access,
    #[cfg(feature = "planted-bugs")]
    pub planted: crate::planted::PlantedBugs,
}

impl Parts {
    /// Parts with production's defaults for everything but the log, the store and the keys.
    pub fn new(log: Arc<dyn EventLog>, store: Store, keys: TokenKeys) -> Self {
        Self {
            log,
            store,
            keys,
            server_id: Uuid::new_v4(),
            clients: ClientConfig::default(),
            reads: ReadBudget::default(),
            world: Arc::new(SystemWorld),
            started: Instant::now(),
            dev: false,
            space: StoreSpace::default(),
            backups: crate::backup::Backups::off(),
            tls: crate::tls::TlsState::default(),
            uplink: None,
            metrics_token: None,
            access: crate::http::access::Access::Tokens,
            #[cfg(feature = "planted-bugs")]
            planted: crate::planted::PlantedBugs::default(),
        }
    }
}

/// Builds the hub, starts the feed (which replays the log before it returns), and puts the
/// writer (which repairs the audit trail in the background) and the auth service beside them.
pub async fn wire(parts: Parts) -> Result<AppState, FeedError> {
    let Parts {
        log,
        store,
        keys,
        server_id,
        clients,
        reads,
        world,
        started,
        dev,
        space,
        backups,
        tls,
        uplink,
        metrics_token,
        access,
        #[cfg(feature = "planted-bugs")]
        planted,
    } = parts;
    #[cfg(not(feature = "planted-bugs"))]
    let hub = Hub::new(server_id.to_string(), clients);
    #[cfg(feature = "planted-bugs")]
    let hub = Hub::with_planted_bugs(server_id.to_string(), clients, planted);
    // The catch-up with the log after leaf.db's checkpoint: logged on its own, since a
    // rebuild of leaf.db takes time in proportion to the log.
    let begun = Instant::now();
    let feed = Feed::start(log.clone(), hub.clone(), store.clone(), reads).await?;
    tracing::info!(
        step = "feed",
        ms = begun.elapsed().as_millis() as u64,
        "started"
    );
    let writer = TournamentWriter::new(log.clone(), feed.clone(), store.clone(), world);
    #[cfg(feature = "planted-bugs")]
    let writer = writer.with_planted_bugs(planted);
    // The records of events whose own never reached the log, beside the first requests; a
    // copy is repaired at its venue, never by its readers.
    if access == crate::http::access::Access::Tokens {
        writer.start_audit_repair(crate::writer::AUDIT_GRACE);
    }
    let auth = Arc::new(AuthService::new(keys, store.clone()));
    auth.watch_outside_changes();
    let metrics = crate::metrics::Metrics::new(crate::metrics::Instruments {
        appends: writer.append_counts(),
        append_ack: writer.append_ack(),
        append_to_last_queued: hub.fanout_latency(),
    });
    Ok(AppState {
        log,
        auth,
        writer,
        feed,
        store,
        hub,
        server_id,
        started,
        dev,
        space,
        backups,
        tls,
        uplink,
        metrics,
        metrics_token,
        access,
    })
}
