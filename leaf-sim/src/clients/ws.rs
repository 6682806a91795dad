//! A WebSocket session to leaf's `/ws` over turmoil's network, with the same client library a
//! real one would use.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use turmoil::net::TcpStream;

use super::http::{REQUEST_TIMEOUT, retry_after};
use crate::venue::{LEAF_HOST, LEAF_PORT};

/// Why no session was opened.
#[derive(Debug)]
pub enum ConnectError {
    /// leaf answered the upgrade with an HTTP status instead, and perhaps a `Retry-After`
    /// (scaled to the simulation).
    Refused {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The connection or the handshake failed, or took too long.
    Failed(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Refused { status, .. } => write!(f, "refused with HTTP {status}"),
            ConnectError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConnectError {}

/// What the next frame was.
#[derive(Debug)]
pub enum Frame {
    Json(serde_json::Value),
    /// The server closed the connection, with its code and reason.
    Closed(u16, String),
    /// The connection failed or ended without a close frame.
    Lost(String),
}

pub struct WsSession {
    socket: WebSocketStream<TcpStream>,
}

impl WsSession {
    /// Connects to `/ws{query}`, within [`REQUEST_TIMEOUT`].
    pub async fn connect(query: &str) -> Result<Self, ConnectError> {
        let handshake = async {
            let stream = TcpStream::connect((LEAF_HOST, LEAF_PORT))
                .await
                .map_err(|e| ConnectError::Failed(format!("cannot connect: {:?}", e.kind())))?;
            let request = format!("ws://{LEAF_HOST}:{LEAF_PORT}/ws{query}")
                .into_client_request()
                .map_err(|e| ConnectError::Failed(e.to_string()))?;
            match tokio_tungstenite::client_async(request, stream).await {
                Ok((socket, _)) => Ok(Self { socket }),
                Err(tungstenite::Error::Http(response)) => Err(ConnectError::Refused {
                    status: response.status().as_u16(),
                    retry_after: retry_after(response.headers().get("retry-after")),
                }),
                Err(e) => Err(ConnectError::Failed(e.to_string())),
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, handshake)
            .await
            .map_err(|_| ConnectError::Failed("no WebSocket handshake in time".into()))?
    }

    /// The next text message, close or failure. Pings are answered by the library and are
    /// reported as `None`, so the caller knows the link is alive. Cancel-safe.
    pub async fn next(&mut self) -> Option<Frame> {
        match self.socket.next().await {
            Some(Ok(Message::Text(text))) => Some(Frame::Json(
                serde_json::from_str(text.as_str()).unwrap_or(serde_json::Value::Null),
            )),
            Some(Ok(Message::Close(close))) => Some(match close {
                Some(close) => Frame::Closed(close.code.into(), close.reason.to_string()),
                None => Frame::Closed(1005, String::new()),
            }),
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(Frame::Lost(e.to_string())),
            None => Some(Frame::Lost("the connection ended".into())),
        }
    }
}
