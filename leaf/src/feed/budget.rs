//! How many log reads clients may have running at once, overall and per reader.
//!
//! Every page a client makes leaf read from the log (a `GET …/events`, a page of a resume)
//! holds a permit while it is read. Past the budget a client is told to come back later
//! (`503` with `Retry-After`) instead of queueing work: a viewer link scripted into a loop,
//! or forty phones resuming from 0 at once, can take their share and no more, and the reads
//! of everyone else, the feed's tails and the TD's appends never wait behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Log reads running at once for all clients together. Each holds at most one page
/// ([`crate::log::PAGE_BYTES`]) in memory, so this bounds what reads can make leaf hold.
pub const MAX_READS: usize = 32;
/// Log reads running at once for one reader (a TD account, a viewer link).
pub const MAX_READS_PER_READER: usize = 4;
/// What a refused reader is told to wait: a page takes milliseconds.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

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
#[error("too many reads of the event log are running; retry in {} s", .retry_after.as_secs())]
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
    running: Mutex<HashMap<Reader, usize>>,
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
        let mut running = self.budget.running();
        if let Some(n) = running.get_mut(&self.reader) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.reader);
            }
        }
    }
}

impl Default for ReadBudget {
    fn default() -> Self {
        Self::new(MAX_READS, MAX_READS_PER_READER)
    }
}

impl ReadBudget {
    pub fn new(overall: usize, per_reader: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                overall: Arc::new(Semaphore::new(overall.max(1))),
                per_reader: per_reader.max(1),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Reader, usize>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A permit now, or [`ReadsBusy`] if `reader` or everyone together is at the limit.
    pub fn try_acquire(&self, reader: &Reader) -> Result<ReadPermit, ReadsBusy> {
        let busy = ReadsBusy {
            retry_after: RETRY_AFTER,
        };
        let mut running = self.running();
        let mine = running.get(reader).copied().unwrap_or(0);
        if mine >= self.inner.per_reader {
            return Err(busy);
        }
        let overall = match self.inner.overall.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => return Err(busy),
        };
        running.insert(reader.clone(), mine + 1);
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

    /// Reads running now, for health.
    pub fn running_reads(&self) -> usize {
        self.running().values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reader_takes_its_share_and_no_more() {
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

    #[test]
    fn permits_given_back_leave_nothing_behind() {
        let budget = ReadBudget::new(4, 4);
        let permits: Vec<_> = (0..4)
            .map(|n| budget.try_acquire(&Reader::new(format!("r{n}"))).unwrap())
            .collect();
        assert_eq!(budget.running_reads(), 4);
        drop(permits);
        assert_eq!(budget.running_reads(), 0);
        assert!(budget.running().is_empty());
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
