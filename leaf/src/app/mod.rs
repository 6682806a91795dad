//! Wiring: builds every subsystem in order, serves, and tears down in reverse.
//!
//! Startup: data dir (lock) → HTTP listener bound (so a busy port fails before anything is
//! started), and with TLS the certificate loaded and the redirect port bound → LibSQL → NATS (child + streams) → the services, [`wire`]d (hub, feed replaying
//! the log, writer, auth) → HTTP serving. Every step logs its duration. A failed step drops what was built before it; the nats-server child dies with
//! its owner, and nothing in the data dir is deleted.
//!
//! Shutdown (SIGINT/SIGTERM, see [`signals`]): HTTP stops accepting → the hub closes its
//! clients with 1001 → the feed stops and flushes the projection → the NATS connection is drained → the nats-server child is stopped →
//! the database is closed → the data-dir lock is released.

mod jetstream_guard;
pub mod open_files;
mod serve;
mod signals;
mod wiring;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use self::serve::{ConnectionLimits, serve as serve_within};
pub use self::signals::shutdown_on_signals;
pub use self::wiring::{Parts, wire};
use crate::auth::TokenKeys;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::http::{self, AppState, PeerListener};
use crate::log::ServerKind;
use crate::log::storage::StoreSpace;
use crate::log::supervisor::{self, NatsChild, SupervisorConfig};
use crate::log::{EventLog, JetStreamLog, NatsAuth};
use crate::store::Store;

/// Graceful-shutdown budgets. With the nats-server stop timeout (1 s) they add up to 5.2 s,
/// about the 5 s a service manager (or a TD pressing Ctrl-C) reasonably waits before killing.
/// A normal shutdown takes a few milliseconds; the budgets only bound a stuck step.
const HTTP_DRAIN: Duration = Duration::from_millis(1000);
const HUB_CLOSE: Duration = Duration::from_secs(1);
/// Appends whose TDs were answered may still be writing their audit records.
const APPENDS_FINISH: Duration = Duration::from_millis(500);
const NATS_DRAIN: Duration = Duration::from_millis(500);
const STORE_CLOSE: Duration = Duration::from_millis(500);
const FEED_FLUSH: Duration = Duration::from_millis(500);
/// The uplink's watcher stops at once; this bounds the drain of its connection.
const UPLINK_STOP: Duration = Duration::from_millis(200);

/// Runs leaf until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signals().context("cannot install signal handlers")?;
    if config.central.enabled {
        return crate::central::run(config, shutdown).await;
    }
    // A signal during startup stops it: what was built so far is dropped, and the
    // nats-server child dies with its owner.
    let app = tokio::select! {
        app = App::start(&config) => app?,
        () = shutdown.cancelled() => {
            tracing::info!("stopped during startup");
            return Ok(());
        }
    };
    app.serve(shutdown).await
}

