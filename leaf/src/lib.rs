//! leaf, the venue node of Felt: the system of record for every tournament at one venue.
//!
//! A Tournament Director (TD) acts through the web console; the action becomes an event in a
//! durable log; displays and phones watching that tournament see it live over WebSocket.
//!
//! # Layout
//! - [`app`]: builds and wires the subsystems, owns the startup and shutdown order.
//! - [`auth`]: TD accounts, PINs, signed tokens and roles, login rate limits.
//! - [`config`]: the command line: flags with environment fallbacks, subcommands.
//! - [`datadir`]: the data directory and its lock.
//! - [`event`]: the shared vocabulary: `TournamentId`, `SubjectToken`, `Seq`, `MsgId`.
//! - [`feed`]: from the log to the screens: the in-memory projection and the hub's source.
//! - [`log`]: the event log (the truth): the `EventLog` trait, JetStream and memory
//!   implementations, and the supervised nats-server child.
//! - `planted` (only with the `planted-bugs` feature): bugs leaf-sim's checker must catch.
//! - [`qr`]: QR codes of viewer join links.
//! - [`store`]: LibSQL, migrations and derived state; knows nothing of HTTP or NATS.
//! - [`hub`]: the WebSocket hub: clients by scope, bounded queues, fan-out, disconnects.
//! - [`http`]: the axum router, middleware, thin handlers and the embedded web app.
//! - [`td`]: the offline `leaf td` subcommands for TD accounts.
//! - [`telemetry`]: tracing setup.
//! - [`tournaments`]: creating tournaments and appending events: durable in the log first.
//! - [`world`]: the clock and fresh ids, from the system (or from leaf-sim's seed).
//!
//! Dependencies point one way: `http` uses `hub`, `store` and `log`; those three use only
//! `event`; `app` wires them all.

pub mod app;
pub mod auth;
pub mod config;
pub mod datadir;
pub mod event;
pub mod feed;
pub mod http;
pub mod hub;
pub mod log;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod qr;
pub mod store;
pub mod td;
pub mod telemetry;
pub mod tournaments;
pub mod world;
