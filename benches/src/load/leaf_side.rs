//! The workload against leaf: a leaf process of its own (release binary, its own
//! nats-server child with `sync_interval: always`), viewer-token displays over `/ws`, and a
//! TD appending over HTTP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use super::figures::{Figures, rss_bytes};
use super::scenario::{Kind, Scenario};
use super::sent::SentTimes;

const TD: &str = "load-td";
const PIN: &str = "load-pin-0";
/// Connects in flight at once: enough to be quick, few enough not to overflow accept queues.
const CONNECTS_IN_FLIGHT: usize = 128;

pub struct LeafSide {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl LeafSide {
    pub async fn start(leaf: &Path, nats_server: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut add = Command::new(leaf)
            .arg("--data-dir")
            .arg(&data)
            .args(["td", "add", TD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", leaf.display()))?;
        if let Some(mut stdin) = add.stdin.take() {
            stdin.write_all(format!("{PIN}\n").as_bytes()).await?;
        }
        if !add.wait().await?.success() {
            bail!("leaf td add failed");
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("leaf.log"))?;
        let child = Command::new(leaf)
            .arg("--data-dir")
            .arg(&data)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--nats-server")
            .arg(nats_server)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = http
                .get(format!("{base}/api/v1/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if up {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "leaf did not become healthy; see {}",
                    dir.path().join("leaf.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"name": TD, "pin": PIN}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"]
            .as_str()
            .context("no token from login")?
            .to_owned();
        Ok(Self {
            child,
            base,
            token,
            http,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn run(&self, scenario: &Scenario) -> anyhow::Result<Figures> {
        let mut figures = Figures::new("leaf", scenario.clients);
        let mut tournaments = Vec::new();
        for i in 0..scenario.tournaments {
            let t = self
                .post("/api/v1/tournaments", json!({"name": format!("Load {i}")}))
                .await?;
            let id = t["id"].as_str().context("no tournament id")?.to_owned();
            let link = self
                .post(&format!("/api/v1/tournaments/{id}/viewer-links"), json!({}))
                .await?;
            let token = link["token"]
                .as_str()
                .context("no viewer token")?
                .to_owned();
            tournaments.push((id, token));
        }
        let pid = self.pid().context("leaf has no pid")?;
        let rss_before = rss_bytes(pid);

        let sent = Arc::new(SentTimes::new(scenario.appends() + 1));
        let drops = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
        let ws_base = self.base.replacen("http", "ws", 1);
        let begun = Instant::now();
        let mut connecting = Vec::new();
        for i in 0..scenario.clients {
            let (id, token) = &tournaments[i % tournaments.len()];
            let url = format!("{ws_base}/ws?tournament={id}&token={token}");
            let gate = gate.clone();
            connecting.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
                // `connected` and the snapshot: the client is live after them.
                for _ in 0..2 {
                    socket.next().await;
                }
                anyhow::Ok(socket)
            }));
        }
        let mut sockets = Vec::new();
        for task in connecting {
            sockets.push(task.await??);
        }
        figures.connect_all = begun.elapsed();
        if let (Some(before), Some(after)) = (rss_before, rss_bytes(pid)) {
            figures.rss_per_client = Some(after.saturating_sub(before) / scenario.clients as u64);
        }

        let readers: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                let sent = sent.clone();
                let drops = drops.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let mut hist =
                        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                    loop {
                        let frame = tokio::select! {
                            _ = stopped.changed() => break,
                            frame = socket.next() => frame,
                        };
                        match frame {
                            Some(Ok(Message::Text(text))) => {
                                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                                    continue;
                                };
                                if message["type"] == "event"
                                    && let Some(n) = message["event"]["data"]["n"].as_u64()
                                    && let Some(age) = sent.age_micros(n as usize)
                                {
                                    let _ = hist.record(age.max(1));
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => {
                                drops.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    hist
                })
            })
            .collect();

        let run_begun = Instant::now();
        if scenario.kind == Kind::Live {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / scenario.rate.max(1));
            let mut appends = Vec::new();
            for n in 1..=scenario.appends() {
                tick.tick().await;
                let (id, _) = &tournaments[n % tournaments.len()];
                let path = format!("/api/v1/tournaments/{id}/events");
                let sent = sent.clone();
                let request = self
                    .http
                    .post(format!("{}{path}", self.base))
                    .bearer_auth(&self.token)
                    .json(&json!({"type": "level_up", "data": {"n": n}}));
                sent.mark(n);
                appends.push(tokio::spawn(request.send()));
            }
            for append in appends {
                let response = append.await??;
                if response.status() != 201 {
                    bail!("an append was answered {}", response.status());
                }
            }
            // The last events are on their way to the last clients.
            tokio::time::sleep(Duration::from_millis(500)).await;
        } else {
            tokio::time::sleep(scenario.duration).await;
        }
        figures.elapsed = run_begun.elapsed();
        let _ = stop.send(true);
        for reader in readers {
            let hist = reader.await?;
            figures.deliveries += hist.len();
            figures.latency.add(&hist)?;
        }
        figures.drops = drops.load(Ordering::Relaxed);
        Ok(figures)
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The pinned nats-server from `make deps`, or `LEAF_NATS_SERVER`.
pub fn nats_server_path() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("LEAF_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".tools/venv/bin/nats-server"));
    if !path.is_file() {
        bail!("no nats-server at {}: run `make deps`", path.display());
    }
    Ok(path)
}
