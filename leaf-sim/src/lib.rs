//! leaf-sim: a deterministic simulation of a venue. The real leaf router, handlers, hub, feed
//! and projection run on turmoil's simulated network and clock, against a simulated JetStream;
//! TD consoles, table displays, venue screens and phones use them while the seed injects
//! faults; after every run the checker holds leaf to its promises. One seed reproduces one
//! whole run, bit for bit: `LEAF_SIM_SEED=<seed> cargo test -p leaf-sim`.
//!
//! # Layout
//! - [`plan`]: what a seed decides up front: the venue and the fault schedule.
//! - [`run`]: one run: hosts, the driver that applies faults on time, the checks.
//! - [`venue`]: what the hosts share, and the leaf host built from production parts.
//! - [`log`]: the simulated event log (JetStream as leaf relies on it, over the two NATS
//!   connections leaf opens), outside the host so it survives crashes.
//! - [`clients`]: TD consoles and displays, over [`clients::http`] and [`clients::ws`].
//! - [`observe`]: what clients saw, checked as it arrives; [`check`] and [`projection`]:
//!   the checks after a run; [`feed_watch`]: what leaf's feed applied, and when.
//! - [`listener`]: axum's `Listener` over simulated TCP, the one adapter production code needs.
//! - [`rng`], [`trace`]: seeded randomness and the record two runs are compared by.
//! - [`sweep`]: many seeds on every core, and the summary line.

pub mod check;
pub mod clients;
pub mod feed_watch;
pub mod listener;
pub mod log;
pub mod observe;
pub mod plan;
pub mod projection;
pub mod rng;
pub mod run;
pub mod sweep;
pub mod trace;
pub mod venue;
