//! The venues the central reader serves: one read stack per venue, opened as its copies
//! appear on the cluster.
//!
//! Each venue gets what a venue's own leaf has on its read side, wired the same way
//! ([`crate::app::wire`]): a feed replaying its copy into memory and following it, a hub for
//! its displays, and its own leaf.db (`DATA_DIR/venues/<id>/leaf.db`) for the projection, so
//! a restart replays only what is new. The venues never share a feed, a hub or a store: one
//! venue's clients cannot see another's events. The stacks are [`Access::PublicRead`]:
//! anyone reads, nobody writes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::copy_log::CopyLog;
use crate::app::{Parts, wire};
use crate::auth::TokenKeys;
use crate::feed::ReadBudget;
use crate::http::AppState;
use crate::http::access::Access;
use crate::hub::ClientConfig;
use crate::store::Store;
use crate::uplink::VenueId;

/// How often the reader looks for venues whose copies appeared since.
pub const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// Budgets of one venue's shutdown, as a venue's leaf has them.
const HUB_CLOSE: Duration = Duration::from_secs(1);
const FEED_FLUSH: Duration = Duration::from_millis(500);
const STORE_CLOSE: Duration = Duration::from_millis(500);

/// What every venue's stack is built with.
#[derive(Clone)]
pub struct Settings {
    /// `DATA_DIR/venues`.
    pub dir: PathBuf,
    pub clients: ClientConfig,
    pub reads: ReadBudget,
    pub dev: bool,
}

/// A cheap handle; clones share the venues.
#[derive(Clone)]
pub struct Venues {
    cluster: Cluster,
    settings: Settings,
    served: Arc<Mutex<BTreeMap<VenueId, Served>>>,
}

enum Served {
    /// Its feed is replaying the copy.
    Opening,
    Open(Box<Open>),
}

/// A venue being served: its read stack, and the routes over it.
struct Open {
    state: AppState,
    router: Router,
}

/// Where a request for a venue goes.
pub enum Lookup {
    Unknown,
    Opening,
    Open(Router),
}

/// One venue in `GET /api/v1/venues`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VenueSummary {
    #[schema(value_type = String)]
    pub venue: VenueId,
    /// Its copy is replayed and served; until then its requests are answered 503.
    pub ready: bool,
    /// How many tournaments its copy holds, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournaments: Option<usize>,
}

impl Venues {
    pub fn new(cluster: Cluster, settings: Settings) -> Self {
        Self {
            cluster,
            settings,
            served: Default::default(),
        }
    }

    pub fn lookup(&self, venue: &VenueId) -> Lookup {
        match self.lock().get(venue) {
            None => Lookup::Unknown,
            Some(Served::Opening) => Lookup::Opening,
            Some(Served::Open(open)) => Lookup::Open(open.router.clone()),
        }
    }

    pub fn list(&self) -> Vec<VenueSummary> {
        self.lock()
            .iter()
            .map(|(venue, served)| VenueSummary {
                venue: venue.clone(),
                ready: matches!(served, Served::Open(_)),
                tournaments: match served {
                    Served::Opening => None,
                    Served::Open(open) => Some(open.state.feed.list().len()),
                },
            })
            .collect()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Looks for new venues now and every [`DISCOVER_EVERY`] until `stop`, opening each as
    /// it is found. The first look is awaited: a reader starts with the venues it can see.
    pub async fn watch(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        self.discover().await;
        let venues = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(DISCOVER_EVERY) => venues.discover().await,
                }
            }
        })
    }

    /// Opens the venues whose copies appeared since the last look.
    async fn discover(&self) {
        let found = match self.cluster.venues().await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for venues on the central cluster");
                return;
            }
        };
        for venue in found {
            {
                let mut served = self.lock();
                if served.contains_key(&venue) {
                    continue;
                }
                served.insert(venue.clone(), Served::Opening);
            }
            let venues = self.clone();
            tokio::spawn(async move { venues.open(venue).await });
        }
    }

    async fn open(&self, venue: VenueId) {
        let begun = tokio::time::Instant::now();
        match self.stack(&venue).await {
            Ok(state) => {
                tracing::info!(
                    %venue,
                    tournaments = state.feed.list().len(),
                    ms = begun.elapsed().as_millis() as u64,
                    "serving the venue's copy"
                );
                let router = crate::http::routes(state.clone());
                self.lock()
                    .insert(venue, Served::Open(Box::new(Open { state, router })));
            }
            Err(e) => {
                // Looked at again at the next discovery.
                tracing::warn!(%venue, error = format!("{e:#}"), "cannot serve the venue's copy; trying again");
                self.lock().remove(&venue);
            }
        }
    }

    /// The read stack of one venue.
    async fn stack(&self, venue: &VenueId) -> anyhow::Result<AppState> {
        use anyhow::Context;
        let dir = self.settings.dir.join(venue.as_str());
        crate::datadir::create_private_dir(&dir)
            .with_context(|| format!("cannot make {}", dir.display()))?;
        let store = Store::open(&dir.join("leaf.db")).await?;
        // Never used to sign anything: the central reader takes no tokens and issues none.
        let keys = TokenKeys::from_secret(
            [
                uuid::Uuid::new_v4().into_bytes(),
                uuid::Uuid::new_v4().into_bytes(),
            ]
            .concat()
            .as_slice(),
        );
        let log = Arc::new(CopyLog::new(venue.clone(), self.cluster.clone()));
        let parts = Parts {
            clients: self.settings.clients.clone(),
            reads: self.settings.reads.clone(),
            dev: self.settings.dev,
            access: Access::PublicRead,
            ..Parts::new(log, store, keys)
        };
        Ok(wire(parts).await?)
    }

    /// Closes every venue's displays (1001), stops its feed and closes its leaf.db.
    pub async fn shutdown(&self) {
        let open: Vec<AppState> = std::mem::take(&mut *self.lock())
            .into_values()
            .filter_map(|served| match served {
                Served::Open(open) => Some(open.state),
                Served::Opening => None,
            })
            .collect();
        let closing = open.into_iter().map(|state| async move {
            state.hub.shutdown(HUB_CLOSE).await;
            if tokio::time::timeout(FEED_FLUSH, state.feed.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("a venue's projection did not flush; the next start replays it");
            }
            let _ = tokio::time::timeout(STORE_CLOSE, state.store.close()).await;
        });
        futures_util::future::join_all(closing).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<VenueId, Served>> {
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }
}
