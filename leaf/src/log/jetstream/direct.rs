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

use bytes::Bytes;

use crate::event::Seq;
use crate::log::{Entry, LogError, PAGE_BYTES, StreamName};

/// How long a page may take to arrive. The server answers from its store on loopback.
const PAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The end of a batch: `204 EOB`.
const END_OF_BATCH: u16 = 204;

/// Up to `limit` messages of the stream named `stream` on `subject` (wildcards allowed)
/// after `after`: leaf's own streams, or a venue's copies on the central cluster.
pub(crate) async fn read_page(
    client: &async_nats::Client,
    stream: &str,
    subject: String,
    after: Seq,
    limit: usize,
) -> Result<Vec<Entry>, LogError> {
    read_batch(client, stream, subject, after, limit, entry).await
}

/// [`read_page`] of whole messages: their headers and store time too.
pub(super) async fn read_stored_page(
    client: &async_nats::Client,
    stream: StreamName,
    after: Seq,
    limit: usize,
) -> Result<Vec<StoredMessage>, LogError> {
    read_batch(client, stream.as_str(), ">".into(), after, limit, stored).await
}

/// One message as the stream holds it: what a backup keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: Seq,
    pub subject: String,
    /// When the stream stored it, as the server gave it (RFC 3339, nanoseconds).
    pub time: String,
    /// The headers it was published with, in order per name (the server's own are not kept).
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

/// Headers a batched direct get adds to each message it answers with, after the message's
/// own (nats-server's `stream.go`), spelled as it spells them.
const SERVER_HEADERS: [&str; 6] = [
    "Nats-Stream",
    "Nats-Sequence",
    "Nats-Time-Stamp",
    "Nats-Subject",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
];

async fn read_batch<T>(
    client: &async_nats::Client,
    stream: &str,
    subject: String,
    after: Seq,
    limit: usize,
    parse: fn(&str, &async_nats::Message) -> Result<T, LogError>,
) -> Result<Vec<T>, LogError> {
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
            None => page.push(parse(stream, &reply)?),
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
fn entry(stream: &str, message: &async_nats::Message) -> Result<Entry, LogError> {
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

/// A message of a batch, whole.
fn stored(stream: &str, message: &async_nats::Message) -> Result<StoredMessage, LogError> {
    let Entry {
        stream_seq,
        subject,
        payload,
    } = entry(stream, message)?;
    let malformed = |what: &str| LogError::Other(format!("direct get on {stream}: {what}"));
    let all = message
        .headers
        .as_ref()
        .ok_or_else(|| malformed("a message without headers"))?;
    let time = header(all, "Nats-Time-Stamp")
        .ok_or_else(|| malformed("no Nats-Time-Stamp"))?
        .to_owned();
    let mut headers = Vec::new();
    for (name, values) in all.iter() {
        let name: &str = name.as_ref();
        let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        // The server's own value of its headers comes last; anything before it is the
        // publisher's.
        let own = if SERVER_HEADERS.contains(&name) {
            &values[..values.len().saturating_sub(1)]
        } else {
            &values[..]
        };
        headers.extend(own.iter().map(|v| (name.to_owned(), (*v).to_owned())));
    }
    // The parsed headers come in no particular order across names: sorted by name (values of
    // one name keep theirs), a backup of the same log is the same file.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(StoredMessage {
        seq: stream_seq,
        subject,
        time,
        headers,
        payload,
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
