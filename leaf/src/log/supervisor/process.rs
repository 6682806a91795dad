//! Spawning the child so that it can never outlive leaf, and keeping the tail of its output.
//!
//! Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child ends, not the
//! process. Tokio's blocking threads come and go, so a child forked from one of them could be
//! killed at a random moment. All forks therefore happen on one dedicated thread that lives as
//! long as the [`Spawner`]. When leaf dies for any reason, including SIGKILL, that thread dies
//! with it and the kernel kills the child.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, mpsc};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

type SpawnRequest = (Command, oneshot::Sender<io::Result<Child>>);

/// Forks children from one long-lived thread.
#[derive(Debug)]
pub struct Spawner {
    requests: mpsc::Sender<SpawnRequest>,
}

impl Spawner {
    pub fn new() -> io::Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let (requests, inbox) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("leaf-nats-spawner".into())
            .spawn(move || {
                // tokio::process needs a runtime context to register the child for reaping.
                let _guard = runtime.enter();
                while let Ok((mut command, reply)) = inbox.recv() {
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Self { requests })
    }

    /// Spawns `command` so that the kernel kills it with SIGKILL if leaf dies.
    ///
    /// SIGKILL rather than SIGTERM: a leaf that died abruptly cannot wait for a graceful stop,
    /// and with `sync_interval: always` every acknowledged message is already on disk.
    pub async fn spawn(&self, mut command: Command) -> io::Result<Child> {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
        // functions (umask, prctl, getppid); it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                // The JetStream store is the whole event log: private to leaf's user, whatever
                // the modes nats-server asks for.
                libc::umask(0o077);
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // leaf may have died between fork and prctl; then nobody would signal us.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("leaf exited while starting nats-server"));
                }
                Ok(())
            });
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((command, reply))
            .map_err(|_| io::Error::other("the nats-server spawner thread is gone"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the nats-server spawner thread is gone"))?
    }
}

/// The last lines the server printed, to put into an error when it fails.
#[derive(Debug, Clone, Default)]
pub struct OutputTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl OutputTail {
    /// Enough lines to show a Go panic's first frames or a config error with its context.
    const KEEP: usize = 40;

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == Self::KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, oldest first, one per line.
    pub fn last(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let skip = lines.len().saturating_sub(n);
        lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Reads the child's stream line by line into the tail and into leaf's own log, so a TD
    /// sees one log. The server's `[INF]` chatter goes to debug; warnings and errors stay.
    pub fn capture(&self, stream: impl AsyncRead + Unpin + Send + 'static) {
        let tail = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("[ERR]") || line.contains("[FTL]") || line.starts_with("panic:") {
                    tracing::error!(target: "nats_server", "{line}");
                } else if line.contains("[WRN]") {
                    tracing::warn!(target: "nats_server", "{line}");
                } else {
                    tracing::debug!(target: "nats_server", "{line}");
                }
                tail.push(line);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_only_the_newest_lines() {
        let tail = OutputTail::default();
        for i in 0..100 {
            tail.push(format!("line {i}"));
        }
        assert_eq!(tail.last(2), "line 98\nline 99");
        assert_eq!(tail.last(1000).lines().count(), OutputTail::KEEP);
    }

    #[tokio::test]
    async fn a_spawned_child_is_reaped_normally() {
        let spawner = Spawner::new().unwrap();
        let mut child = spawner.spawn(Command::new("true")).await.unwrap();
        assert!(child.wait().await.unwrap().success());
    }
}
