//! Writes the feed's changes into LibSQL, in batches, off the broadcast path.
//!
//! The feed hands every change to an unbounded channel (a send never waits, so a slow disk
//! can never delay a display); this task drains it in batches of up to [`BATCH`] and writes
//! each batch in one transaction with the cursor. A failed write is logged; the cursor did
//! not move, so the next start re-applies from the log.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{ProjectionUpdate, Store};

/// Changes per transaction: a catch-up of thousands of events costs a handful of commits.
const BATCH: usize = 500;

pub(super) fn spawn(store: Store) -> (mpsc::UnboundedSender<ProjectionUpdate>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ProjectionUpdate>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let n = batch.len();
            if let Err(e) = store.apply_projection(std::mem::take(&mut batch)).await {
                tracing::error!(error = %e, changes = n, "projection write failed; it is re-applied from the log at the next start");
            }
        }
    });
    (tx, task)
}