/// Serves `router` on any listener until `shutdown` resolves, within the default
/// [`ConnectionLimits`]: a TCP listener in production, a simulated one in leaf-sim.
pub async fn serve<L>(
    listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: PeerListener,
{
    serve::serve(
        listener,
        router,
        ConnectionLimits::default(),
        None,
        shutdown,
    )
    .await
}

/// A started leaf, not yet serving.
pub struct App {
    state: AppState,
    listener: TcpListener,
    limits: ConnectionLimits,
    jetstream: Arc<JetStreamLog>,
    nats: Option<NatsChild>,
    data_dir: DataDir,
    https: Option<Https>,
    /// The uplink's watcher, and what stops it.
    uplink: Option<(tokio::task::JoinHandle<()>, CancellationToken)>,
}

/// HTTPS: the certificate in service and, with `--http-redirect`, the plain-HTTP port.
struct Https {
    served: Arc<crate::tls::ServedCert>,
    redirect: Option<TcpListener>,
}

impl App {
    /// Builds everything; see the module doc for the order.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        if let Some(refusal) = crate::config::CentralFlags::refusal(config) {
            anyhow::bail!(refusal);
        }
        let started = Instant::now();
        let open_files = open_files::raise();
        let data_dir = step("data dir", async { DataDir::open(&config.data_dir) }).await?;

        let listener = step("HTTP listener", async {
            listen(config.addr).map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "address in use: another program (or another leaf) has the port; stop it or choose another --addr"
                } else {
                    "choose another --addr"
                };
                anyhow::anyhow!("cannot listen on {}: {e} ({hint})", config.addr)
            })
        })
        .await?;
        let https = match (&config.tls.tls_cert, &config.tls.tls_key) {
            (Some(cert), Some(key)) => Some(step("TLS", https(config, cert, key)).await?),
            _ => None,
        };

        let store = step("libsql", Store::open(&data_dir.database())).await?;
        let keys = TokenKeys::load_or_create(&data_dir.root().join("jwt.key"))
            .map_err(|e| anyhow::anyhow!("the token signing key: {e}"))?;
        if store.operator_count().await? == 0 {
            tracing::warn!(
                "no TD account yet: create one with `echo <PIN> | leaf --data-dir {} td add <name>`",
                data_dir.root().display()
            );
        }

        let backups = match config.backups.schedule() {
            Some(schedule) => {
                let dir = schedule.dir.display().to_string();
                crate::backup::Backups::scheduled(schedule).with_context(|| {
                    format!("--backup-dir {dir}: leaf cannot write backups there")
                })?
            }
            None => crate::backup::Backups::off(),
        };
        let uplink = crate::uplink::Uplink::from_flags(&config.uplink)?;
        if uplink.is_some() && config.nats_url.is_some() {
            return Err(crate::uplink::UplinkError::ExternalServer.into());
        }
        if uplink.is_none() {
            crate::uplink::cli::forget(data_dir.root())
                .context("cannot remove the status of an earlier uplink from the data dir")?;
        }
        let (jetstream, nats) =
            step("nats", start_nats(config, &data_dir, uplink.as_ref())).await?;
        let stop_uplink = CancellationToken::new();
        // A start that fails after this point stops the watcher with it.
        let uplink_guard = stop_uplink.clone().drop_guard();
        let link = match (&uplink, &nats) {
            (Some(uplink), Some(child)) => Some(
                crate::uplink::Link::start(
                    uplink.target(),
                    data_dir.root(),
                    child.client_url(),
                    &child.auth(),
                    child.jetstream_probe(),
                    stop_uplink.clone(),
                )
                .await?,
            ),
            _ => None,
        };

        let log = jetstream.clone() as Arc<dyn EventLog>;
        let parts = Parts {
            started,
            dev: config.dev,
            clients: config.clients(),
            reads: config.read_budget(),
            space: StoreSpace {
                limit: config.max_store,
                // An external server's disk is not this box's to measure.
                dir: nats.as_ref().map(|_| data_dir.nats()),
            },
            backups,
            tls: https
                .as_ref()
                .map(|h| crate::tls::TlsState::on(h.served.clone()))
                .unwrap_or_default(),
            metrics_token: config.metrics_token.clone(),
            uplink: link.as_ref().map(|(link, _)| link.clone()),
            ..Parts::new(log, store, keys)
        };
        let state = wire(parts).await?;
        uplink_guard.disarm();
        Ok(Self {
            state,
            listener,
            limits: fit_connections(config.connection_limits(), open_files),
            jetstream,
            nats,
            data_dir,
            https,
            uplink: link.map(|(_, task)| (task, stop_uplink)),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The plain-HTTP port that redirects to HTTPS, when there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        let redirect = self.https.as_ref()?.redirect.as_ref()?;
        redirect.local_addr().ok()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The JetStream log, for tests that look at the streams themselves.
    pub fn jetstream(&self) -> &Arc<JetStreamLog> {
        &self.jetstream
    }

    /// Serves until `shutdown` is cancelled, then tears everything down in reverse order.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        let App {
            state,
            listener,
            limits,
            jetstream,
            nats,
            data_dir,
            https,
            uplink,
        } = self;
        let stop_guard = CancellationToken::new();
        let backups = state.backups.spawn(
            jetstream.clone(),
            data_dir.root().to_owned(),
            stop_guard.clone(),
        );
        let guard = jetstream_guard::spawn(
            jetstream.clone(),
            nats.as_ref().map(|n| jetstream_guard::Supervised {
                probe: n.jetstream_probe(),
                restarter: n.restarter(),
                store_dir: data_dir.nats(),
            }),
            stop_guard.clone(),
        );
        let stop_http = CancellationToken::new();
        let (acceptor, redirect) = match https {
            Some(Https { served, redirect }) => {
                served.clone().watch(stop_guard.clone());
                let redirect = redirect.map(|listener| {
                    tokio::spawn(serve::serve(
                        listener,
                        crate::tls::redirect::router(addr.port()),
                        limits,
                        None,
                        stop_http.clone().cancelled_owned(),
                    ))
                });
                (Some(crate::tls::acceptor(served)?), redirect)
            }
            None => (None, None),
        };
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let mut server = tokio::spawn(serve::serve(
            listener,
            http::router(state.clone()),
            limits,
            acceptor,
            stop_http.clone().cancelled_owned(),
        ));
        tracing::info!(
            %addr,
            scheme,
            data_dir = %data_dir.root().display(),
            startup_ms = state.started.elapsed().as_millis() as u64,
            "leaf is ready"
        );

        // The server only ends by itself on an I/O failure: then leaf shuts down too, in the
        // same order, and exits non-zero.
        let failure = tokio::select! {
            () = shutdown.cancelled() => None,
            ended = &mut server => Some(server_ended(ended)),
        };
        let begun = Instant::now();

        teardown("HTTP", async {
            stop_http.cancel();
            if failure.is_none() && tokio::time::timeout(HTTP_DRAIN, server).await.is_err() {
                tracing::warn!("HTTP requests still running after {HTTP_DRAIN:?}; leaving them");
            }
            if let Some(redirect) = redirect {
                // It answers with redirects only: nothing to wait for but closed sockets.
                let _ = tokio::time::timeout(HTTP_DRAIN, redirect).await;
            }
        })
        .await;
        teardown("appends", async {
            if !state.writer.finish(APPENDS_FINISH).await {
                tracing::warn!("appends still running after {APPENDS_FINISH:?}; the next start writes their audit records");
            }
        })
        .await;
        teardown("hub", state.hub.shutdown(HUB_CLOSE)).await;
        teardown("feed", async {
            if tokio::time::timeout(FEED_FLUSH, state.feed.shutdown()).await.is_err() {
                tracing::warn!("the projection did not flush within {FEED_FLUSH:?}; the next start re-applies it from the log");
            }
        })
        .await;
        stop_guard.cancel();
        let _ = guard.await;
        if let Some((task, stop)) = uplink {
            teardown("uplink", async {
                stop.cancel();
                if tokio::time::timeout(UPLINK_STOP, task).await.is_err() {
                    tracing::warn!("the uplink's watcher did not stop within {UPLINK_STOP:?}");
                }
            })
            .await;
        }
        if let Some(backups) = backups {
            // A backup cut here leaves a hidden partial directory, removed at the next start.
            let _ = backups.await;
        }
        teardown("nats connection", async {
            if tokio::time::timeout(NATS_DRAIN, jetstream.drain())
                .await
                .is_err()
            {
                tracing::warn!("NATS drain did not finish within {NATS_DRAIN:?}");
            }
        })
        .await;
        if let Some(nats) = nats {
            teardown("nats-server", nats.stop()).await;
        }
        teardown("libsql", async {
            if tokio::time::timeout(STORE_CLOSE, state.store.close())
                .await
                .is_err()
            {
                tracing::warn!("the database did not close within {STORE_CLOSE:?}");
            }
        })
        .await;
        drop(data_dir);
        tracing::info!(
            elapsed_ms = begun.elapsed().as_millis() as u64,
            "leaf stopped"
        );
        failure.map_or(Ok(()), Err)
    }
}

