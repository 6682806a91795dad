//! The argon2 checks of sign-ins, on a small bounded pool.
//!
//! Each check costs tens of milliseconds of a core and ~19 MiB of memory, on purpose. Run
//! without a bound, a flood of sign-ins takes every core and gigabytes of memory, and with
//! them the appends and displays of the whole venue. So at most [`PIN_CHECK_WORKERS`] run at
//! once and at most [`PIN_CHECK_QUEUE`] wait; past that a sign-in is refused at once (429)
//! rather than queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// PIN checks at once: one core, leaving the other to the venue.
pub const PIN_CHECK_WORKERS: usize = 1;
/// PIN checks waiting for a worker: a TD behind a full queue still signs in within a second.
pub const PIN_CHECK_QUEUE: usize = 8;

/// Every worker busy and the queue full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins at once")]
pub struct Busy;

#[derive(Debug)]
pub struct PinChecks {
    workers: Arc<Semaphore>,
    /// Checks running or waiting.
    admitted: AtomicUsize,
    limit: usize,
}

impl Default for PinChecks {
    fn default() -> Self {
        Self::new(PIN_CHECK_WORKERS, PIN_CHECK_QUEUE)
    }
}

impl PinChecks {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            workers: Arc::new(Semaphore::new(workers.max(1))),
            admitted: AtomicUsize::new(0),
            limit: workers.max(1) + queue,
        }
    }

    /// Runs `check` on a blocking thread once a worker is free; [`Busy`] at once if too many
    /// are already running or waiting. `None` if the check itself panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        // Leaves the count however this ends, a dropped request included.
        let _admitted = Admitted(&self.admitted);
        let Ok(worker) = self.workers.clone().acquire_owned().await else {
            return Ok(None);
        };
        let done = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            check()
        });
        Ok(done.await.ok())
    }
}

struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_workers_and_the_queue_a_check_is_refused_at_once() {
        let checks = Arc::new(PinChecks::new(1, 1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let blocked = {
            let (checks, wait) = (checks.clone(), wait.clone());
            tokio::spawn(async move {
                checks
                    .run(move || wait.lock().map(|w| w.recv().is_ok()).unwrap_or(false))
                    .await
            })
        };
        let queued = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.run(|| true).await })
        };
        // Until both are admitted, the third may or may not fit; once they are, it never does.
        while checks.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(checks.run(|| true).await, Err(Busy));
        release.send(()).unwrap();
        assert_eq!(blocked.await.unwrap(), Ok(Some(true)));
        assert_eq!(queued.await.unwrap(), Ok(Some(true)));
        // All done: room again.
        assert_eq!(checks.run(|| 7).await, Ok(Some(7)));
    }
}
