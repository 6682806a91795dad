//! The workload against leaf: a leaf process of its own (release binary, its own
//! nats-server child with `sync_interval: always`), viewer-token displays over `/ws`, and a
//! TD appending over HTTP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::figures::Figures;
use super::refusal;
use super::scenario::Scenario;
use super::workload::{self, Client};
use crate::api;

/// The TD account every run signs in as (the login flood guesses its PIN).
pub const TD: &str = "load-td";
const PIN: &str = "load-pin-0";
/// How often a display tries to connect when leaf turns it away with a time to come back.
const CONNECT_ATTEMPTS: usize = 10;

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
            // Every load client comes from 127.0.0.1: the per-address limit is the box's.
            .args(["--max-connections", "100000"])
            .args(["--max-connections-per-address", "100000"])
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
        wait_healthy(
            &http,
            &base,
            Duration::from_secs(30),
            &dir.path().join("leaf.log"),
        )
        .await?;
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

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` to `path` as the TD.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        api::post(
            &self.http,
            &format!("{}{path}", self.base),
            &self.token,
            &body,
        )
        .await
    }

    /// Makes the scenario's tournaments, then runs its workload on them.
    pub async fn run(&self, scenario: &Scenario) -> anyhow::Result<Figures> {
        let tournaments = self.tournaments("Load", scenario.tournaments).await?;
        self.run_on(scenario, &tournaments).await
    }

    /// `count` new tournaments, each with a viewer token: `(id, token)`.
    pub async fn tournaments(
        &self,
        name: &str,
        count: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut tournaments = Vec::with_capacity(count);
        for i in 0..count {
            let t = self
                .post(
                    "/api/v1/tournaments",
                    json!({"name": format!("{name} {i}")}),
                )
                .await?;
            let id = t["id"].as_str().context("no tournament id")?.to_owned();
            let token = self.viewer_token(&id).await?;
            tournaments.push((id, token));
        }
        Ok(tournaments)
    }

    /// A new viewer link's token for tournament `id`.
    pub async fn viewer_token(&self, id: &str) -> anyhow::Result<String> {
        let link = self
            .post(&format!("/api/v1/tournaments/{id}/viewer-links"), json!({}))
            .await?;
        Ok(link["token"]
            .as_str()
            .context("no viewer token")?
            .to_owned())
    }

    /// The scenario's workload on `tournaments` (made by [`LeafSide::tournaments`]).
    pub async fn run_on(
        &self,
        scenario: &Scenario,
        tournaments: &[(String, String)],
    ) -> anyhow::Result<Figures> {
        anyhow::ensure!(!tournaments.is_empty(), "no tournaments to run on");
        let pid = self.pid().context("leaf has no pid")?;
        let ws_base = self.base.replacen("http", "ws", 1);
        let connect = |i: usize, since: Option<u64>| {
            let (id, token) = &tournaments[i % tournaments.len()];
            let mut url = format!("{ws_base}/ws?tournament={id}&token={token}");
            if let Some(since) = since {
                url.push_str(&format!("&since={since}"));
            }
            async move {
                let socket = connect_display(&url).await?;
                let mut display = Display { socket, seq: since };
                // `connected`, then (unless resuming) the snapshot: the client is live after
                // them. A resuming client's replayed events are the storm's to count.
                let greetings = if since.is_some() { 1 } else { 2 };
                for _ in 0..greetings {
                    display.receive().await.context("leaf closed the socket")?;
                }
                anyhow::Ok(display)
            }
        };
        let append = |n: usize| {
            let (id, _) = &tournaments[n % tournaments.len()];
            let url = format!("{}/api/v1/tournaments/{id}/events", self.base);
            let (http, token) = (self.http.clone(), self.token.clone());
            async move {
                let body = json!({"type": "level_up", "data": {"n": n}});
                api::post(&http, &url, &token, &body).await.map(drop)
            }
        };
        workload::run("leaf", scenario, pid, connect, append).await
    }
}

/// Connects a display; a refusal that says when to come back (503 or 429 with `Retry-After`,
/// as leaf answers past its limits) is tried again after that wait, as the web app does.
/// Without a flood leaf never refuses, so the other scenarios connect exactly as before.
async fn connect_display(url: &str) -> anyhow::Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
    let mut attempt = 1;
    loop {
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => return Ok(socket),
            Err(e) => match refusal::come_back_after(&e) {
                Some(wait) if attempt < CONNECT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(e).context("connecting a display"),
            },
        }
    }
}

/// A display: leaf's events carry the append number in their data.
struct Display {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The last seq seen (a snapshot's or an event's): where this display resumes.
    seq: Option<u64>,
}

/// The fields of leaf's messages the tool needs; serde skips the rest without building them,
/// so the tool's own parsing costs about what it costs on the NATS side.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    seq: Option<u64>,
    event: Option<EventBody>,
}

#[derive(serde::Deserialize)]
struct EventBody {
    data: AppendData,
}

#[derive(serde::Deserialize)]
struct AppendData {
    n: Option<usize>,
}

impl Client for Display {
    async fn receive(&mut self) -> Option<Vec<usize>> {
        match self.socket.next().await? {
            Ok(Message::Text(text)) => {
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                    return Some(Vec::new());
                };
                if let Some(seq) = frame.seq {
                    self.seq = Some(seq);
                }
                let n = frame.event.filter(|_| frame.kind == "event");
                Some(n.and_then(|e| e.data.n).into_iter().collect())
            }
            Ok(_) => Some(Vec::new()),
            Err(_) => None,
        }
    }

    fn position(&self) -> Option<u64> {
        self.seq
    }
}

/// Polls `base`'s health until it answers 200, for at most `patience`; `log` is named in the
/// error.
pub async fn wait_healthy(
    http: &reqwest::Client,
    base: &str,
    patience: Duration,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        let up = http
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if up {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "leaf was not healthy within {patience:?}; see {}",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
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
