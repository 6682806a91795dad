//! A small HTTP/1.1 client over turmoil's network: one connection per request, as a phone on
//! flaky Wi-Fi would behave, and a deadline on the whole exchange.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use turmoil::net::TcpStream;

use crate::venue::{LEAF_HOST, LEAF_PORT};

pub type Error = Box<dyn std::error::Error>;

/// How long a client waits for a whole answer before it gives up on the request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// What a second of `Retry-After` is worth inside the simulation: clients here ping, time out
/// and back off at about a tenth of production's pace, and a refused one waits a quarter of
/// what leaf asks, so a burst's refusals are retried within the run yet still spread out.
pub const RETRY_AFTER_SECOND: Duration = Duration::from_millis(250);

/// leaf's answer to a request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON (`Null` if it is not JSON).
    pub body: serde_json::Value,
    /// What `Retry-After` asked for, scaled by [`RETRY_AFTER_SECOND`].
    pub retry_after: Option<Duration>,
    /// The body's length.
    pub bytes: usize,
}

/// The wait a `Retry-After` header value asks for, scaled to the simulation.
pub fn retry_after(value: Option<&hyper::header::HeaderValue>) -> Option<Duration> {
    let seconds: u32 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(RETRY_AFTER_SECOND * seconds)
}

/// A request to leaf.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// Sent as `x-request-id`; leaf writes it into the audit record, so the log stays the
    /// same from run to run (leaf would otherwise make a random one).
    pub request_id: Option<&'a str>,
    pub body: Option<serde_json::Value>,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: "GET",
            path,
            token: None,
            idempotency_key: None,
            request_id: None,
            body: None,
        }
    }

    pub fn post(path: &'a str, body: serde_json::Value) -> Self {
        Self {
            method: "POST",
            body: Some(body),
            ..Self::get(path)
        }
    }

    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    pub fn request_id(mut self, id: &'a str) -> Self {
        self.request_id = Some(id);
        self
    }

    pub fn key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// The status and the body as JSON (`Null` if it is not JSON); an error if no answer came
    /// within [`REQUEST_TIMEOUT`].
    pub async fn send(self) -> Result<(u16, serde_json::Value), Error> {
        self.answer().await.map(|a| (a.status, a.body))
    }

    /// [`Call::send`], with what `Retry-After` asked for.
    pub async fn answer(self) -> Result<Answer, Error> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange())
            .await
            .map_err(|_| "no answer in time")?
    }

    async fn exchange(self) -> Result<Answer, Error> {
        let stream = TcpStream::connect((LEAF_HOST, LEAF_PORT))
            .await
            .map_err(|e| format!("cannot connect: {:?}", e.kind()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(self.method)
            .uri(self.path)
            .header("host", LEAF_HOST);
        if let Some(token) = self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(id) = self.request_id {
            request = request.header("x-request-id", id);
        }
        if let Some(key) = self.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let body = match self.body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&json)?)
            }
            None => Bytes::new(),
        };
        let response = sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers().get(hyper::header::RETRY_AFTER));
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            retry_after,
            bytes: body.len(),
        })
    }
}
