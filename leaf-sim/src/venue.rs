//! The simulated venue: which hosts exist and how a run is seeded.

use std::sync::Arc;
use std::time::Duration;

use leaf::auth::{AuthState, TokenKeys};
use leaf::feed::Feed;
use leaf::http::{self, AppState};
use leaf::hub::{ClientConfig, Hub};
use leaf::log::{EventLog, MemoryLog};
use leaf::store::Store;
use leaf::tournaments::Tournaments;
use uuid::Uuid;

use crate::listener::SimListener;

/// The hostname of the leaf host.
pub const LEAF_HOST: &str = "leaf";
/// The port leaf serves HTTP and WebSocket on inside the simulation.
pub const LEAF_PORT: u16 = 8080;

/// The seed of this run: `LEAF_SIM_SEED` if set, else `default`. Printed, so any failing run
/// can be replayed.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("LEAF_SIM_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default);
    println!("leaf-sim seed: {seed} (replay with LEAF_SIM_SEED={seed} cargo test -p leaf-sim)");
    seed
}

/// A turmoil simulation seeded with `seed`.
pub fn sim<'a>(seed: u64, duration: Duration) -> turmoil::Sim<'a> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(duration)
        .build()
}

/// The production application state, built from parts that live inside the simulation:
/// the memory event log, an in-memory LibSQL, and a hub whose server id comes from the seed.
pub async fn leaf_state(seed: u64) -> Result<AppState, Box<dyn std::error::Error>> {
    let server_id = Uuid::from_u128(u128::from(seed) << 64 | 0x1eaf);
    let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
    let hub = Hub::new(server_id.to_string(), ClientConfig::default());
    let store = Store::open_in_memory().await?;
    let feed = Feed::start(log.clone(), hub.clone(), store.clone()).await?;
    Ok(AppState {
        tournaments: Arc::new(Tournaments::new(log.clone(), feed, store.clone())),
        log,
        auth: Arc::new(AuthState::new(TokenKeys::from_secret(
            &seed.to_le_bytes().repeat(4),
        ))),
        store,
        hub,
        server_id,
        started: tokio::time::Instant::now(),
        dev: false,
    })
}

/// The software of the leaf host: the real router, served until the host is crashed.
pub async fn run_leaf(seed: u64) -> turmoil::Result {
    let state = leaf_state(seed).await?;
    let listener = SimListener::bind(LEAF_PORT).await?;
    leaf::app::serve(listener, http::router(state), std::future::pending()).await?;
    Ok(())
}
