//! axum's [`Listener`] over turmoil's simulated TCP, so `leaf::app::serve` serves the very same
//! router inside the simulation that it serves on a real socket.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::Listener;
use turmoil::net::{TcpListener, TcpStream};

pub struct SimListener(TcpListener);

impl SimListener {
    pub async fn bind(port: u16) -> io::Result<Self> {
        TcpListener::bind(("0.0.0.0", port)).await.map(Self)
    }
}

impl leaf::http::PeerListener for SimListener {}

impl Listener for SimListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(accepted) => return accepted,
                // As axum's own TCP listener does: log, back off briefly, keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "simulated accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
