//! Writes the feed's changes into LibSQL, in batches, off the broadcast path.
//!
//! The feed hands every change to an unbounded channel (a send never waits, so a slow disk
//! can never delay a display); this task drains it in batches of up to [`BATCH`] and writes
//! each batch in one transaction with the cursor. A failed batch is retried, with back-off,
//! before anything newer is written, so the cursor never passes a change that is not in
//! LibSQL.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{ProjectionUpdate, Store, StoreError};

/// Changes per transaction: a catch-up of thousands of events costs a handful of commits.
const BATCH: usize = 500;

pub(super) fn spawn(store: Store) -> (mpsc::UnboundedSender<ProjectionUpdate>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ProjectionUpdate>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let mut delay = Duration::from_millis(100);
            loop {
                match store.apply_projection(batch.clone()).await {
                    Ok(()) => break,
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::error!(error = %e, changes = batch.len(), retry_in = ?delay, "projection write failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            batch.clear();
        }
    });
    (tx, task)
}
