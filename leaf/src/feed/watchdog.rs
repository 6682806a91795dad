//! Keeps the feed honest about keeping up with the log, and heals it when it does not.
//!
//! A tail can go quiet without failing: a consumer the server dropped (a slow-consumer cut,
//! a restart) may simply stop delivering, and then an acknowledged event never reaches the
//! screens, and every later append to its tournament is refused for a stale head. Two things
//! catch that:
//! - an append that the log acknowledged and the feed has not applied within [`HEAL_AFTER`]
//!   asks the tails to reopen from where the feed is (see `Feed::wait_applied`);
//! - every [`CHECK_EVERY`] the watchdog compares where each stream ends (from the log's own
//!   bookkeeping) with what the feed applied. What the log held at the previous check and
//!   the feed still has not applied (and that a read shows is there to apply) is lag: health
//!   says `degraded` with the figure, and if the feed has not moved since the previous check,
//!   the tails reopen.

use std::time::Duration;

use serde::Serialize;

use super::{Feed, applied_through};
use crate::event::Seq;
use crate::log::{Filter, StreamName};

/// How long an acknowledged message may be missing from the feed before its tails reopen.
/// Applying a message takes microseconds; this is long enough to never reopen a healthy tail
/// under load, and short enough that a screen stays stale for under a second.
pub const HEAL_AFTER: Duration = Duration::from_millis(300);
/// How often the watchdog compares the feed with the log's ends.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The log's ends must come back quickly, or the check is skipped this round.
const END_TIMEOUT: Duration = Duration::from_secs(1);

/// How far the feed is behind the log, in messages per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Lag {
    pub state: u64,
    pub audit: u64,
}

impl Lag {
    pub fn is_zero(&self) -> bool {
        self.state == 0 && self.audit == 0
    }

    fn set(&mut self, stream: StreamName, behind: u64) {
        match stream {
            StreamName::State => self.state = behind,
            StreamName::Audit => self.audit = behind,
        }
    }
}

/// The feed's part of health.
#[derive(Debug, Clone, Serialize)]
pub struct FeedHealth {
    /// The feed has applied everything the log held a check ago.
    pub ok: bool,
    /// Messages the log holds that the feed has not applied, as of the last check.
    pub behind: Lag,
    /// Client reads of the log running now.
    pub reads: usize,
    /// Changes the feed applied that leaf.db does not hold yet (the projection catching up).
    pub projection_behind: u64,
}

impl Feed {
    /// Compares the feed with the log every [`CHECK_EVERY`] until the feed stops.
    pub(super) async fn watch_the_log(self) {
        // Per stream: where the log ended, and what the feed had applied, at the last check.
        let mut last = [(Seq::ZERO, Seq::ZERO); 2];
        loop {
            tokio::select! {
                biased;
                () = self.inner.stop.cancelled() => return,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let mut lag = Lag::default();
            for (stream, (end_before, applied_before)) in
                StreamName::ALL.into_iter().zip(last.iter_mut())
            {
                let end = tokio::time::timeout(END_TIMEOUT, self.inner.log.last_seq(stream)).await;
                // The log is down or slow: nothing to compare with, and reopening would not
                // help until it answers.
                let Ok(Ok(end)) = end else { continue };
                let applied = applied_through(self.applied(), stream);
                if applied < *end_before && self.more_after(stream, applied).await {
                    lag.set(stream, end.since(applied));
                    // Still where it was a check ago: the tail has stopped delivering.
                    if applied == *applied_before {
                        tracing::warn!(%stream, %applied, log_end = %end, "the feed is behind the event log; reopening its tail");
                        self.reopen_tails();
                    }
                }
                *end_before = end;
                *applied_before = applied;
            }
            self.inner.lag.send_replace(lag);
        }
    }

    /// Whether the log holds a message after `applied` that the feed's tail should deliver.
    /// The stream's end alone can mislead: its last message may have been deleted, or be one
    /// of an older configuration's subjects, which no tail of leaf's ever delivers.
    async fn more_after(&self, stream: StreamName, applied: Seq) -> bool {
        let next = self.inner.log.read(stream, Filter::All, applied, 1);
        matches!(tokio::time::timeout(END_TIMEOUT, next).await, Ok(Ok(page)) if !page.is_empty())
    }

    /// The feed's health: whether it keeps up with the log.
    pub fn health(&self) -> FeedHealth {
        let behind = *self.inner.lag.borrow();
        FeedHealth {
            ok: behind.is_zero(),
            behind,
            reads: self.budget().running_reads(),
            projection_behind: self.inner.projected_progress.behind(),
        }
    }
}

#[cfg(test)]
mod tests;
