//! How many log reads clients may have running at once, overall and per reader.
//!
//! Every page a client makes leaf read from the log (a `GET …/events`, a page of a resume)
//! holds a permit while it is read. Past the budget a client is told to come back later
//! (`503` with `Retry-After`) instead of queueing work: a viewer link scripted into a loop,
//! or forty phones resuming from 0 at once, can take their share and no more, and the reads
//! of everyone else, the feed's tails and the TD's appends never wait behind them.
//!
//! A reader also has a rate: [`PAGES_PER_SECOND`], with a burst of [`BURST_PAGES`]. A
//! display that resumes reads a handful of pages; a script reading the same history in a
//! loop reads that many a second at most, whatever its concurrency, so it cannot take the
//! box's CPU from the appends and the screens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

/// Log reads running at once for all clients together. Each holds at most one page
/// ([`crate::log::PAGE_BYTES`]) in memory, so this bounds what reads can make leaf hold.
pub const MAX_READS: usize = 32;
/// Log reads running at once for one reader (a TD account, a viewer link).
pub const MAX_READS_PER_READER: usize = 4;
/// Replays from the log one reader may have going at once. Each holds a page while its
/// socket drains, so this bounds what one viewer link can make leaf hold: about 8 MiB.
pub const MAX_REPLAYS_PER_READER: usize = 8;
/// Pages one reader may read per second, on average.
pub const PAGES_PER_SECOND: f64 = 20.0;
/// Pages one reader may read at once after a pause: a resume of [`super::MAX_REPLAY`]
/// events of everyday size is a few pages.
pub const BURST_PAGES: f64 = 40.0;
/// What a reader refused for concurrency is told to wait: a page takes milliseconds.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Past this many readers remembered, the idle ones with a full bucket are forgotten.
const REMEMBERED: usize = 1024;

/// Who reads, for the per-reader share: a TD account or a viewer link, never an address (a
/// venue's phones share one Wi-Fi address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reader(String);

impl Reader {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

/// The budget was spent: retry after the given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many reads of the event log; retry in {} s", .retry_after.as_secs().max(1))]
pub struct ReadsBusy {
    pub retry_after: Duration,
}

/// A cheap handle; clones share one budget.
#[derive(Debug, Clone)]
pub struct ReadBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    overall: Arc<Semaphore>,
    per_reader: usize,
    rate: f64,
    burst: f64,
    readers: Mutex<HashMap<Reader, Share>>,
}

/// One reader's use of the budget.
#[derive(Debug, Clone, Copy)]
struct Share {
    running: usize,
    /// Replays from the log going on (see [`ReplaySlot`]).
    replays: usize,
    /// Pages it may start now (a token bucket).
    pages: f64,
    refilled: Instant,
}

impl Share {
    fn new(burst: f64, now: Instant) -> Self {
        Self {
            running: 0,
            replays: 0,
            pages: burst,
            refilled: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.pages = (self.pages + elapsed * rate).min(burst);
        self.refilled = now;
    }
}

/// One read's place in the budget, given back when dropped.
#[derive(Debug)]
pub struct ReadPermit {
    _overall: OwnedSemaphorePermit,
    reader: Reader,
    budget: ReadBudget,
}

impl Drop for ReadPermit {
    fn drop(&mut self) {
        if let Some(share) = self.budget.readers().get_mut(&self.reader) {
            share.running = share.running.saturating_sub(1);
        }
    }
}

/// One replay's place, given back when dropped.
#[derive(Debug)]
pub struct ReplaySlot {
    reader: Reader,
    budget: ReadBudget,
}

impl Drop for ReplaySlot {
    fn drop(&mut self) {
        if let Some(share) = self.budget.readers().get_mut(&self.reader) {
            share.replays = share.replays.saturating_sub(1);
        }
    }
}

impl Default for ReadBudget {
    fn default() -> Self {
        Self::new(MAX_READS, MAX_READS_PER_READER)
    }
}

impl ReadBudget {
    /// A budget of `overall` reads at once, `per_reader` of them for one reader, at the
    /// default rate per reader.
    pub fn new(overall: usize, per_reader: usize) -> Self {
        Self::with_rate(overall, per_reader, PAGES_PER_SECOND, BURST_PAGES)
    }

