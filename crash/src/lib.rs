//! Crash suites for leaf: proof that JetStream, and leaf on top of it, keep every
//! acknowledged event across kill -9 and power loss.
//!
//! The suites live in `tests/`; this library is their harness:
//!
//! - [`engine`] and [`nats_node`]: nats-server in a local `FROM scratch` container through
//!   testcontainers, killed with SIGKILL and restarted on the same store.
//! - [`lazyfs`]: a FUSE filesystem that keeps written data in memory until fsync and can
//!   throw the rest away, as a power cut does (Jepsen's LazyFS method).
//! - [`stream_writer`], [`stream_reader`], [`stream_ledger`]: raw JetStream writers and the
//!   check of what a restarted server holds against what it acknowledged.
//! - [`leaf_node`], [`leaf_api`], [`console`], [`display`], [`projection_probe`],
//!   [`event_ledger`]: the leaf binary under TD consoles and table displays, and the check of
//!   log, projection and displays against every 201.
//! - [`stream_suite`], [`leaf_suite`]: the crash loops themselves.
//! - [`small_disk`]: a small tmpfs to fill, for the disk-full suite; [`appenders`]: TDs
//!   appending at once, for it and the backup drill.
//! - [`central_cluster`], [`tcp_proxy`], [`uplink_check`]: a central cluster of three in
//!   containers, a link of the suite's own to cut, and the check of each central copy against
//!   its venue's stream, for the uplink suite.
//! - [`findings`]: what the checks found, and the one summary line each suite prints.
//!
//! `make test-crash` starts a private Docker engine (ci/docker.sh) and runs the suites.

pub mod appenders;
pub mod central_cluster;
pub mod console;
pub mod display;
pub mod engine;
pub mod event_ledger;
pub mod findings;
pub mod lazyfs;
pub mod leaf_api;
pub mod leaf_node;
pub mod leaf_suite;
pub mod nats_node;
pub mod projection_probe;
pub mod schedule;
pub mod small_disk;
pub mod stream_ledger;
pub mod stream_reader;
pub mod stream_suite;
pub mod stream_writer;
pub mod tcp_proxy;
pub mod uplink_check;

/// Why the harness itself could not do its job (as opposed to a finding about the system).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("docker: {0}")]
    Docker(String),
    #[error("set-up: {0}")]
    Setup(String),
    #[error("event log: {0}")]
    Log(String),
    #[error("lazyfs: {0}")]
    Fuse(String),
    #[error("projection: {0}")]
    Projection(String),
}
