//! Test support: a real leaf on a temp data dir with the real nats-server, in-process or as a
//! spawned binary, plus the small clients the tests talk to it with.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use leaf::app::App;
use leaf::config::{Config, LogFormat};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The TD account every test leaf starts with.
pub const TEST_TD: &str = "test-td";

/// The pinned nats-server that `make deps` installs (or `LEAF_NATS_SERVER`).
pub fn nats_server() -> PathBuf {
    let path = std::env::var_os("LEAF_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/nats-server")
        });
    assert!(
        path.is_file(),
        "no nats-server at {}: run `make deps` first",
        path.display()
    );
    path
}

pub fn config(data_dir: PathBuf) -> Config {
    Config {
        data_dir,
        addr: "127.0.0.1:0".parse().unwrap(),
        nats_server: Some(nats_server()),
        nats_url: None,
        nats_token: None,
        dev: false,
        max_connections: 16_384,
        max_connections_per_address: 256,
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
    }
}

/// A leaf running inside the test process.
pub struct TestLeaf {
    pub addr: SocketAddr,
    /// The plain-HTTP port redirecting to HTTPS, with `--http-redirect`.
    pub redirect: Option<SocketAddr>,
    /// The account id of [`TEST_TD`], whose tokens `td_token()` mints.
    pub td_account: String,
    pub app_state: leaf::http::AppState,
    pub jetstream: std::sync::Arc<leaf::log::JetStreamLog>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub dir: TempDir,
}

impl TestLeaf {
    pub async fn start() -> Self {
        Self::serve(tempfile::tempdir().unwrap()).await
    }

    /// Starts a leaf on an existing data dir (a restart).
    pub async fn restart(dir: TempDir) -> Self {
        Self::serve(dir).await
    }

    /// Starts a leaf whose event log may hold at most `limit` (`--max-store`).
    pub async fn with_store_limit(dir: TempDir, limit: leaf::log::storage::StoreLimit) -> Self {
        let config = Config {
            max_store: limit,
            ..config(dir.path().join("data"))
        };
        Self::serve_with(dir, &config).await
    }

    /// Starts a leaf with `config` (whose data dir should be `dir/data`).
    pub async fn with_config(dir: TempDir, config: &Config) -> Self {
        Self::serve_with(dir, config).await
    }

    async fn serve(dir: TempDir) -> Self {
        let config = config(dir.path().join("data"));
        Self::serve_with(dir, &config).await
    }

    async fn serve_with(dir: TempDir, config: &Config) -> Self {
        let app = App::start(config).await.unwrap();
        let addr = app.local_addr().unwrap();
        let redirect = app.redirect_addr();
        let app_state = app.state().clone();
        // The account behind `td_token()`; already there after a plain restart.
        let hash = leaf::auth::Pin::new("test-pin-0").unwrap().hash().unwrap();
        let _ = app_state
            .store
            .add_operator(&TEST_TD.parse().unwrap(), hash)
            .await;
        let td_account = app_state
            .store
            .operator_account(&TEST_TD.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let jetstream = app.jetstream().clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.serve(shutdown.clone()));
        Self {
            addr,
            redirect,
            td_account,
            app_state,
            jetstream,
            shutdown,
            task,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// This leaf's leaf.db, for tests that open it as another process would (`leaf td`).
    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("data").join("leaf.db")
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// A TD's token for the test TD's account, minted with this leaf's key.
    pub fn td_token(&self) -> String {
        let td = leaf::auth::Principal::Td {
            name: TEST_TD.into(),
            account: self.td_account.clone(),
        };
        self.app_state
            .auth
            .keys()
            .issue(&td, std::time::Duration::from_secs(3600))
            .unwrap()
            .0
    }

    /// A viewer token for one tournament, from a viewer link made through the API.
    pub async fn viewer_token(&self, tournament: leaf::event::TournamentId) -> String {
        let (status, link) = self
            .call(
                "POST",
                &format!("/api/v1/tournaments/{tournament}/viewer-links"),
                Some(&self.td_token()),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 201, "{link}");
        link["token"].as_str().unwrap().to_owned()
    }

    /// Creates a tournament through the service, as a TD would.
    pub async fn tournament(&self, name: &str) -> leaf::event::TournamentId {
        let actor = leaf::writer::Actor {
            who: "td:test".into(),
            request_id: None,
        };
        self.app_state
            .writer
            .create(name.parse().expect("a valid tournament name"), &actor)
            .await
            .unwrap()
            .id
    }

    /// The `/ws` URL for one tournament with a TD's token.
    pub fn ws_tournament(&self, t: leaf::event::TournamentId) -> String {
        self.ws_url(&format!("?tournament={t}&token={}", self.td_token()))
    }

    /// The `/ws` URL for every tournament, with a TD's token.
    pub fn ws_venue(&self) -> String {
        self.ws_url(&format!("?token={}", self.td_token()))
    }

    pub async fn stop(self) -> TempDir {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.dir
    }
}

/// Connects a WebSocket client and returns it with its `connected` message.
pub async fn ws_connect(url: &str) -> (Ws, serde_json::Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let connected = next_json(&mut ws).await;
    assert_eq!(connected["type"], "connected", "{connected}");
    (ws, connected)
}

/// The next text message as JSON, skipping pings; over any stream (plain, TLS).
pub async fn next_json<S>(ws: &mut WebSocketStream<S>) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Waits for the close frame and returns its code.
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return None,
            Err(_) => panic!("no close frame within 10 s"),
        }
    }
}

