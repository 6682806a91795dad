//! Writes the feed's changes into LibSQL, in batches, off the broadcast path.
//!
//! The feed hands every change to an unbounded channel (a send never waits, so a slow disk
//! can never delay a display); this task drains it in batches of up to [`BATCH`] and writes
//! each batch in one transaction with the cursor. A failed batch is retried, with back-off,
//! before anything newer is written, so the cursor never passes a change that is not in
//! LibSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::event::Seq;
use crate::store::{ProjectionUpdate, Store, StoreError};

/// Changes per transaction: a catch-up of thousands of events costs a handful of commits.
const BATCH: usize = 500;

/// How far LibSQL is behind the feed: changes handed over and changes written. A start
/// after a long outage, or a rebuild of leaf.db, shows here as a count that drains.
#[derive(Debug, Default)]
pub(super) struct Progress {
    sent: AtomicU64,
    written: AtomicU64,
    /// The STATE stream sequence through which LibSQL has every event (and its position).
    stored_state: AtomicU64,
}

impl Progress {
    /// Progress of a projection that already holds STATE through `stored`.
    pub(super) fn from(stored: Seq) -> Self {
        Self {
            stored_state: AtomicU64::new(stored.0),
            ..Self::default()
        }
    }

    /// The STATE stream sequence through which LibSQL has every event.
    pub(super) fn stored_state(&self) -> Seq {
        Seq(self.stored_state.load(Ordering::Relaxed))
    }

    pub(super) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes handed to the projector and not yet in LibSQL.
    pub(super) fn behind(&self) -> u64 {
        let written = self.written.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(written)
    }
}

pub(super) fn spawn(
    store: Store,
    progress: Arc<Progress>,
) -> (mpsc::UnboundedSender<ProjectionUpdate>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ProjectionUpdate>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let mut delay = Duration::from_millis(100);
            let state_through = batch
                .iter()
                .filter_map(|update| match update {
                    ProjectionUpdate::Event { stream_seq, .. } => Some(stream_seq.0),
                    _ => None,
                })
                .max();
            loop {
                match store.apply_projection(batch.clone()).await {
                    Ok(()) => {
                        progress
                            .written
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if let Some(through) = state_through {
                            progress.stored_state.fetch_max(through, Ordering::Relaxed);
                        }
                        break;
                    }
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
