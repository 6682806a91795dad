//! A real leaf for a benchmark: a temp data dir, the pinned nats-server with
//! `sync_interval: always`, HTTP and WebSocket on a loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use leaf::app::App;
use leaf::auth::Principal;
use leaf::config::{Config, LogFormat};
use leaf::event::TournamentId;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const TD: &str = "bench-td";

pub struct BenchLeaf {
    pub addr: SocketAddr,
    pub token: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: TempDir,
}

/// `LEAF_NATS_SERVER`, else the one `make deps` installs.
fn nats_server() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("LEAF_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/nats-server")
        });
    if !path.is_file() {
        bail!(
            "no nats-server at {}: run `make deps` first",
            path.display()
        );
    }
    Ok(path)
}

impl BenchLeaf {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let config = Config {
            data_dir: dir.path().join("data"),
            addr: "127.0.0.1:0".parse()?,
            nats_server: Some(nats_server()?),
            nats_url: None,
            nats_token: None,
            dev: false,
            // Every bench client comes from 127.0.0.1.
            max_connections: 100_000,
            max_connections_per_address: 100_000,
            header_read_timeout: 10,
            max_lobby_sockets: 1024,
            max_log_reads: 32,
            max_log_reads_per_token: 4,
            log_pages_per_token_per_second: 20,
            max_store: leaf::log::storage::StoreLimit::DEFAULT,
            backups: Default::default(),
            tls: Default::default(),
            uplink: Default::default(),
            central: Default::default(),
            metrics_token: None,
            log_format: LogFormat::Text,
        };
        let app = App::start(&config).await?;
        let addr = app.local_addr()?;
        let state = app.state().clone();
        let pin = leaf::auth::Pin::new("bench-pin-0").map_err(|e| anyhow::anyhow!("{e}"))?;
        let hash = pin.hash().map_err(|e| anyhow::anyhow!("{e}"))?;
        let account = state
            .store
            .add_operator(&TD.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?, hash)
            .await?;
        let (token, _) = state
            .auth
            .keys()
            .issue(
                &Principal::Td {
                    name: TD.into(),
                    account,
                },
                Duration::from_secs(24 * 3600),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.serve(shutdown.clone()));
        Ok(Self {
            addr,
            token,
            http: reqwest::Client::new(),
            shutdown,
            task,
            _dir: dir,
        })
    }

    pub async fn create_tournament(&self, name: &str) -> anyhow::Result<TournamentId> {
        let body = self
            .post("/api/v1/tournaments", json!({ "name": name }))
            .await?;
        body["id"]
            .as_str()
            .context("no id in the answer")?
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Appends one event and returns its seq, once leaf answered 201 (the log has it).
    pub async fn append(&self, tournament: TournamentId, n: u64) -> anyhow::Result<u64> {
        let body = self
            .post(
                &format!("/api/v1/tournaments/{tournament}/events"),
                json!({ "type": "level_up", "data": { "level": n } }),
            )
            .await?;
        body["seq"].as_u64().context("no seq in the answer")
    }

    pub fn ws_url(&self, tournament: TournamentId) -> String {
        format!(
            "ws://{}/ws?tournament={tournament}&token={}",
            self.addr, self.token
        )
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.addr);
        crate::api::post(&self.http, &url, &self.token, &body).await
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}
