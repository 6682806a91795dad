//! One nats-server in a container: the local `FROM scratch` image, host networking, a random
//! loopback port, and the JetStream store bind-mounted from the host so it outlives every
//! container that uses it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::HarnessError;
use crate::engine::{Engine, NATS_IMAGE, nats_image_tag};

const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// In a container nats-server is PID 1, so its ports file always has this name, and a stale
/// one from a killed server looks exactly like a fresh one: it is deleted before each start.
const PORTS_FILE: &str = "nats-server_1.ports";

/// How often JetStream fsyncs its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `sync_interval: always`, as leaf runs it: an ack only after fsync.
    Always,
    /// nats-server's default (every 2 minutes): acks before the data is on disk.
    Default,
}

pub struct NatsNode {
    engine: Engine,
    conf_dir: PathBuf,
    store_dir: PathBuf,
    container: Option<ContainerAsync<GenericImage>>,
    url: String,
    starts: u32,
}

impl NatsNode {
    /// Writes the server's config into `conf_dir` and starts the first container on
    /// `store_dir` (which may be a [`crate::lazyfs::LazyFs`] mount).
    pub async fn start(
        engine: Engine,
        conf_dir: &Path,
        store_dir: &Path,
        sync: SyncPolicy,
    ) -> Result<Self, HarnessError> {
        let sync_line = match sync {
            SyncPolicy::Always => "  sync_interval: always\n",
            SyncPolicy::Default => "",
        };
        let config = format!(
            "listen: \"127.0.0.1:-1\"\nports_file_dir: \"/conf\"\nserver_name: crash\n\
             jetstream {{\n  store_dir: \"/data\"\n{sync_line}}}\n"
        );
        Self::start_configured(engine, conf_dir, store_dir, &config).await
    }

    /// Starts a server with a config of the caller's, which must keep its store at `/data`
    /// and its ports file in `/conf` (`ports_file_dir: "/conf"`), and let clients in without
    /// credentials.
    pub async fn start_configured(
        engine: Engine,
        conf_dir: &Path,
        store_dir: &Path,
        config: &str,
    ) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(conf_dir).map_err(|e| io("config dir", e))?;
        std::fs::write(conf_dir.join("nats.conf"), config).map_err(|e| io("config", e))?;
        let mut node = Self {
            engine,
            conf_dir: conf_dir.to_owned(),
            store_dir: store_dir.to_owned(),
            container: None,
            url: String::new(),
            starts: 0,
        };
        node.launch().await?;
        Ok(node)
    }

    /// `nats://127.0.0.1:<port>` of the running server; the port changes at every start.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// kill -9, then the container is removed; the store stays as the kill left it.
    pub async fn kill(&mut self) -> Result<(), HarnessError> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        self.engine.sigkill(container.id()).await?;
        container
            .rm()
            .await
            .map_err(|e| HarnessError::Docker(format!("removing a killed container: {e}")))
    }

    /// A new container on the same store.
    pub async fn restart(&mut self) -> Result<Duration, HarnessError> {
        self.kill().await?;
        self.launch().await
    }

    /// An orderly stop (SIGTERM), for the end of a suite.
    pub async fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        container
            .stop_with_timeout(Some(10))
            .await
            .map_err(|e| HarnessError::Docker(format!("stopping nats-server: {e}")))?;
        container
            .rm()
            .await
            .map_err(|e| HarnessError::Docker(format!("removing nats-server: {e}")))
    }

    /// The server's last log lines, for a failure message.
    pub async fn logs(&self) -> String {
        match &self.container {
            Some(c) => c
                .stderr_to_vec()
                .await
                .map(|bytes| {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let lines: Vec<&str> = text.lines().collect();
                    lines[lines.len().saturating_sub(20)..].join("\n")
                })
                .unwrap_or_default(),
            None => "(no container)".into(),
        }
    }

    async fn launch(&mut self) -> Result<Duration, HarnessError> {
        let ports_file = self.conf_dir.join(PORTS_FILE);
        match std::fs::remove_file(&ports_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("stale ports file", e)),
        }
        self.starts += 1;
        let begun = Instant::now();
        let container = GenericImage::new(NATS_IMAGE, nats_image_tag())
            .with_network("host")
            .with_mount(Mount::bind_mount(path_str(&self.conf_dir)?, "/conf"))
            .with_mount(Mount::bind_mount(path_str(&self.store_dir)?, "/data"))
            .with_cmd(["-c", "/conf/nats.conf"])
            .start()
            .await
            .map_err(|e| HarnessError::Docker(format!("starting nats-server: {e}")))?;
        self.container = Some(container);
        while begun.elapsed() < READY_TIMEOUT {
            if let Some(url) = read_ports_file(&ports_file) {
                // The ports file is written once the listener is up; a connect proves it.
                if async_nats::connect(&url).await.is_ok() {
                    self.url = url;
                    return Ok(begun.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(HarnessError::Docker(format!(
            "nats-server start #{} was not ready in {READY_TIMEOUT:?}; its log:\n{}",
            self.starts,
            self.logs().await
        )))
    }
}

/// `{"nats":["nats://127.0.0.1:41234"], …}` → the client URL.
fn read_ports_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    ports["nats"][0].as_str().map(str::to_owned)
}

fn path_str(path: &Path) -> Result<&str, HarnessError> {
    path.to_str()
        .ok_or_else(|| HarnessError::Setup(format!("{} is not UTF-8", path.display())))
}

fn io(what: &str, e: std::io::Error) -> HarnessError {
    HarnessError::Setup(format!("{what}: {e}"))
}
