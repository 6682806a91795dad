//! How fast sign-ins may be tried: a PIN is short, so guessing must be slow.
//!
//! Two limits, checked before any PIN is hashed:
//! - per client address: at most [`MAX_ATTEMPTS`] per [`WINDOW`], whatever the name;
//! - per name: every attempt counts as a failure the moment it is let through (so requests
//!   sent together cannot slip through one window), and a success clears the count. After
//!   [`FREE_FAILURES`], each further attempt waits, from 1 s doubling up to [`MAX_BACKOFF`].
//!   So many addresses together (a subnet, a botnet on the venue Wi-Fi) get no more guesses
//!   at one account than one address would: 288 a day at most, a year or more for even odds
//!   at a 6-digit PIN.
//!
//! The trade-off: anyone can keep a name waiting with one wrong PIN every [`MAX_BACKOFF`];
//! its TD then signs in once the window opens, or the box's owner uses another TD account.
//! The back-off applies to every well-formed name, existing or not, so a refusal says
//! nothing about which names exist.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::OperatorName;

/// At most this many attempts per address per [`WINDOW`]: plenty for a TD who mistypes.
pub const MAX_ATTEMPTS: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Failures in a row a name may have before its attempts must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts at one name: 288 guesses a day at most.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Addresses and names remembered before stale ones are pruned, so a flood of either cannot
/// grow memory without bound.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    // A std mutex: a few map operations, never held across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    by_address: HashMap<Option<IpAddr>, VecDeque<Instant>>,
    by_name: HashMap<OperatorName, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// How long after the last failure the next attempt must wait.
    fn backoff(&self) -> Duration {
        match self.count.checked_sub(FREE_FAILURES) {
            None => Duration::ZERO,
            Some(over) => Duration::from_secs(1u64 << over.min(16)).min(MAX_BACKOFF),
        }
    }
}

impl LoginLimiter {
    /// Records an attempt from `addr` (None when unknown) at `name` (None when it is not a
    /// well-formed name, which can never sign in); `Err(retry_after)` if either limit says
    /// wait. A refused attempt counts against neither. A let-through attempt counts as a
    /// failure of `name` until [`LoginLimiter::succeeded`] says otherwise, so attempts sent
    /// together cannot all slip through one window.
    pub fn attempt(
        &self,
        addr: Option<IpAddr>,
        name: Option<&OperatorName>,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(failures) = name.and_then(|name| state.by_name.get(name)) {
            let wait = failures.backoff().saturating_sub(now - failures.last);
            if !wait.is_zero() {
                return Err(wait);
            }
        }
        if state.by_address.len() >= MAX_REMEMBERED {
            state
                .by_address
                .retain(|_, times| times.back().is_some_and(|t| now - *t < WINDOW));
        }
        let times = state.by_address.entry(addr).or_default();
        while times.front().is_some_and(|t| now - *t >= WINDOW) {
            times.pop_front();
        }
        if times.len() >= MAX_ATTEMPTS {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(WINDOW.saturating_sub(now - oldest));
        }
        times.push_back(now);
        if let Some(name) = name {
            state.fail(name, now);
        }
        Ok(())
    }

    /// A sign-in to `name` succeeded: its failures are forgotten.
    pub fn succeeded(&self, name: &OperatorName) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.by_name.remove(name);
    }
}

impl State {
    /// Counts a failure of `name` at `now`.
    fn fail(&mut self, name: &OperatorName, now: Instant) {
        let state = self;
        if state.by_name.len() >= MAX_REMEMBERED {
            // Names quiet for longer than the longest back-off have nothing left to wait out.
            state.by_name.retain(|_, f| now - f.last < MAX_BACKOFF * 2);
        }
        let failures = state.by_name.entry(name.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> OperatorName {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_is_slowed_after_its_attempts_and_others_are_not() {
        let limiter = LoginLimiter::default();
        let a = Some("10.0.0.7".parse().unwrap());
        let b = Some("10.0.0.8".parse().unwrap());
        for _ in 0..MAX_ATTEMPTS {
            limiter.attempt(a, None).unwrap();
        }
        let retry = limiter.attempt(a, None).unwrap_err();
        assert!(retry <= WINDOW && retry > Duration::ZERO);
        limiter.attempt(b, None).unwrap();
        tokio::time::advance(WINDOW).await;
        limiter.attempt(a, None).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn failures_at_one_name_slow_it_down_from_every_address() {
        let limiter = LoginLimiter::default();
        let alice = name("alice");
        let address = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        // Attempts in flight together count at once: the sixth waits even before any of the
        // first five has been answered.
        for n in 0..FREE_FAILURES as u8 {
            limiter.attempt(address(n), Some(&alice)).unwrap();
        }
        // A fresh address is no way around it, nor is the right PIN.
        assert_eq!(
            limiter.attempt(address(99), Some(&alice)),
            Err(Duration::from_secs(1))
        );
        // Other names are not slowed.
        limiter.attempt(address(99), Some(&name("bob"))).unwrap();
        // Each further failure doubles the wait, up to the ceiling.
        let mut waits = Vec::new();
        for _ in 0..12 {
            let wait = limiter.attempt(address(1), Some(&alice)).unwrap_err();
            waits.push(wait.as_secs());
            tokio::time::advance(wait).await;
            limiter.attempt(address(1), Some(&alice)).unwrap();
        }
        assert_eq!(&waits[..4], &[1, 2, 4, 8]);
        assert_eq!(waits.last(), Some(&MAX_BACKOFF.as_secs()));
        // A success clears the name's record.
        tokio::time::advance(MAX_BACKOFF).await;
        limiter.attempt(address(2), Some(&alice)).unwrap();
        limiter.succeeded(&alice);
        limiter.attempt(address(3), Some(&alice)).unwrap();
    }
}
