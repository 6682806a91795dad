//! leaf's resident memory during a phase: sampled every [`EVERY`] for the phase's peak, with
//! a ceiling past which the flood is stopped, so that a leaf without read budgets (which
//! would hold every ~14 MB page it is asked for at once) cannot take the box down with it.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::figures::rss_bytes;

const EVERY: Duration = Duration::from_millis(100);
/// The ceiling's share of the memory the box has available when the run starts.
const CEILING_SHARE: u64 = 3;
/// When /proc/meminfo cannot be read.
const FALLBACK_CEILING: u64 = 4 << 30;

/// What a phase's sampling found.
#[derive(Debug, Clone, Copy)]
pub struct Peak {
    pub bytes: Option<u64>,
    /// When leaf passed the ceiling, from the start of sampling.
    pub ceiling_passed: Option<Duration>,
}

pub struct Watch {
    done: CancellationToken,
    task: JoinHandle<Peak>,
}

/// Samples `pid` until [`Watch::finish`]; passing `ceiling` bytes cancels `on_ceiling`.
pub fn watch(pid: u32, ceiling: u64, on_ceiling: CancellationToken) -> Watch {
    let done = CancellationToken::new();
    let until = done.clone();
    let task = tokio::spawn(async move {
        let begun = Instant::now();
        let mut peak = Peak {
            bytes: None,
            ceiling_passed: None,
        };
        let mut tick = tokio::time::interval(EVERY);
        while until.run_until_cancelled(tick.tick()).await.is_some() {
            let Some(rss) = rss_bytes(pid) else { continue };
            peak.bytes = peak.bytes.max(Some(rss));
            if rss > ceiling && peak.ceiling_passed.is_none() {
                peak.ceiling_passed = Some(begun.elapsed());
                on_ceiling.cancel();
            }
        }
        peak
    });
    Watch { done, task }
}

impl Watch {
    pub async fn finish(self) -> anyhow::Result<Peak> {
        self.done.cancel();
        Ok(self.task.await?)
    }
}

/// A third of the memory available now.
pub fn ceiling() -> u64 {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
    available.map_or(FALLBACK_CEILING, |bytes| bytes / CEILING_SHARE)
}
