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
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cluster::Cluster;
use super::copy_log::CopyLog;
use crate::app::{Parts, wire};
use crate::auth::TokenKeys;
use crate::config::Config;
use crate::http::AppState;
use crate::http::access::Access;
use crate::store::Store;
use crate::uplink::VenueId;

/// How often the reader looks for venues whose copies appeared since.
pub const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// After a venue's copy could not be opened, the first wait before the next try; it doubles
/// with each failure, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// Budgets of one venue's shutdown, as a venue's leaf has them.
const HUB_CLOSE: Duration = Duration::from_secs(1);
const FEED_FLUSH: Duration = Duration::from_millis(500);
const STORE_CLOSE: Duration = Duration::from_millis(500);

/// What every venue's stack is built from.
#[derive(Clone)]
pub struct Settings {
    /// `DATA_DIR/venues`.
    pub dir: PathBuf,
    /// Client limits and read budgets: each venue gets its own, so one venue's readers
    /// cannot spend another's.
    pub config: Config,
}

/// A cheap handle; clones share the venues.
#[derive(Clone)]
pub struct Venues {
    cluster: Cluster,
    settings: Settings,
    served: Arc<Mutex<BTreeMap<VenueId, Served>>>,
    /// The opens under way, awaited at shutdown.
    opening: TaskTracker,
    /// Cancelled at shutdown: opens under way give up, and none starts.
    closing: CancellationToken,
}

enum Served {
    /// Its feed is replaying the copy; after a failure, `waited` is how long it waited.
    Opening {
        waited: Option<Duration>,
    },
    Open(Box<Open>),
    /// Its copy could not be opened; tried again from `retry_at`.
    Failed {
        retry_at: Instant,
        wait: Duration,
    },
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
    /// Why is in the log, not for the public.
    Failed,
    Open(Router),
}

/// One venue in `GET /api/v1/venues`.
#[derive(Debug, Clone, Serialize)]
pub struct VenueSummary {
    pub venue: VenueId,
    /// Its copy is replayed and served; until then its requests are answered 503.
    pub ready: bool,
    /// How many tournaments its copy holds, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournaments: Option<usize>,
    /// Its copy cannot be served now (the reader's log says why); tried again later.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failing: bool,
}

impl Venues {
    pub fn new(cluster: Cluster, settings: Settings) -> Self {
        Self {
            cluster,
            settings,
            served: Default::default(),
            opening: TaskTracker::new(),
            closing: CancellationToken::new(),
        }
    }

    pub fn lookup(&self, venue: &VenueId) -> Lookup {
        match self.lock().get(venue) {
            None => Lookup::Unknown,
            Some(Served::Opening { .. }) => Lookup::Opening,
            Some(Served::Failed { .. }) => Lookup::Failed,
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
                    Served::Open(open) => Some(open.state.feed.list().len()),
                    _ => None,
                },
                failing: matches!(served, Served::Failed { .. }),
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
                    () = tokio::time::sleep(DISCOVER_EVERY) => {}
                }
                // A look at a cluster that does not answer takes seconds: not at shutdown.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = venues.discover() => {}
                }
            }
        })
    }

    /// Opens the venues whose copies appeared since the last look, and those whose open
    /// failed once their wait is over.
    async fn discover(&self) {
        let found = match self.cluster.venues().await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for venues on the central cluster");
                return;
            }
        };
        let now = Instant::now();
        for venue in found {
            {
                let mut served = self.lock();
                let waited = match served.get(&venue) {
                    None => None,
                    Some(Served::Failed { retry_at, wait, .. }) if *retry_at <= now => Some(*wait),
                    Some(_) => continue,
                };
                if self.closing.is_cancelled() {
                    return;
                }
                served.insert(venue.clone(), Served::Opening { waited });
            }
            let venues = self.clone();
            self.opening.spawn(async move {
                // Its own task, so that a panic in it is seen here: the venue is then tried
                // again later rather than left opening for good.
                let opened = tokio::spawn({
                    let venues = venues.clone();
                    let venue = venue.clone();
                    async move { venues.open(venue).await }
                })
                .await;
                if let Err(e) = opened {
                    venues.failed(&venue, format!("its open failed: {e}"));
                }
            });
        }
    }

    async fn open(&self, venue: VenueId) {
        let begun = Instant::now();
        let stacked = tokio::select! {
            stacked = self.stack(&venue) => stacked,
            () = self.closing.cancelled() => return,
        };
        match stacked {
            Ok(state) if self.closing.is_cancelled() => close(state).await,
            Ok(state) => {
                tracing::info!(
                    %venue,
                    tournaments = state.feed.list().len(),
                    ms = begun.elapsed().as_millis() as u64,
                    "serving the venue's copy"
                );
                let router = crate::http::copy_routes(state.clone());
                self.lock()
                    .insert(venue, Served::Open(Box::new(Open { state, router })));
            }
            Err(e) => self.failed(&venue, format!("{e:#}")),
        }
    }

    /// Marks `venue` failed, to be tried again after a wait twice the last one's.
    fn failed(&self, venue: &VenueId, why: String) {
        let mut served = self.lock();
        let wait = match served.get(venue) {
            Some(Served::Opening {
                waited: Some(waited),
            }) => (*waited * 2).min(RETRY_MAX),
            _ => RETRY_FIRST,
        };
        tracing::warn!(%venue, error = %why, retry_in_s = wait.as_secs(), "cannot serve the venue's copy");
        served.insert(
            venue.clone(),
            Served::Failed {
                retry_at: Instant::now() + wait,
                wait,
            },
        );
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
        let config = &self.settings.config;
        let parts = Parts {
            clients: config.clients(),
            reads: config.read_budget(),
            dev: config.dev,
            access: Access::PublicRead,
            ..Parts::new(log, store, keys)
        };
        Ok(wire(parts).await?)
    }

    /// Stops the opens under way, then closes every venue's displays (1001), stops its feed
    /// and closes its leaf.db.
    pub async fn shutdown(&self) {
        self.closing.cancel();
        self.opening.close();
        self.opening.wait().await;
        let open: Vec<AppState> = std::mem::take(&mut *self.lock())
            .into_values()
            .filter_map(|served| match served {
                Served::Open(open) => Some(open.state),
                _ => None,
            })
            .collect();
        futures_util::future::join_all(open.into_iter().map(close)).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<VenueId, Served>> {
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One venue's displays closed (1001), its feed stopped, its leaf.db closed.
async fn close(state: AppState) {
    state.hub.shutdown(HUB_CLOSE).await;
    if tokio::time::timeout(FEED_FLUSH, state.feed.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("a venue's projection did not flush; the next start replays it");
    }
    let _ = tokio::time::timeout(STORE_CLOSE, state.store.close()).await;
}
