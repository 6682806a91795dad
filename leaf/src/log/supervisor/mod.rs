//! The nats-server child process: leaf's "embedded" JetStream.
//!
//! No JetStream server runs inside a Rust process, so leaf runs the official one and owns it:
//! it writes the config ([`config`]), starts the server and waits until it is really ready
//! (ports file parsed and `HEALTHZ` answering over NATS, within [`READY_TIMEOUT`]), watches it, restarts
//! it with back-off when it dies, and stops it last at shutdown. The child can never outlive
//! leaf ([`process`]). With `--nats-url` none of this runs.
//!
//! Data-dir layout it owns: `nats/nats-server.conf` (0600), `nats/run/` (ports files),
//! `nats/jetstream/` (the server's own store), `nats/bin/` (the embedded server, written out).

mod binary;
mod bundled;
mod config;
mod monitor;
mod process;
mod restart;

use crate::log::storage::StoreLimit;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::binary::{MIN_VERSION, NatsBinary, Version, locate};
use self::config::NatsConfig;
pub use self::config::{LeafRemote, SyncWrites};
use self::monitor::Ports;
pub use self::monitor::ServerFacts;
use self::process::{OutputTail, Spawner};
use self::restart::supervise;

/// How long a start may take before leaf gives up. nats-server is ready in ~20 ms on a fresh
/// store, but it restores every stream before it answers, in time proportional to the
/// messages: ~3 s for a million appends on this box, more on a slow disk or a busy one (a
/// 5 s limit once kept a venue with a year of history from starting at all). A server that
/// is still running is given this long, with progress in the log.
pub const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// While waiting for a start, how often leaf says it is still waiting.
const READY_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long a graceful stop may take before the child is killed. nats-server stops in a few
/// milliseconds; with `sync_interval: always` a kill loses nothing that was acknowledged.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    Binary(String),
    #[error("cannot prepare {path}: {source}")]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start nats-server: {0}")]
    Spawn(std::io::Error),
    #[error("nats-server exited during startup ({status}); its last output:\n{tail}")]
    ExitedEarly { status: String, tail: String },
    #[error("nats-server was not ready within {timeout:?}; its last output:\n{tail}")]
    NotReady { timeout: Duration, tail: String },
}

/// What the health endpoint and the log report about the child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildStatus {
    pub running: bool,
    pub pid: Option<u32>,
    pub restarts: u32,
    /// What `/varz` said after the latest start.
    pub facts: Option<ServerFacts>,
    pub last_exit: Option<String>,
}

/// Where and how to run the server.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub binary: NatsBinary,
    /// `<data-dir>/nats`.
    pub dir: PathBuf,
    /// `--max-store`: the server's `max_file_store`.
    pub max_store: StoreLimit,
    pub sync: SyncWrites,
    /// The uplink's domain and leafnode remote, if the venue has one.
    pub remote: Option<LeafRemote>,
}

/// A running, supervised nats-server. Dropping it stops the child; prefer [`NatsChild::stop`].
pub struct NatsChild {
    client_url: String,
    token: String,
    probe: JetStreamProbe,
    status: watch::Receiver<ChildStatus>,
    restarts: mpsc::Sender<String>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Asks the server whether its JetStream is on, over the system account. A client of
/// JetStream cannot tell: once the server shuts JetStream down, its API requests go
/// unanswered, as they do when the server is busy.
#[derive(Debug, Clone)]
pub struct JetStreamProbe {
    /// The client port: pinned for every incarnation of the child.
    port: u16,
    sys_password: String,
}

impl JetStreamProbe {
    /// The leafnode connections the server holds, by server id and connection id; `None`
    /// when it does not answer.
    pub async fn leafnode_links(&self) -> Option<Vec<(String, u64)>> {
        let sys = monitor::SysClient::connect(self.port, &self.sys_password, PROBE_TIMEOUT)
            .await
            .ok()?;
        let links = sys.leafnode_links().await;
        sys.close().await;
        links.ok()
    }

