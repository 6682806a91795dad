//! The simulated venue: what the hosts share, and the leaf host itself.
//!
//! The leaf host runs the production pieces (router, handlers, hub, feed, projection, writer),
//! wired by production's own [`leaf::app::wire`], over turmoil's network. Its LibSQL is in
//! memory, held by the [`Venue`]: a crash keeps it (the next incarnation starts from its
//! checkpoint) or loses it (the projection is rebuilt from the log), as the plan drew. The
//! [`SimLog`] and everything else in [`Venue`] outlive the host.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use leaf::app::Parts;
use leaf::auth::{Principal, TokenKeys, VIEWER_TOKEN_TTL};
use leaf::event::{OperatorName, Seq, TournamentId};
use leaf::feed::ReadBudget;
use leaf::http::{self, AppState};
use leaf::hub::ClientConfig;
use leaf::log::{EventLog, StreamName};
use leaf::planted::PlantedBugs;
use leaf::store::{Store, ViewerLink};
use leaf::world::World;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::feed_watch::{self, FeedWatch};
use crate::listener::SimListener;
use crate::log::SimLog;
use crate::observe::Observations;
use crate::plan::Plan;
use crate::projection;
use crate::trace::Trace;

/// The hostname of the leaf host.
pub const LEAF_HOST: &str = "leaf";
/// The port leaf serves HTTP and WebSocket on inside the simulation.
pub const LEAF_PORT: u16 = 8080;
/// The TD account every console signs in as.
pub const TD_NAME: &str = "td";
/// Its account id: the same at every start of the leaf host, as a restored leaf.db keeps it.
pub const TD_ACCOUNT: &str = "sim-td-account";
/// What the simulated clock reads at the start of every run.
pub const EPOCH_UNIX: i64 = 1_795_888_800; // 2026-11-28T18:00:00Z

/// Timings of leaf's WebSocket clients inside the simulation: the production ones scaled
/// down (pings every second instead of ten, a 4-message queue instead of 256), so that dead
/// peers and slow readers show up within a few simulated seconds.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        ping_interval: Duration::from_secs(1),
        dead_after: Duration::from_secs(3),
        write_timeout: Duration::from_secs(2),
        queue_capacity: 4,
        ..ClientConfig::default()
    }
}

/// Log reads leaf lets clients run at once inside the simulation, overall and per reader:
/// production's 32 and 4 (leaf's `MAX_READS`, `MAX_READS_PER_READER`) serve thousands of
/// screens; scaled to a venue of a handful, so a burst of one tournament's displays resuming
/// together (they share one viewer link) meets the per-reader share, and a wider burst the
/// overall one, and their `503 busy` refusals are exercised.
pub fn read_budget() -> ReadBudget {
    ReadBudget::new(4, 2)
}

/// Everything the hosts of one run share; outlives any incarnation of the leaf host.
pub struct Venue {
    pub plan: Plan,
    pub log: SimLog,
    pub trace: Trace,
    pub seen: Observations,
    pub planted: PlantedBugs,
    /// The ids the tournaments will get, in creation order (see [`SimWorld`]).
    pub tournaments: Vec<TournamentId>,
    /// Set once the setup console has created them all.
    pub created: Cell<bool>,
    /// Set by the driver when the run is over: clients finish.
    pub stop: Cell<bool>,
    /// The database of the last incarnation that started, for the checks after the run.
    pub store: RefCell<Option<Store>>,
    /// The leaf.db on the leaf host's disk: made by the first incarnation that finds none,
    /// opened by the next ones, taken by a crash that loses it.
    pub db: RefCell<Option<Store>>,
    /// Starts that found the last incarnation's leaf.db.
    pub checkpoint_starts: Cell<u32>,
    /// What leaf's feed applied and when (invariant 7).
    pub feed_watch: RefCell<FeedWatch>,
    incarnations: Cell<u32>,
    secret: Vec<u8>,
    world: Arc<SimWorld>,
}

impl Venue {
    pub fn new(plan: Plan, log: SimLog, trace: Trace, planted: PlantedBugs) -> Rc<Self> {
        let world = Arc::new(SimWorld::new(plan.seed));
        let tournaments = (0..plan.tournaments as u64).map(|n| world.id(n)).collect();
        Rc::new(Self {
            seen: Observations::new(trace.clone()),
            secret: plan.seed.to_le_bytes().repeat(4),
            plan,
            log,
            trace,
            planted,
            tournaments,
            created: Cell::new(false),
            stop: Cell::new(false),
            store: RefCell::new(None),
            db: RefCell::new(None),
            checkpoint_starts: Cell::new(0),
            feed_watch: RefCell::new(FeedWatch::default()),
            incarnations: Cell::new(0),
            world,
        })
    }

    pub fn index_of(&self, id: TournamentId) -> Option<usize> {
        self.tournaments.iter().position(|t| *t == id)
    }

    pub fn keys(&self) -> TokenKeys {
        TokenKeys::from_secret(&self.secret)
    }

    /// A TD's token: consoles and venue screens.
    pub fn td_token(&self) -> String {
        self.keys()
            .issue(
                &Principal::Td {
                    name: TD_NAME.into(),
                    account: TD_ACCOUNT.into(),
                },
                VIEWER_TOKEN_TTL,
            )
            .map(|(token, _)| token)
            .unwrap_or_default()
    }

    /// A viewer token for tournament `t`: table displays and phones.
    pub fn viewer_token(&self, t: usize) -> String {
        let principal = Principal::Viewer {
            link: link_id(t),
            tournament: self.tournaments[t],
        };
        self.keys()
            .issue(&principal, VIEWER_TOKEN_TTL)
            .map(|(token, _)| token)
            .unwrap_or_default()
    }

