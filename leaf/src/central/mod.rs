//! The central reader: leaf started against the central cluster (`--central --nats-url`),
//! serving every venue's copy read-only, for a league's website or remote viewers.
//!
//! Venues replicate their logs to the central cluster through their uplinks (see
//! [`crate::uplink`]); this is the other end. It starts no nats-server and writes nothing to
//! the cluster. Each venue whose copies it finds gets a read stack of its own (`venues`),
//! reading through a [`copy_log::CopyLog`] and served under `/venues/<id>/` (`routes`):
//! the venue's tournaments, their events, and their live displays over WebSocket with
//! resume by seq, as the venue's own leaf serves them.
//!
//! Anyone may read here, and no token is taken: a venue's tokens are signed by that venue's
//! leaf for that venue (see [`crate::http::access::Access::PublicRead`]).

mod cluster;
pub mod copy_log;
mod routes;
mod venues;

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use self::cluster::{Cluster, ClusterError};
pub use self::venues::{DISCOVER_EVERY, VenueSummary};
use crate::config::Config;
use crate::datadir::DataDir;
use crate::uplink::RemoteAuth;

/// The HTTP server's drain at shutdown, as a venue's leaf has it.
const HTTP_DRAIN: Duration = Duration::from_millis(1000);
const NATS_DRAIN: Duration = Duration::from_millis(500);

/// Serves the central cluster's venues until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let reader = tokio::select! {
        reader = CentralReader::start(&config) => reader?,
        () = shutdown.cancelled() => return Ok(()),
    };
    reader.serve(shutdown).await
}

/// A started central reader, not yet serving.
pub struct CentralReader {
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: crate::app::ConnectionLimits,
    cluster: Cluster,
    venues: venues::Venues,
    watcher: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
    data_dir: DataDir,
    dev: bool,
}

impl CentralReader {
    /// Takes the data dir and the port, connects to the central cluster and opens the
    /// venues it finds there at once (each replays its copy in the background).
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        if let Some(refusal) = crate::config::CentralFlags::refusal(config) {
            anyhow::bail!(refusal);
        }
        let Some(url) = config.nats_url.as_deref() else {
            anyhow::bail!("--central needs --nats-url: the central cluster to read");
        };
        let open_files = crate::app::open_files::raise();
        let data_dir = DataDir::open(&config.data_dir)?;
        let listener = crate::app::listen(config.addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        let stop = CancellationToken::new();
        let acceptor = match (&config.tls.tls_cert, &config.tls.tls_key) {
            (Some(cert), Some(key)) => {
                let served = crate::tls::serve(cert, key).context("--tls-cert/--tls-key")?;
                served.clone().watch(stop.clone());
                Some(crate::tls::acceptor(served)?)
            }
            _ => None,
        };
        let auth = match (&config.central.nats_credentials, &config.nats_token) {
            (Some(path), _) => RemoteAuth::read(path)?,
            (None, Some(token)) => RemoteAuth::Token(token.clone()),
            (None, None) => RemoteAuth::None,
        };
        let cluster = Cluster::connect(url, &auth).await?;
        let venues = venues::Venues::new(
            cluster.clone(),
            venues::Settings {
                dir: data_dir.root().join("venues"),
                config: config.clone(),
            },
        );
        let watcher = venues.watch(stop.clone()).await;
        Ok(Self {
            listener,
            acceptor,
            limits: crate::app::fit_connections(config.connection_limits(), open_files),
            cluster,
            venues,
            watcher,
            stop,
            data_dir,
            dev: config.dev,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then closes the venues' displays, stops their
    /// feeds and drains the connections.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        let CentralReader {
            listener,
            acceptor,
            limits,
            cluster,
            venues,
            watcher,
            stop,
            data_dir,
            dev,
        } = self;
        let stop_http = CancellationToken::new();
        let mut server = tokio::spawn(crate::app::serve_within(
            listener,
            routes::router(venues.clone(), dev),
            limits,
            acceptor,
            stop_http.clone().cancelled_owned(),
        ));
        tracing::info!(
            %addr,
            venues = venues.list().len(),
            data_dir = %data_dir.root().display(),
            "leaf is ready: the central reader"
        );
        let failure = tokio::select! {
            () = shutdown.cancelled() => None,
            ended = &mut server => Some(crate::app::server_ended(ended)),
        };
        stop_http.cancel();
        if failure.is_none() {
            let _ = tokio::time::timeout(HTTP_DRAIN, server).await;
        }
        stop.cancel();
        let _ = watcher.await;
        venues.shutdown().await;
        let _ = tokio::time::timeout(NATS_DRAIN, cluster.drain()).await;
        drop(data_dir);
        tracing::info!("leaf stopped");
        failure.map_or(Ok(()), Err)
    }
}