    /// `Some(true)` when JetStream is off, `None` when the server does not answer.
    pub async fn disabled(&self) -> Option<bool> {
        let sys = monitor::SysClient::connect(self.port, &self.sys_password, PROBE_TIMEOUT)
            .await
            .ok()?;
        let disabled = sys.jetstream_disabled().await;
        sys.close().await;
        disabled.ok()
    }
}

/// Where the nats-server that a running leaf supervises in `dir` (`<data-dir>/nats`) listens,
/// and how to sign in to it, from the files leaf wrote for it: for `leaf backup` beside a
/// running leaf. `Err` says what is missing.
pub fn running_server(dir: &Path) -> Result<(String, crate::log::NatsAuth), String> {
    let (text, ports) = running_files(dir)?;
    let conf_path = dir.join("nats-server.conf");
    let password = config::read_password(&text, config::LEAF_USER)
        .ok_or_else(|| format!("{} names no leaf user", conf_path.display()))?;
    Ok((
        format!("nats://127.0.0.1:{}", ports.client),
        crate::log::NatsAuth::User {
            name: config::LEAF_USER.to_owned(),
            password,
        },
    ))
}

/// The config file a running leaf wrote for its server, and the server's ports.
fn running_files(dir: &Path) -> Result<(String, Ports), String> {
    let conf_path = dir.join("nats-server.conf");
    let text =
        std::fs::read_to_string(&conf_path).map_err(|e| format!("{}: {e}", conf_path.display()))?;
    let run = dir.join("run");
    let ports = std::fs::read_dir(&run)
        .map_err(|e| format!("{}: {e}", run.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let pid = name.strip_prefix("nats-server_")?.strip_suffix(".ports")?;
            monitor::read_ports(&run, pid.parse().ok()?)
        })
        .next()
        .ok_or_else(|| {
            format!(
                "no ports file of a running nats-server in {}",
                run.display()
            )
        })?;
    Ok((text, ports))
}

/// How long [`JetStreamProbe`] waits for the server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the supervisor to restart the server (gracefully, at once, without back-off).
#[derive(Debug, Clone)]
pub struct Restarter(mpsc::Sender<String>);

impl Restarter {
    /// Requests a restart for `reason` (logged); a request while one is pending is dropped.
    pub fn request(&self, reason: impl Into<String>) {
        let _ = self.0.try_send(reason.into());
    }
}

impl std::fmt::Debug for NatsChild {
    /// Without the token: it must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsChild")
            .field("client_url", &self.client_url)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl NatsChild {
    /// Starts the server and returns once it accepts clients with JetStream ready.
    pub async fn start(config: SupervisorConfig) -> Result<Self, SupervisorError> {
        let launcher = Launcher::new(config)?;
        let running = launcher.launch(None).await?;
        let client_url = format!("nats://127.0.0.1:{}", running.ports.client);
        let token = launcher.token.clone();
        let probe = JetStreamProbe {
            port: running.ports.client,
            sys_password: launcher.sys_password.clone(),
        };
        let (status_tx, status) = watch::channel(running.status(0));
        let cancel = CancellationToken::new();
        let (restarts, requests) = mpsc::channel(1);
        let task = tokio::spawn(supervise(
            launcher,
            running,
            status_tx,
            requests,
            cancel.clone(),
        ));
        Ok(Self {
            client_url,
            token,
            probe,
            status,
            restarts,
            cancel,
            task: Some(task),
        })
    }

    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// How leaf's connections sign in, for this leaf run. Never log it.
    pub fn auth(&self) -> crate::log::NatsAuth {
        crate::log::NatsAuth::User {
            name: config::LEAF_USER.to_owned(),
            password: self.token.clone(),
        }
    }

    /// A handle that asks the server whether JetStream is on.
    pub fn jetstream_probe(&self) -> JetStreamProbe {
        self.probe.clone()
    }

    /// A handle that asks for a restart.
    pub fn restarter(&self) -> Restarter {
        Restarter(self.restarts.clone())
    }

    /// A live view of the child's status.
    pub fn status(&self) -> watch::Receiver<ChildStatus> {
        self.status.clone()
    }

    /// Stops the server gracefully (SIGTERM, then SIGKILL after a timeout) and waits for it.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for NatsChild {
    /// A start that failed half-way drops the child without `stop`: the supervising task
    /// still stops it, and `kill_on_drop` plus the parent-death signal back that up.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Everything needed to (re)start the server.
struct Launcher {
    binary: NatsBinary,
    conf_path: PathBuf,
    store_dir: PathBuf,
    max_store: StoreLimit,
    sync: SyncWrites,
    remote: Option<LeafRemote>,
    ports_dir: PathBuf,
    token: String,
    sys_password: String,
    spawner: Spawner,
}

/// One incarnation of the server.
struct Running {
    child: Child,
    pid: u32,
    ports: Ports,
    facts: Option<ServerFacts>,
    tail: OutputTail,
    started: Instant,
}

impl Running {
    fn status(&self, restarts: u32) -> ChildStatus {
        ChildStatus {
            running: true,
            pid: Some(self.pid),
            restarts,
            facts: self.facts.clone(),
            last_exit: None,
        }
    }
}

impl Launcher {
    fn new(config: SupervisorConfig) -> Result<Self, SupervisorError> {
        let ports_dir = config.dir.join("run");
        crate::datadir::create_private_dir(&ports_dir).map_err(|source| {
            SupervisorError::Prepare {
                path: ports_dir.clone(),
                source,
            }
        })?;
        Ok(Self {
            binary: config.binary,
            conf_path: config.dir.join("nats-server.conf"),
            store_dir: config.dir.clone(),
            max_store: config.max_store,
            sync: config.sync,
            remote: config.remote,
            ports_dir,
            // 122 random bits twice over; the server compares it on every connect.
            token: secret(),
            sys_password: secret(),
            spawner: Spawner::new().map_err(SupervisorError::Spawn)?,
        })
    }

    /// Starts one incarnation. `ports` pins the ports of an earlier one (see [`config`]).
    async fn launch(&self, ports: Option<Ports>) -> Result<Running, SupervisorError> {
        let prepare = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SupervisorError::Prepare { path, source }
        };
        monitor::clear_ports_dir(&self.ports_dir).map_err(prepare(&self.ports_dir))?;
        NatsConfig {
            client_port: ports.as_ref().map(|p| p.client),
            token: self.token.clone(),
            sys_password: self.sys_password.clone(),
            store_dir: self.store_dir.clone(),
            max_store: self.max_store,
            sync: self.sync,
            ports_dir: self.ports_dir.clone(),
            remote: self.remote.clone(),
        }
        .write(&self.conf_path)
        .map_err(prepare(&self.conf_path))?;

        let mut command = Command::new(&self.binary.path);
        command
            // The server names its ports file after argv[0]; pin it, whatever the binary's
            // file is called.
            .arg0("nats-server")
            .arg("--config")
            .arg(&self.conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C in the TD's terminal reaches leaf only, and
            // leaf stops the server last, after the hub and HTTP are down.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = self
            .spawner
            .spawn(command)
            .await
            .map_err(SupervisorError::Spawn)?;
        let tail = OutputTail::default();
        if let Some(out) = child.stdout.take() {
            tail.capture(out);
        }
        if let Some(err) = child.stderr.take() {
            tail.capture(err);
        }
        let Some(pid) = child.id() else {
            return Err(SupervisorError::ExitedEarly {
                status: "exited before it could be watched".into(),
                tail: tail.last(15),
            });
        };
        let started = Instant::now();

        let ports = match self.wait_ready(&mut child, pid, &tail).await {
            Ok(ports) => ports,
            Err(e) => {
                let _ = child.kill().await;
                return Err(e);
            }
        };
        let facts = self.read_facts(ports.client).await;
        Ok(Running {
            child,
            pid,
            ports,
            facts,
            tail,
            started,
        })
    }

    /// Ready means: the ports file of *this* pid parses and `HEALTHZ` says ok.
    async fn wait_ready(
        &self,
        child: &mut Child,
        pid: u32,
        tail: &OutputTail,
    ) -> Result<Ports, SupervisorError> {
        let begun = Instant::now();
        let deadline = begun + READY_TIMEOUT;
        let mut next_progress = begun + READY_PROGRESS_EVERY;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                // Let the output readers drain the last lines before quoting them.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(SupervisorError::ExitedEarly {
                    status: status.to_string(),
                    tail: tail.last(15),
                });
            }
            if let Some(ports) = monitor::read_ports(&self.ports_dir, pid)
                && self.healthy(ports.client).await
            {
                return Ok(ports);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SupervisorError::NotReady {
                    timeout: READY_TIMEOUT,
                    tail: tail.last(15),
                });
            }
            if now >= next_progress {
                next_progress = now + READY_PROGRESS_EVERY;
                tracing::info!(
                    pid,
                    waited_s = begun.elapsed().as_secs(),
                    last_output = %tail.last(1),
                    "waiting for nats-server to restore its streams"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Launcher {
    async fn sys(&self, port: u16) -> Result<monitor::SysClient, String> {
        monitor::SysClient::connect(port, &self.sys_password, Duration::from_millis(500)).await
    }

    async fn healthy(&self, port: u16) -> bool {
        let Ok(sys) = self.sys(port).await else {
            return false;
        };
        let healthy = sys.healthy().await.is_ok();
        sys.close().await;
        healthy
    }

    /// What `VARZ` says, with a few retries: the server has just said it is healthy, so a
    /// failure here is a passing one. `None` (reported as "unknown", never as a wrong value)
    /// if it persists.
    async fn read_facts(&self, port: u16) -> Option<ServerFacts> {
        let mut last_error = String::new();
        for _ in 0..5 {
            match self.sys(port).await {
                Ok(sys) => {
                    let facts = sys.server_facts().await;
                    sys.close().await;
                    match facts {
                        Ok(facts) => return Some(facts),
                        Err(e) => last_error = e,
                    }
                }
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!(error = %last_error, "cannot read nats-server's VARZ; sync_interval unknown");
        None
    }
}

/// A password made at random: 122 random bits twice over.
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
