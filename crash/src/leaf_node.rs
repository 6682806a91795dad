//! The leaf binary as a separate process, killed with SIGKILL the way a power strip or the OOM
//! killer would, and started again on the same data dir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::HarnessError;

/// How long a (re)start may take before the suite gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the leaf binary is: `LEAF_BIN`, else beside this test's own target directory
/// (`target/debug/deps/<test>` → `target/debug/leaf`), which `cargo test --workspace` builds.
pub fn leaf_binary() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("LEAF_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| HarnessError::Setup(e.to_string()))?;
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("leaf"))
        .ok_or_else(|| HarnessError::Setup("cannot place the leaf binary".into()))?;
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(HarnessError::Setup(format!(
            "{} is missing: build it first (cargo build -p leaf) or set LEAF_BIN",
            candidate.display()
        )))
    }
}

/// Where a [`LeafNode`]'s event log runs.
enum Log {
    /// `--nats-url`: a server of the suite's own, so a kill of leaf is a kill of leaf alone.
    External(String),
    /// `--nats-server`: leaf's own supervised child, on its data dir.
    Supervised(PathBuf),
}

pub struct LeafNode {
    binary: PathBuf,
    data_dir: PathBuf,
    log: Log,
    port: u16,
    log_path: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
    starts: u32,
    /// Environment for the next starts (the `test-hooks` variables).
    env: Vec<(String, String)>,
}

impl LeafNode {
    /// A leaf on `data_dir` that uses the NATS server at `nats_url` (`--nats-url`), so a kill
    /// of leaf is a kill of leaf alone.
    pub fn new(binary: PathBuf, data_dir: PathBuf, nats_url: String) -> Result<Self, HarnessError> {
        Self::with_log(binary, data_dir, Log::External(nats_url))
    }

    /// A leaf on `data_dir` that runs its own nats-server (`nats_server`, the binary), as at a
    /// venue: its store lives in the data dir, on whatever disk that is.
    pub fn supervised(
        binary: PathBuf,
        data_dir: PathBuf,
        nats_server: PathBuf,
    ) -> Result<Self, HarnessError> {
        Self::with_log(binary, data_dir, Log::Supervised(nats_server))
    }

    fn with_log(binary: PathBuf, data_dir: PathBuf, log: Log) -> Result<Self, HarnessError> {
        let port = free_port()?;
        Ok(Self {
            log_path: data_dir.with_extension("log"),
            binary,
            data_dir,
            log,
            port,
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .map_err(|e| HarnessError::Setup(e.to_string()))?,
            starts: 0,
            env: Vec::new(),
        })
    }

    /// Sets (`Some`) or clears (`None`) an environment variable for the next starts.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// Waits up to `patience` for a running leaf to exit by itself (a test hook killing it);
    /// whether it did.
    pub async fn exited_within(&mut self, patience: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let exited = tokio::time::timeout(patience, child.wait()).await.is_ok();
        if exited {
            self.child = None;
        }
        exited
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// leaf.db, where leaf keeps its projection.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("leaf.db")
    }

    /// `leaf td add <name>` with the PIN on stdin, as a TD would at the venue.
    pub async fn add_td(&self, name: &str, pin: &str) -> Result<(), HarnessError> {
        let mut child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["td", "add", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", self.binary.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{pin}\n").as_bytes())
                .await
                .map_err(|e| HarnessError::Setup(e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| HarnessError::Setup(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::Setup(format!(
                "leaf td add failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Starts leaf and waits until its health endpoint answers 200.
    pub async fn start(&mut self) -> Result<Duration, HarnessError> {
        if self.child.is_some() {
            return Err(HarnessError::Setup("leaf is already running".into()));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| HarnessError::Setup(e.to_string()))?;
        let err = log
            .try_clone()
            .map_err(|e| HarnessError::Setup(e.to_string()))?;
        self.starts += 1;
        let begun = Instant::now();
        let (log_flag, log_value) = match &self.log {
            Log::External(url) => ("--nats-url", std::ffi::OsString::from(url)),
            Log::Supervised(server) => ("--nats-server", server.as_os_str().to_owned()),
        };
        let child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--addr")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg(log_flag)
            .arg(log_value)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", self.binary.display())))?;
        self.child = Some(child);
        while begun.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(HarnessError::Setup(format!(
                    "leaf exited during start #{} with {status}; its log:\n{}",
                    self.starts,
                    self.log_tail()
                )));
            }
            let healthy = self
                .http
                .get(format!("{}/api/v1/health", self.base_url()))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if healthy {
                return Ok(begun.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(HarnessError::Setup(format!(
            "leaf was not healthy {START_TIMEOUT:?} after start #{}; its log:\n{}",
            self.starts,
            self.log_tail()
        )))
    }

    /// SIGKILL: no shutdown path runs, nothing is flushed.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGTERM and wait for leaf's own orderly shutdown.
    pub async fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) on the child this harness spawned and has not reaped.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(HarnessError::Setup(format!(
                "leaf exited with {status} on SIGTERM; its log:\n{}",
                self.log_tail()
            ))),
            _ => {
                let _ = child.start_kill();
                Err(HarnessError::Setup(
                    "leaf did not stop within 10 s of SIGTERM".into(),
                ))
            }
        }
    }

    /// Everything leaf wrote to its log, over all its starts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines leaf wrote, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A loopback port nobody listens on at this moment.
pub fn free_port() -> Result<u16, HarnessError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HarnessError::Setup(format!("no free loopback port: {e}")))
}
