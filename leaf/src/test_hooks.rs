//! Moments the crash suites make leaf die at, through environment variables, where a kill -9
//! from outside would need luck. Compiled only with the `test-hooks` feature (leaf-crash
//! enables it); the release binary has none of this.
//!
//! - `LEAF_TEST_KILL_BEFORE_AUDIT=<n>`: SIGKILL itself when the `n`th append of this run has
//!   answered its TD and is about to write its audit record.

use std::sync::atomic::{AtomicU64, Ordering};

// A workspace-wide `cargo build --release` unifies leaf-crash's features into leaf's: refuse
// to make a release binary that could kill itself.
#[cfg(not(debug_assertions))]
compile_error!(
    "the `test-hooks` feature is for debug builds of the crash suites only; build the release binary with `-p leaf`"
);

static AUDITS: AtomicU64 = AtomicU64::new(0);

/// Called by the writer just before an append's audit record is published.
pub fn before_audit() {
    let Some(n) = std::env::var("LEAF_TEST_KILL_BEFORE_AUDIT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if AUDITS.fetch_add(1, Ordering::SeqCst) + 1 == n {
        tracing::warn!(
            n,
            "test hook: killing leaf before this append's audit record"
        );
        // SAFETY: kill(2) on this very process, as `kill -9` would from outside.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