    pub fn incarnations(&self) -> u32 {
        self.incarnations.get()
    }
}

fn link_id(t: usize) -> String {
    format!("sim-link-{t}")
}

/// Time from the simulated clock and tournament ids from the seed. The id counter lives in
/// the venue, not the host, so a restarted leaf never hands out an id twice.
pub struct SimWorld {
    prefix: u64,
    next: AtomicU64,
}

impl SimWorld {
    fn new(seed: u64) -> Self {
        Self {
            prefix: crate::rng::Rng::new(seed).fork("ids").next_u64(),
            next: AtomicU64::new(0),
        }
    }

    fn id(&self, n: u64) -> TournamentId {
        TournamentId::from_uuid(Uuid::from_u64_pair(self.prefix, n + 1))
    }
}

impl World for SimWorld {
    fn now(&self) -> OffsetDateTime {
        let elapsed = turmoil::sim_elapsed().unwrap_or_default();
        OffsetDateTime::from_unix_timestamp(EPOCH_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
            + elapsed
    }

    fn new_tournament_id(&self) -> TournamentId {
        self.id(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// One incarnation of the leaf host: builds leaf from production parts (starting from the
/// last incarnation's leaf.db, or rebuilding it), checks that the projection it starts with
/// equals a replay of the log, and serves until crashed.
pub async fn run_leaf(venue: Rc<Venue>) -> turmoil::Result {
    let n = venue.incarnations.get() + 1;
    venue.incarnations.set(n);
    venue
        .trace
        .record(LEAF_HOST, format!("starts (incarnation {n})"));
    // A new process opens new connections to the server.
    venue.log.reconnect();
    let (state, reopened) = loop {
        match leaf_state(&venue, n).await {
            Ok(started) => break started,
            // What systemd would do with a leaf that cannot reach its log at startup.
            Err(e) => {
                venue.trace.record(
                    LEAF_HOST,
                    format!("cannot start: {e}; restarting in 200 ms"),
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    *venue.store.borrow_mut() = Some(state.store.clone());
    if reopened {
        venue
            .checkpoint_starts
            .set(venue.checkpoint_starts.get() + 1);
    }
    let store = state.store.clone();
    let feed = state.feed.clone();
    let listener = SimListener::bind(LEAF_PORT).await?;
    venue.trace.record(LEAF_HOST, "serves");
    venue.feed_watch.borrow_mut().leaf_serves(now());

    let serve = leaf::app::serve(listener, http::router(state), std::future::pending());
    // The replay at startup must reach LibSQL (this incarnation's database started empty),
    // and what it wrote must equal a replay of the same log prefix.
    let replayed = venue
        .log
        .stored(StreamName::State)
        .last()
        .map_or(Seq(0), |s| s.entry.stream_seq);
    let check = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let cursor = store.projection_cursor().await.unwrap_or_default();
            if cursor.state >= replayed {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                venue.seen.violation(
                    LEAF_HOST,
                    format!("after start {n}: the projection is at {cursor:?} a second after a replay through STATE {replayed}"),
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match projection::matches_replay(&store, &venue.log, false).await {
            Ok(summary) => venue.trace.record(
                LEAF_HOST,
                format!("projection equals a replay of the log ({summary})"),
            ),
            Err(e) => venue
                .seen
                .violation(LEAF_HOST, format!("after start {n}: {e}")),
        }
    };
    // The watch runs as long as this incarnation; serving ends only with an error.
    tokio::select! {
        biased;
        (served, ()) = async { tokio::join!(serve, check) } => served?,
        () = feed_watch::watch(venue.clone(), feed) => {}
    }
    Ok(())
}

/// A leaf.db with what `leaf td add` and the TD's join links put in it, and no projection:
/// the first incarnation's, or one after a crash that lost the file.
async fn fresh_store(venue: &Venue) -> Result<Store, Box<dyn std::error::Error>> {
    let store = Store::open_in_memory().await?;
    let td: OperatorName = TD_NAME.parse()?;
    store
        .add_operator_account(
            &td,
            leaf::auth::pin::decoy_hash().to_owned(),
            TD_ACCOUNT.into(),
        )
        .await?;
    for (t, id) in venue.tournaments.iter().enumerate() {
        let link = ViewerLink {
            id: link_id(t),
            tournament: *id,
            url: String::new(),
            expires_at: u64::MAX >> 1,
        };
        store.add_viewer_link(&link, TD_NAME).await?;
    }

    Ok(store)
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// The production application state over the simulated log and the host's leaf.db (a new
/// one if there is none); whether it opened an existing leaf.db.
async fn leaf_state(
    venue: &Venue,
    incarnation: u32,
) -> Result<(AppState, bool), Box<dyn std::error::Error>> {
    let existing = venue.db.borrow().clone();
    let (store, reopened) = match existing {
        Some(store) => {
            venue
                .trace
                .record(LEAF_HOST, "finds the leaf.db of its last incarnation");
            (store, true)
        }
        None => {
            let store = fresh_store(venue).await?;
            *venue.db.borrow_mut() = Some(store.clone());
            (store, false)
        }
    };
    let log: Arc<dyn EventLog> = Arc::new(venue.log.clone());
    let parts = Parts {
        server_id: Uuid::from_u64_pair(venue.plan.seed, u64::from(incarnation)),
        clients: client_config(),
        world: venue.world.clone(),
        planted: venue.planted,
        reads: read_budget(),
        ..Parts::new(log, store, venue.keys())
    };
    Ok((leaf::app::wire(parts).await?, reopened))
}