/// The child (unless `--nats-url`), the connection and the streams.
pub(crate) async fn start_nats(
    config: &Config,
    data_dir: &DataDir,
    uplink: Option<&crate::uplink::Uplink>,
) -> anyhow::Result<(Arc<JetStreamLog>, Option<NatsChild>)> {
    if let Some(url) = &config.nats_url {
        tracing::info!(%url, "using external NATS (--nats-url); not starting nats-server");
        let auth = config
            .nats_token
            .clone()
            .map_or(NatsAuth::None, NatsAuth::Token);
        let log = JetStreamLog::connect(url, auth, ServerKind::External)
            .await
            .with_context(|| format!("cannot use the NATS server at {url}"))?;
        return Ok((Arc::new(log), None));
    }
    let binary =
        supervisor::locate(config.nats_server.as_deref(), &data_dir.nats().join("bin")).await?;
    tracing::info!(path = %binary.path.display(), version = %binary.version, "found nats-server");
    if uplink.is_some() && binary.version < crate::uplink::MIN_VERSION {
        anyhow::bail!(
            "nats-server {} at {} is too old for --uplink-url: the uplink needs {} or newer (leafnode and sourcing fixes)",
            binary.version,
            binary.path.display(),
            crate::uplink::MIN_VERSION
        );
    }
    let child = NatsChild::start(SupervisorConfig {
        binary,
        dir: data_dir.nats(),
        max_store: config.max_store,
        sync: supervisor::SyncWrites::Always,
        remote: match uplink {
            Some(uplink) => {
                let box_name = crate::uplink::box_name(&data_dir.nats())
                    .context("cannot name this venue box for the uplink (nats/box-name)")?;
                Some(uplink.remote(&box_name))
            }
            None => None,
        },
    })
    .await?;
    let log = JetStreamLog::connect(
        child.client_url(),
        child.auth(),
        ServerKind::Supervised(child.status()),
    )
    .await?;
    let log = match uplink {
        Some(uplink) => log.with_venue(&uplink.venue),
        None => log,
    };
    Ok((Arc::new(log), Some(child)))
}

