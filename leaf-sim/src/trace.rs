//! A shared, ordered record of what the simulated hosts observed. Two runs of one seed must
//! produce the same trace, line for line; its hash is what the determinism test compares.

use std::cell::RefCell;
use std::hash::Hasher;
use std::rc::Rc;
use std::time::Duration;

/// Cheap to clone; all clones append to one list. Not `Send`: a simulation runs on one thread.
#[derive(Debug, Clone, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    /// Records one observation, stamped with the simulated time.
    pub fn record(&self, host: &str, what: impl Into<String>) {
        self.record_at(turmoil::sim_elapsed().unwrap_or(Duration::ZERO), host, what);
    }

    /// Records one observation at `at`, for the driver, which runs outside the hosts.
    pub fn record_at(&self, at: Duration, host: &str, what: impl Into<String>) {
        let line = format!(
            "{:>9.3}ms {host}: {}",
            at.as_secs_f64() * 1000.0,
            what.into()
        );
        tracing::debug!("{line}");
        self.0.borrow_mut().push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// FNV-1a over the lines: stable across Rust versions, unlike `DefaultHasher`'s promise.
pub fn hash(lines: &[String]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for line in lines {
        h.write(line.as_bytes());
        h.write(b"\n");
    }
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}
