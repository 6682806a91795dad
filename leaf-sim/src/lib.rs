//! leaf-sim: a deterministic simulation of a venue, running the real leaf router, hub and
//! handlers on turmoil's simulated network.
//!
//! # Layout
//! - [`listener`]: the one adapter production code needs: axum's `Listener` over a simulated
//!   TCP listener. No handler, router or hub code is copied.
//! - [`venue`]: the hosts: a `leaf` host built from production parts (memory event log,
//!   in-memory LibSQL, the hub) and the seed that drives a run.
//! - [`clients`]: what a simulated TD console or display does: HTTP requests and WebSocket
//!   sessions over the simulated network.
//! - [`trace`]: what every host saw, in order, so two runs of one seed can be compared.
//!
//! A run is reproduced by its seed: `LEAF_SIM_SEED=<seed> cargo test -p leaf-sim`.

pub mod clients;
pub mod listener;
pub mod trace;
pub mod venue;
