//! Serving the router on any listener, with limits a shared Wi-Fi needs.
//!
//! axum's own `serve` has no limits: one client could open sockets until the open-files limit
//! locks everyone else out, and a request whose headers never finish (slowloris) holds its
//! connection for as long as the client likes. This is the same loop, on hyper's HTTP/1
//! connection with upgrades for WebSockets (browsers speak nothing else to a plain-HTTP
//! server), with:
//! - at most [`ConnectionLimits::total`] connections, and at most
//!   [`ConnectionLimits::per_address`] from one address; past either, the connection is
//!   answered `503` with `Retry-After` and closed;
//! - a request's headers must arrive within [`ConnectionLimits::header_read`] of the
//!   connection opening or of the previous response: a connection that sends nothing is
//!   closed too, and so is a keep-alive connection idle for that long.
//!
//! A connection counts until its socket closes, a WebSocket's included (the count travels
//! with the socket into the upgrade).
//!
//! With TLS, each connection's handshake must finish within [`ConnectionLimits::header_read`]
//! (and then its first request's headers within as long again), and requests carry
//! [`Scheme::Https`] so that what leaf writes into URLs (viewer links) says `https://`. A
//! connection over the limits is closed without a word there: a plain-text 503 would only
//! break the client's handshake, and a handshake is work leaf is refusing to do.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use tokio_rustls::TlsAcceptor;

use crate::http::{ClientAddr, PeerListener, Scheme};

/// How many connections leaf holds, and how long a request may take to say what it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections at once, WebSockets included: well under the open-files limit, which the
    /// log, the database and nats-server need too.
    pub total: usize,
    /// Connections at once from one address. A venue's screens and phones each have their
    /// own; a leaf behind a proxy or NAT sees one address for all of them and needs more.
    pub per_address: usize,
    /// Time from a connection's opening (or its previous response) to a request's complete
    /// headers.
    pub header_read: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            total: 16_384,
            per_address: 256,
            header_read: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then waits for
/// the open connections to finish. With `tls`, every connection is HTTPS.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: PeerListener,
{
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let counts = Counts::new(limits);
    let (stop, stopping) = watch::channel(false);
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        L::prepare(&io);
        let Some(slot) = counts.admit(addr.ip()) else {
            tracing::warn!(%addr, "connection refused: over the connection limits");
            if tls.is_none() {
                connections.spawn(refuse(io));
            }
            continue;
        };
        let io = Counted { io, _slot: slot };
        let service =
            router
                .clone()
                .map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    let extensions = request.extensions_mut();
                    extensions.insert(ConnectInfo(ClientAddr(addr)));
                    extensions.insert(scheme);
                    request
                });
        let service = TowerToHyperService::new(service);
        let mut stopping = stopping.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let Some(tls) = tls else {
                return serve_connection(io, service, limits, stopping, addr).await;
            };
            let handshake = tokio::time::timeout(limits.header_read, tls.accept(io));
            let stream = tokio::select! {
                done = handshake => done,
                _ = stopping.wait_for(|stop| *stop) => return,
            };
            match stream {
                Ok(Ok(stream)) => serve_connection(stream, service, limits, stopping, addr).await,
                // A client that does not trust the certificate ends up here, as does anyone
                // speaking plain HTTP to the HTTPS port: common, and not leaf's problem.
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake took too long; closed"),
            }
        });
    }
    // New connections are refused by the kernel from now on, not left in the backlog.
    drop(listener);
    let _ = stop.send(true);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves HTTP/1.1 (with upgrades, for WebSockets) on one connection until it ends or leaf
/// stops.
async fn serve_connection<Io, S>(
    io: Io,
    service: S,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    addr: std::net::SocketAddr,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = stop => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            // Once: finish the request in progress, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%addr, error = %e, "connection ended with an error");
    }
}

/// The answer to a connection over the limits: a plain `503` the client can read, then close.
/// What the client sent is read and dropped before the close (briefly), so the kernel does
/// not answer it with a reset that could destroy the 503 on its way.
async fn refuse<Io: AsyncRead + AsyncWrite + Unpin>(mut io: Io) {
    const BODY: &str =
        r#"{"error":{"code":"unavailable","message":"too many connections; retry shortly"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let answer = async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        while io.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Open connections, in all and per address.
#[derive(Clone)]
struct Counts {
    limits: ConnectionLimits,
    // A std mutex: a counter or two per accept and per close, never held across an await.
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Counts {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, if the limits allow it.
    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = open.by_address.get(&ip).copied().unwrap_or(0);
        if open.total >= self.limits.total || from_ip >= self.limits.per_address {
            return None;
        }
        open.total += 1;
        open.by_address.insert(ip, from_ip + 1);
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it (when the socket closes) frees its place.
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.ip);
            }
        }
    }
}

/// A connection's socket together with its slot, so the slot lives exactly as long as the
/// socket, through an upgrade to a WebSocket.
struct Counted<Io> {
    io: Io,
    _slot: Slot,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Counted<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Counted<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse::<std::net::SocketAddr>().unwrap().ip()
    }

    #[test]
    fn connections_are_admitted_up_to_each_limit_and_freed_on_close() {
        let counts = Counts::new(ConnectionLimits {
            total: 3,
            per_address: 2,
            header_read: Duration::from_secs(1),
        });
        let a = ip("10.0.0.1:1");
        let b = ip("10.0.0.2:1");
        let a1 = counts.admit(a).unwrap();
        let _a2 = counts.admit(a).unwrap();
        assert!(counts.admit(a).is_none(), "a third from one address");
        let _b1 = counts.admit(b).unwrap();
        assert!(counts.admit(b).is_none(), "a fourth in all");
        drop(a1);
        assert!(
            counts.admit(b).is_some(),
            "a closed connection frees its place"
        );
    }
}
