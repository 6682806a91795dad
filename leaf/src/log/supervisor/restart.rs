//! The restart policy: watch the running child, restart it with back-off when it dies or when
//! leaf asks (JetStream disabled itself on a full disk), stop it when leaf stops.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{ChildStatus, Launcher, Running, STOP_TIMEOUT};

/// Restart back-off: quick first (a crash is usually a one-off), doubling to a ceiling that
/// still brings a displays' log back within seconds once the cause is gone.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A child that ran this long before dying counts as healthy: the back-off starts over.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);

/// Watches the child; restarts it when it dies or `requests` asks; stops it when cancelled.
pub(super) async fn supervise(
    launcher: Launcher,
    mut running: Running,
    status: watch::Sender<ChildStatus>,
    mut requests: mpsc::Receiver<String>,
    cancel: CancellationToken,
) {
    let mut restarts = 0u32;
    // Kept across crashes: a server that comes up and dies again at once (a full disk, a
    // damaged store) must not be restarted several times a second forever.
    let mut backoff = Duration::ZERO;
    loop {
        let (reason, asked) = tokio::select! {
            exit = running.child.wait() => {
                let reason = match exit {
                    Ok(code) => code.to_string(),
                    Err(e) => format!("wait failed: {e}"),
                };
                // Give the output readers a moment to take the dying words.
                tokio::time::sleep(Duration::from_millis(20)).await;
                tracing::error!(
                    pid = running.pid,
                    reason = %reason,
                    last_output = %running.tail.last(5),
                    "nats-server exited unexpectedly; restarting it"
                );
                (reason, false)
            }
            Some(why) = requests.recv() => {
                tracing::warn!(pid = running.pid, reason = %why, "restarting nats-server");
                stop_child(&mut running).await;
                (format!("restarted by leaf: {why}"), true)
            }
            () = cancel.cancelled() => {
                stop_child(&mut running).await;
                status.send_modify(|s| s.running = false);
                return;
            }
        };
        status.send_modify(|s| {
            s.running = false;
            s.pid = None;
            s.last_exit = Some(reason.clone());
        });

        backoff = if asked || running.started.elapsed() > BACKOFF_RESET_AFTER {
            BACKOFF_FIRST
        } else {
            (backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX)
        };
        let ports = running.ports.clone();
        running = loop {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = cancel.cancelled() => return,
            }
            let attempt = tokio::select! {
                attempt = launcher.launch(Some(ports.clone())) => attempt,
                () = cancel.cancelled() => return,
            };
            match attempt {
                Ok(next) => break next,
                Err(e) => {
                    backoff = (backoff * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
                    tracing::error!(
                        error = %e,
                        client_port = ports.client,
                        retry_in = ?backoff,
                        "nats-server restart failed (it restarts on its old ports, which another program may have taken)"
                    );
                }
            }
        };
        restarts += 1;
        tracing::info!(pid = running.pid, restarts, "nats-server restarted");
        let mut next = running.status(restarts);
        next.last_exit = Some(reason);
        status.send_replace(next);
    }
}

async fn stop_child(running: &mut Running) {
    let started = Instant::now();
    // SAFETY: kill(2) with a pid we own and a valid signal number.
    unsafe {
        libc::kill(running.pid as libc::pid_t, libc::SIGTERM);
    }
    match tokio::time::timeout(STOP_TIMEOUT, running.child.wait()).await {
        Ok(_) => tracing::info!(elapsed = ?started.elapsed(), "nats-server stopped"),
        Err(_) => {
            tracing::warn!("nats-server ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
            let _ = running.child.kill().await;
        }
    }
}