/// Whether nothing arrives within `wait`.
pub async fn stays_quiet(ws: &mut Ws, wait: Duration) -> bool {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(_) => return false,
        }
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// Tears down an app that was started but never served: the same reverse-order teardown as
/// a real shutdown, with nothing to wait for.
pub async fn stop_unserved(app: leaf::app::App) {
    let token = CancellationToken::new();
    token.cancel();
    app.serve(token).await.unwrap();
}

/// Adds a TD to a running test leaf, as `leaf td add` would.
pub async fn add_td(leaf: &TestLeaf, name: &str, pin: &str) {
    let hash = leaf::auth::Pin::new(pin).unwrap().hash().unwrap();
    leaf.app_state
        .store
        .add_operator(&name.parse().unwrap(), hash)
        .await
        .unwrap();
}

/// Signs a TD in through the API and returns the token.
pub async fn login(leaf: &TestLeaf, name: &str, pin: &str) -> String {
    let response = reqwest::Client::new()
        .post(leaf.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": name, "pin": pin}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

impl TestLeaf {
    /// `METHOD path` with a bearer token and an optional JSON body: status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new().request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Appends an event through the service, past HTTP (for tests that need many quickly);
    /// returns its seq.
    pub async fn append_direct(
        &self,
        t: leaf::event::TournamentId,
        kind: &str,
        data: serde_json::Value,
    ) -> u64 {
        let actor = leaf::writer::Actor {
            who: format!("td:{TEST_TD}"),
            request_id: None,
        };
        self.app_state
            .writer
            .append(
                t,
                leaf::writer::NewEvent::new(kind.parse().unwrap(), data),
                &actor,
            )
            .await
            .unwrap()
            .seq
            .0
    }

    /// Appends an event through the API as a TD; returns its seq.
    pub async fn append(
        &self,
        t: leaf::event::TournamentId,
        kind: &str,
        data: serde_json::Value,
    ) -> u64 {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/v1/tournaments/{t}/events"),
                Some(&self.td_token()),
                Some(serde_json::json!({"type": kind, "data": data})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["seq"].as_u64().unwrap()
    }
}

/// Reads `event` messages until one with `seq` arrives; returns the seqs seen, in order.
pub async fn event_seqs_until(ws: &mut Ws, last: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    loop {
        let m = next_json(ws).await;
        if m["type"] == "event" {
            let seq = m["seq"].as_u64().unwrap();
            seqs.push(seq);
            if seq >= last {
                return seqs;
            }
        }
    }
}