    /// A budget whose readers may read `rate` pages a second after a burst of `burst`.
    pub fn with_rate(overall: usize, per_reader: usize, rate: f64, burst: f64) -> Self {
        Self {
            inner: Arc::new(Inner {
                overall: Arc::new(Semaphore::new(overall.max(1))),
                per_reader: per_reader.max(1),
                rate: rate.max(0.01),
                burst: burst.max(1.0),
                readers: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, HashMap<Reader, Share>> {
        self.inner.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A permit now, or [`ReadsBusy`] if `reader` or everyone together is at the limit.
    pub fn try_acquire(&self, reader: &Reader) -> Result<ReadPermit, ReadsBusy> {
        let (rate, burst) = (self.inner.rate, self.inner.burst);
        let now = Instant::now();
        let mut readers = self.readers();
        if readers.len() > REMEMBERED {
            readers.retain(|_, share| {
                share.refill(rate, burst, now);
                share.running > 0 || share.replays > 0 || share.pages < burst
            });
        }
        let share = readers
            .entry(reader.clone())
            .or_insert_with(|| Share::new(burst, now));
        share.refill(rate, burst, now);
        if share.pages < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - share.pages) / rate);
            return Err(ReadsBusy { retry_after: wait });
        }
        let busy = ReadsBusy {
            retry_after: RETRY_AFTER,
        };
        if share.running >= self.inner.per_reader {
            return Err(busy);
        }
        let overall = match self.inner.overall.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => return Err(busy),
        };
        share.running += 1;
        share.pages -= 1.0;
        Ok(ReadPermit {
            _overall: overall,
            reader: reader.clone(),
            budget: self.clone(),
        })
    }

    /// A permit as soon as one is free, trying for up to `patience`. For a reader whose own
    /// task waits (a socket's replay), so its waiting holds up nobody else.
    pub async fn acquire(
        &self,
        reader: &Reader,
        patience: Duration,
    ) -> Result<ReadPermit, ReadsBusy> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut delay = Duration::from_millis(10);
        loop {
            match self.try_acquire(reader) {
                Ok(permit) => return Ok(permit),
                Err(busy) if tokio::time::Instant::now() + delay > deadline => return Err(busy),
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    /// A place for one more replay from the log by `reader`, held until the replay ends.
    pub fn start_replay(&self, reader: &Reader) -> Result<ReplaySlot, ReadsBusy> {
        let now = Instant::now();
        let mut readers = self.readers();
        let share = readers
            .entry(reader.clone())
            .or_insert_with(|| Share::new(self.inner.burst, now));
        if share.replays >= MAX_REPLAYS_PER_READER {
            return Err(ReadsBusy {
                retry_after: RETRY_AFTER,
            });
        }
        share.replays += 1;
        Ok(ReplaySlot {
            reader: reader.clone(),
            budget: self.clone(),
        })
    }

    /// Reads running now, for health.
    pub fn running_reads(&self) -> usize {
        self.readers().values().map(|share| share.running).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_reader_reads_at_its_rate_after_a_burst() {
        let budget = ReadBudget::with_rate(8, 8, 2.0, 3.0);
        let reader = Reader::new("viewer:a");
        for _ in 0..3 {
            drop(budget.try_acquire(&reader).unwrap());
        }
        let refused = budget.try_acquire(&reader).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert!(
            budget.try_acquire(&Reader::new("viewer:b")).is_ok(),
            "another reader has its own rate"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(budget.try_acquire(&reader).is_ok(), "a page a half second");
        assert!(budget.try_acquire(&reader).is_err());
    }

    #[test]
    fn one_reader_has_a_few_replays_going_at_most() {
        let budget = ReadBudget::default();
        let reader = Reader::new("viewer:a");
        let slots: Vec<_> = (0..MAX_REPLAYS_PER_READER)
            .map(|_| budget.start_replay(&reader).unwrap())
            .collect();
        assert!(budget.start_replay(&reader).is_err());
        assert!(budget.start_replay(&Reader::new("viewer:b")).is_ok());
        drop(slots);
        assert!(budget.start_replay(&reader).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn one_reader_takes_its_share_and_no_more() {
        let budget = ReadBudget::new(3, 2);
        let (a, b) = (Reader::new("viewer:a"), Reader::new("viewer:b"));
        let first = budget.try_acquire(&a).unwrap();
        let _second = budget.try_acquire(&a).unwrap();
        assert!(
            budget.try_acquire(&a).is_err(),
            "a third read of one reader"
        );
        let _other = budget.try_acquire(&b).unwrap();
        assert!(
            budget.try_acquire(&b).is_err(),
            "past the overall budget of 3"
        );
        drop(first);
        assert!(
            budget.try_acquire(&a).is_ok(),
            "a finished read frees its place"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permits_given_back_leave_nothing_running_and_idle_readers_are_forgotten() {
        let budget = ReadBudget::new(4, 4);
        let permits: Vec<_> = (0..4)
            .map(|n| budget.try_acquire(&Reader::new(format!("r{n}"))).unwrap())
            .collect();
        assert_eq!(budget.running_reads(), 4);
        drop(permits);
        assert_eq!(budget.running_reads(), 0);
        for n in 0..=REMEMBERED {
            drop(
                budget
                    .try_acquire(&Reader::new(format!("many{n}")))
                    .unwrap(),
            );
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(budget.try_acquire(&Reader::new("one more")).unwrap());
        assert!(budget.readers().len() <= 2, "{}", budget.readers().len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_patient_reader_gets_a_place_once_one_is_free() {
        let budget = ReadBudget::new(1, 1);
        let reader = Reader::new("viewer:a");
        let held = budget.try_acquire(&reader).unwrap();
        let waiting = {
            let (budget, reader) = (budget.clone(), reader.clone());
            tokio::spawn(async move { budget.acquire(&reader, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert!(waiting.await.unwrap().is_ok());
        let _held = budget.try_acquire(&reader).unwrap();
        assert!(
            budget
                .acquire(&reader, Duration::from_millis(300))
                .await
                .is_err(),
            "gives up after its patience"
        );
    }
}
