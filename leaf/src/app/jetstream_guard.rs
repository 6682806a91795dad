//! Brings JetStream back after it shut itself down.
//!
//! nats-server disables JetStream when a write to its store fails in some ways (permission
//! denied; clustered, a full disk: "JetStream out of File resources, will be DISABLED") and
//! leaves it off until the server restarts. Since 2.14 a stream whose store write fails (a
//! full disk) refuses every write after it, without answering the publisher, until the
//! server restarts, even once there is room again: `HEALTHZ` says so, and leaf treats it
//! the same way.
//! While it is off, the log tells every append as `storage_full` (see
//! [`JetStreamLog::check_jetstream`]) and reads keep working from what leaf holds; once the
//! disk has room again, leaf restarts its own nats-server, which opens the store as it was
//! and enables JetStream. Without a supervised server (`--nats-url`), bringing it back is the
//! operator's business: leaf only reports it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::log::storage::{DISK_RESERVE, disk_space};
use crate::log::supervisor::{JetStreamProbe, Restarter};
use crate::log::{JetStreamLog, JetStreamState};

/// How often JetStream is asked whether it is up: what a TD waits at most, beyond the
/// restart itself, after space is freed.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Free disk needed before a restart: the store must be able to take appends again.
const ROOM_TO_RESUME: u64 = 2 * DISK_RESERVE;
/// Between two restarts for this reason: a restart that did not help is not repeated at once.
const RESTART_AT_MOST_EVERY: Duration = Duration::from_secs(15);
/// JetStream up this long after a restart: that restart helped.
const STABLE_AFTER: Duration = Duration::from_secs(600);
/// The longest wait between two restarts that do not help.
const RESTART_AT_MOST_EVERY_AFTER_FAILURES: Duration = Duration::from_secs(600);

/// What leaf can do about the nats-server it supervises.
pub struct Supervised {
    pub probe: JetStreamProbe,
    pub restarter: Restarter,
    /// The store's directory, whose disk must have room before a restart.
    pub store_dir: PathBuf,
}

/// Watches until `stop`; `supervised` is `None` for a server leaf does not supervise.
pub fn spawn(
    log: Arc<JetStreamLog>,
    supervised: Option<Supervised>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut was_disabled = false;
        let mut last_restart: Option<tokio::time::Instant> = None;
        // Doubles after each restart that did not bring JetStream back (its cause, a denied
        // write say, is still there), so a server with a large store is not restarted in a loop.
        let mut between_restarts = RESTART_AT_MOST_EVERY;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let ask = async {
                match &supervised {
                    Some(s) => {
                        let state = match s.probe.disabled().await {
                            Some(true) => JetStreamState::Disabled,
                            Some(false) => JetStreamState::Enabled,
                            None => JetStreamState::Unknown,
                        };
                        log.note_jetstream(state);
                        state
                    }
                    None => log.check_jetstream().await,
                }
            };
            let state = tokio::select! {
                () = stop.cancelled() => return,
                state = ask => state,
            };
            match state {
                JetStreamState::Enabled if was_disabled => {
                    was_disabled = false;
                    tracing::warn!("JetStream is back: appends are taken again");
                }
                JetStreamState::Disabled => {
                    if !was_disabled {
                        was_disabled = true;
                        tracing::error!(
                            "nats-server disabled JetStream (a full disk?): appends are refused with storage_full until there is room again"
                        );
                    }
                    let Some(Supervised {
                        restarter,
                        store_dir,
                        ..
                    }) = &supervised
                    else {
                        continue;
                    };
                    let free = disk_space(store_dir).map(|(free, _)| free).unwrap_or(0);
                    let recently = last_restart.is_some_and(|at| at.elapsed() < between_restarts);
                    if free >= ROOM_TO_RESUME && !recently {
                        if last_restart.is_some() {
                            between_restarts =
                                (between_restarts * 2).min(RESTART_AT_MOST_EVERY_AFTER_FAILURES);
                            tracing::error!(
                                next_in_s = between_restarts.as_secs(),
                                "restarting nats-server did not bring JetStream back; its log says why"
                            );
                        }
                        last_restart = Some(tokio::time::Instant::now());
                        restarter.request(format!(
                            "JetStream is disabled and the disk has room again ({} MB free)",
                            free / (1024 * 1024)
                        ));
                    }
                }
                JetStreamState::Enabled => {
                    // A restart that helped for a while: the next disable starts afresh. A
                    // server that comes back only to disable itself again at the next write
                    // keeps its back-off.
                    if last_restart.is_some_and(|at| at.elapsed() > STABLE_AFTER) {
                        last_restart = None;
                        between_restarts = RESTART_AT_MOST_EVERY;
                    }
                }
                JetStreamState::Unknown => {}
            }
        }
    })
}
