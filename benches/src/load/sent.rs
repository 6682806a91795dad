//! When each append was sent, readable by every client task without a lock: append `n`
//! stores its send time (nanoseconds since the run's epoch) in slot `n`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub struct SentTimes {
    epoch: Instant,
    slots: Vec<AtomicU64>,
}

impl SentTimes {
    pub fn new(capacity: usize) -> Self {
        Self {
            epoch: Instant::now(),
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn mark(&self, n: usize) {
        if let Some(slot) = self.slots.get(n) {
            slot.store(self.now(), Ordering::Release);
        }
    }

    /// Microseconds since append `n` was sent, if it was.
    pub fn age_micros(&self, n: usize) -> Option<u64> {
        let sent = self.slots.get(n)?.load(Ordering::Acquire);
        (sent > 0).then(|| self.now().saturating_sub(sent) / 1_000)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }
}
