//! Pages of a stream by JetStream's batched direct get (nats-server 2.11+, ADR-31).
//!
//! One request asks the stream for up to `batch` messages matching a subject from a sequence
//! on, at most `max_bytes` of them; the server answers with the messages and an end-of-batch
//! status. Unlike a consumer, a direct get leaves nothing behind on the server: a thousand
//! reads a second cost no lingering state, and a reader that goes away costs nothing.
//!
//! Reads run on their own NATS connection (see `JetStreamLog`), so however many clients
//! read, the connection that carries the feed's tails and the TD's appends never queues their
//! pages and is never cut as a slow consumer because of them.

use std::time::Duration;

use async_nats::{HeaderMap, StatusCode};
use futures_util::StreamExt;

use crate::event::Seq;
use crate::log::{Entry, LogError, PAGE_BYTES, StreamName};

/// How long a page may take to arrive. The server answers from its store on loopback.
const PAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The end of a batch: `204 EOB`.
const END_OF_BATCH: u16 = 204;

/// Up to `limit` messages of `stream` on `subject` (wildcards allowed) after `after`.
pub(super) async fn read_page(
    client: &async_nats::Client,
    stream: StreamName,
    subject: String,
    after: Seq,
    limit: usize,
) -> Result<Vec<Entry>, LogError> {
    let inbox = client.new_inbox();
    // Dropping the subscriber at return unsubscribes, even on an error or a timeout.
    let mut replies = client.subscribe(inbox.clone()).await.map_err(unavailable)?;
    let request = serde_json::json!({
        "seq": after.next().0,
        "next_by_subj": subject,
        "batch": limit,
        "max_bytes": PAGE_BYTES,
    });
    client
        .publish_with_reply(
            format!("$JS.API.DIRECT.GET.{stream}"),
            inbox,
            request.to_string().into(),
        )
        .await
        .map_err(unavailable)?;
    let mut page = Vec::new();
    loop {
        let reply = tokio::time::timeout(PAGE_TIMEOUT, replies.next())
            .await
            .map_err(|_| LogError::TimedOut)?
            .ok_or_else(|| LogError::Unavailable("the connection to nats-server closed".into()))?;
        match reply.status {
            None => page.push(entry(stream, &reply)?),
            Some(status) if status.as_u16() == END_OF_BATCH => return Ok(page),
            // Nothing at or after the start: the page is empty.
            Some(StatusCode::NOT_FOUND) => return Ok(page),
            Some(StatusCode::NO_RESPONDERS) => {
                return Err(LogError::Unavailable(format!(
                    "stream {stream} does not answer direct gets (it is missing, or restarting)"
                )));
            }
            Some(status) => {
                return Err(LogError::Other(format!(
                    "direct get on {stream}: {status} {}",
                    reply.description.unwrap_or_default()
                )));
            }
        }
    }
}

/// A message of a batch: its payload, and where it was stored in its headers.
fn entry(stream: StreamName, message: &async_nats::Message) -> Result<Entry, LogError> {
    let malformed = |what: &str| LogError::Other(format!("direct get on {stream}: {what}"));
    let headers = message
        .headers
        .as_ref()
        .ok_or_else(|| malformed("a message without headers"))?;
    let seq = header(headers, "Nats-Sequence")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("a message without Nats-Sequence"))?;
    let subject = header(headers, "Nats-Subject").ok_or_else(|| malformed("no Nats-Subject"))?;
    Ok(Entry {
        stream_seq: Seq(seq),
        subject: subject.to_owned(),
        payload: message.payload.clone(),
    })
}

/// The last value of `name`: the server appends its own after any the message was stored
/// with, so a publisher's look-alike header cannot pass for the stream's.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_last(name).map(|value| value.as_str())
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}