/// Loads the certificate (a bad pair stops leaf here, saying which file and why) and binds
/// the redirect port.
async fn https(
    config: &Config,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Https> {
    let served = crate::tls::serve(cert, key).context("--tls-cert/--tls-key")?;
    let redirect = match config.tls.http_redirect {
        Some(addr) => Some(
            listen(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for --http-redirect: {e}"))?,
        ),
        None => None,
    };
    Ok(Https { served, redirect })
}

/// Why the HTTP server's task ended by itself (it only does on a failure).
pub(crate) fn server_ended(
    ended: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> anyhow::Error {
    match ended {
        Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped unexpectedly"),
        Ok(Err(e)) => anyhow::Error::new(e).context("the HTTP server failed"),
        Err(e) => anyhow::Error::new(e).context("the HTTP server task failed"),
    }
}

/// Runs one startup step and logs how long it took.
async fn step<T, E>(name: &str, fut: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    E: Into<anyhow::Error>,
{
    let begun = Instant::now();
    let value = fut.await.map_err(Into::into)?;
    tracing::info!(
        step = name,
        ms = begun.elapsed().as_millis() as u64,
        "started"
    );
    Ok(value)
}

async fn teardown(name: &str, fut: impl Future<Output = ()>) {
    let begun = Instant::now();
    fut.await;
    tracing::info!(
        step = name,
        ms = begun.elapsed().as_millis() as u64,
        "stopped"
    );
}

/// Open files kept for everything but client connections: the log's connection, leaf.db and
/// its WAL, nats-server's ports file, the executor's own.
const OPEN_FILES_RESERVE: usize = 256;

/// `limits` with no more connections than the open-files limit leaves room for: past it,
/// accepting fails for everyone instead of refusing one client.
pub(crate) fn fit_connections(
    mut limits: ConnectionLimits,
    open_files: Option<u64>,
) -> ConnectionLimits {
    if let Some(soft) = open_files {
        let room = usize::try_from(soft)
            .unwrap_or(usize::MAX)
            .saturating_sub(OPEN_FILES_RESERVE)
            .max(1);
        if limits.total > room {
            tracing::warn!(
                asked = limits.total,
                open_files = soft,
                allowed = room,
                "--max-connections is more than the open-files limit allows; lowered"
            );
            limits.total = room;
        }
    }
    limits
}

/// Connections the kernel may hold before leaf accepts them (capped by `net.core.somaxconn`).
/// A room of screens reconnects at once after a Wi-Fi blip or a restart: with the usual 128,
/// the rest are dropped and wait a whole second for the client's retransmit.
const LISTEN_BACKLOG: u32 = 4096;

pub(crate) fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restarted leaf can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
