//! Login attempts per client address: a PIN is short, so guessing must be slow.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most this many attempts per address per [`WINDOW`]: plenty for a TD who mistypes, and
/// a million-PIN space then takes years to search from one address.
pub const MAX_ATTEMPTS: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before old ones are pruned, so a flood of addresses cannot grow memory.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    // A std mutex: a few map operations, never held across an await.
    attempts: Mutex<HashMap<Option<IpAddr>, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Records an attempt from `addr` (None when unknown); `Err(retry_after)` if over the limit.
    pub fn attempt(&self, addr: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if attempts.len() >= MAX_ADDRESSES {
            attempts.retain(|_, times| times.back().is_some_and(|t| now - *t < WINDOW));
        }
        let times = attempts.entry(addr).or_default();
        while times.front().is_some_and(|t| now - *t >= WINDOW) {
            times.pop_front();
        }
        if times.len() >= MAX_ATTEMPTS {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(WINDOW.saturating_sub(now - oldest));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_address_is_slowed_after_its_attempts_and_others_are_not() {
        let limiter = LoginLimiter::default();
        let a = Some("10.0.0.7".parse().unwrap());
        let b = Some("10.0.0.8".parse().unwrap());
        for _ in 0..MAX_ATTEMPTS {
            limiter.attempt(a).unwrap();
        }
        let retry = limiter.attempt(a).unwrap_err();
        assert!(retry <= WINDOW && retry > Duration::ZERO);
        limiter.attempt(b).unwrap();
        tokio::time::advance(WINDOW).await;
        limiter.attempt(a).unwrap();
    }
}
