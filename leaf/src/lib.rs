//! leaf, the venue node of Felt: the system of record for every tournament at one venue.
//!
//! A Tournament Director (TD) acts through the web console; the action becomes an event in a
//! durable log; displays and phones watching that tournament see it live over WebSocket.
//!
//! # Layout
//! The path of one event, then the rooms around it:
//! - [`http`]: the axum router, middleware, thin handlers, the WebSocket upgrade and the
//!   embedded web app. Handlers call the writer, the feed or the auth service, nothing deeper.
//! - [`writer`]: the write side: creating tournaments and appending events, durable in the
//!   log first.
//! - [`log`]: the event log, the truth: the `EventLog` trait, its JetStream and memory
//!   implementations, the record format, subjects, and the supervised nats-server child.
//! - [`feed`]: the read side, from the log to the screens: the in-memory view, the resume
//!   cache, the broadcast of each event, and the projection into LibSQL.
//! - [`hub`]: the WebSocket hub: clients by scope, bounded queues, fan-out, disconnects, and
//!   the [`hub::protocol`] they speak.
//! - [`store`]: LibSQL: migrations, TD accounts, viewer links, the projection tables.
//! - [`auth`]: TD accounts and PINs, signed tokens, viewer links, login rate limits, all
//!   behind one `AuthService`.
//! - [`event`]: the shared vocabulary: `Event`, `TournamentSummary`, `TournamentId`, `Seq`,
//!   `MsgId`, `SubjectToken`, `TournamentName`, `OperatorName`.
//! - [`app`]: builds and [`app::wire`]s the subsystems (one wiring, shared with leaf-sim) and
//!   owns the startup and shutdown order.
//! - [`metrics`]: the Prometheus page at `/metrics`: instruments, and a snapshot of health.
//! - [`backup`]: backups of the log, leaf.db and the token key, their format, and restores.
//! - [`uplink`]: the venue's log replicated to a central NATS cluster: the venue id, the
//!   leafnode remote, the central streams, and the watcher that nudges and reports.
//! - [`central`]: the other end: leaf started against the central cluster, serving every
//!   venue's copy read-only under `/venues/<id>/`.
//! - [`config`] (the command line), `datadir` (the data directory and its lock), `qr` (QR
//!   codes of viewer links), `schema` (how validated types describe themselves in the API
//!   document), [`td`] (the offline `leaf td` subcommands), [`telemetry`]
//!   (tracing), [`world`] (the clock and fresh ids, from the system or leaf-sim's seed).
//! - `planted` (only with the `planted-bugs` feature): bugs leaf-sim's checker must catch;
//!   `test_hooks` (only with `test-hooks`): moments the crash suites make leaf die at.
//!
//! Dependencies point one way: `app` → `http` → `writer`, `feed`, `auth` → `hub`, `log`,
//! `store` → `event`. `writer` uses `feed` (to learn heads and wait for its own appends);
//! `feed` uses `hub`, `log` and `store`; `log`, `store` and `hub` know nothing of each other,
//! of HTTP, or of the rooms above them.

pub mod app;
pub mod auth;
pub mod backup;
pub mod central;
pub mod config;
pub mod datadir;
pub mod event;
pub mod feed;
pub mod http;
pub mod hub;
pub mod log;
pub mod metrics;
#[cfg(feature = "planted-bugs")]
pub mod planted;
mod qr;
mod schema;
pub mod store;
pub mod td;
pub mod telemetry;
#[cfg(feature = "test-hooks")]
mod test_hooks;
pub mod tls;
pub mod uplink;
pub mod world;
pub mod writer;
