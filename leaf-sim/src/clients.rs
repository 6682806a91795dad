//! What simulated clients do over turmoil's network: plain HTTP/1.1 requests and WebSocket
//! sessions, with the same client libraries a real one would use.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use turmoil::net::TcpStream;

pub type Error = Box<dyn std::error::Error>;

/// GET `path` from `host:port`: the status and the body.
pub async fn http_get(host: &str, port: u16, path: &str) -> Result<(u16, Bytes), Error> {
    let stream = TcpStream::connect((host, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// A WebSocket session to leaf's `/ws`.
pub struct WsSession {
    socket: tokio_tungstenite::WebSocketStream<TcpStream>,
}

impl WsSession {
    pub async fn connect(host: &str, port: u16, query: &str) -> Result<Self, Error> {
        let stream = TcpStream::connect((host, port)).await?;
        let request = format!("ws://{host}:{port}/ws{query}").into_client_request()?;
        let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Self { socket })
    }

    /// The next text message as JSON; pings are answered by the library and skipped.
    pub async fn next_json(&mut self) -> Result<serde_json::Value, Error> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => return Err(format!("unexpected frame {other:?}").into()),
                Some(Err(e)) => return Err(e.into()),
                None => return Err("the socket closed".into()),
            }
        }
    }
}
