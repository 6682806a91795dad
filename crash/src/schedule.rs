//! Seeds and cycle counts. The kill moments come from a seed that every suite prints, so a
//! failing schedule can be run again (`LEAF_CRASH_SEED=<n>`); the interleaving of threads and
//! I/O around those moments is real, and so not reproducible to the microsecond.

use std::time::Duration;

use crate::HarnessError;
use crate::findings::emit;

/// What every suite starts with: its seed (announced, so a failure can be replayed), the
/// random numbers drawn from it, and a scratch directory named after the suite.
pub struct Start {
    pub seed: u64,
    pub rng: fastrand::Rng,
    pub dir: tempfile::TempDir,
}

pub fn start(name: &str, cycles: u32) -> Result<Start, HarnessError> {
    let seed = seed();
    emit(&format!(
        "crash-suite {name}: seed {seed} (LEAF_CRASH_SEED={seed} replays the schedule), {cycles} cycles"
    ));
    let dir = tempfile::Builder::new()
        .prefix(&format!("crash-{name}-"))
        .tempdir()
        .map_err(|e| HarnessError::Setup(format!("temp dir: {e}")))?;
    Ok(Start {
        seed,
        rng: fastrand::Rng::with_seed(seed),
        dir,
    })
}

/// `LEAF_CRASH_SEED`, or a fresh seed from the clock.
fn seed() -> u64 {
    std::env::var("LEAF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        })
}

/// The suite's cycle count, or `LEAF_CRASH_CYCLES` for a longer soak. Never fewer than the
/// suite's own count: the minimums are what the suites promise.
pub fn cycles(minimum: u32) -> u32 {
    std::env::var("LEAF_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(minimum, |n: u32| n.max(minimum))
}

/// A moment to kill at, uniform in `lo..=hi` milliseconds.
pub fn kill_after(rng: &mut fastrand::Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.u64(lo..=hi))
}
