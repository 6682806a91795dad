//! A TCP proxy of the suite's own between a venue and the central cluster, to cut the link
//! (a venue's Wi-Fi going away) and give it back, as often as a suite likes.
//!
//! Cut, it closes every connection through it and closes each new one at once, so the
//! venue's nats-server sees the link fail the way a dead network makes it fail and keeps
//! dialling. Each new connection goes to the next central server that accepts it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::HarnessError;

pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a loopback port and forwards to `upstreams`, taking turns.
    pub async fn start(upstreams: Vec<SocketAddr>) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| HarnessError::Setup(format!("proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::Setup(format!("proxy: {e}")))?;
        let (up, watching) = watch::channel(true);
        let accepted = Arc::new(AtomicU64::new(0));
        let counted = accepted.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*watching.borrow() {
                    drop(inbound);
                    continue;
                }
                counted.fetch_add(1, Ordering::Relaxed);
                let (upstreams, next, mut watching) =
                    (upstreams.clone(), next.clone(), watching.clone());
                tokio::spawn(async move {
                    let Some(mut outbound) = connect_any(&upstreams, &next).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watching.wait_for(|up| !*up) => {}
                    }
                    // Dropping both ends closes them: the link is cut.
                });
            }
        });
        Ok(Self {
            addr,
            up,
            accepted,
            task,
        })
    }

    /// Where venues dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection through the proxy, and each new one, until [`Self::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// Connections let through so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
        self.task.abort();
    }
}

async fn connect_any(upstreams: &[SocketAddr], next: &AtomicUsize) -> Option<TcpStream> {
    for _ in 0..upstreams.len() {
        let i = next.fetch_add(1, Ordering::Relaxed) % upstreams.len();
        if let Ok(stream) = TcpStream::connect(upstreams[i]).await {
            return Some(stream);
        }
    }
    None
}
