//! The production [`EventLog`]: NATS JetStream through async-nats.
//!
//! Connects with the child's token (or to `--nats-url`), creates the two streams if they are
//! missing, brings an existing stream to leaf's configuration where JetStream allows it, and
//! refuses to start where it does not. Nothing here ever deletes or purges data.

mod direct;

pub use self::direct::StoredMessage;
pub(crate) use self::direct::read_page;
mod streams;

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use self::streams::ensure_stream;
use super::supervisor::{ChildStatus, MIN_VERSION, Version};
use super::{
    Ack, Entry, EntryStream, EventLog, Filter, LogError, LogHealth, LogRoom, PublishOptions,
    StreamName, Subject,
};
use crate::event::Seq;

/// How long leaf waits for the first connection. The server is on loopback and already ready.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long health reports a refusal for room after the last one, when no publish has been
/// stored since: room freed while nobody appends shows as soon as this passes.
const REFUSAL_REMEMBERED: Duration = Duration::from_secs(30);
/// One health probe must not hold up `/api/v1/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// How leaf signs in to the NATS server.
#[derive(Clone)]
pub enum NatsAuth {
    None,
    /// `--nats-token`, for an external server.
    Token(String),
    /// leaf's own child: a user and a password made at each start.
    User {
        name: String,
        password: String,
    },
}

impl std::fmt::Debug for NatsAuth {
    /// Without the secret: it must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::Token(_) => f.write_str("Token(…)"),
            NatsAuth::User { name, .. } => write!(f, "User({name}, …)"),
        }
    }
}

/// Where the server comes from, for health reporting.
#[derive(Debug, Clone)]
pub enum ServerKind {
    /// leaf's own child; its status says whether it runs and what `/varz` showed.
    Supervised(watch::Receiver<ChildStatus>),
    /// `--nats-url`: leaf cannot see the server's config, so `sync_interval` is unknown.
    External,
}

#[derive(Debug)]
pub struct JetStreamLog {
    /// Publishes, the feed's tails and stream administration.
    client: async_nats::Client,
    /// Reads only: whatever clients make leaf read arrives here, never on `client`.
    reads: async_nats::Client,
    js: jetstream::Context,
    server: ServerKind,
    /// When a publish was last refused for lack of room; cleared by the next one stored.
    refused_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// JetStream disabled itself (nats-server does on a write error such as a full disk):
    /// every publish fails until it is back, and is told as [`LogError::StorageFull`].
    disabled: std::sync::atomic::AtomicBool,
    /// `<venue id>:` before every `Nats-Msg-Id`, with an uplink: the central cluster keeps
    /// every venue's messages, and its deduplication must never take one venue's message
    /// for another's.
    msg_id_prefix: Option<String>,
}

/// Whether JetStream answers, as far as one request can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JetStreamState {
    Enabled,
    /// The server answers, but JetStream has shut itself down.
    Disabled,
    /// No answer (the server is down or restarting).
    Unknown,
}

impl JetStreamLog {
    /// Connects and makes sure both streams exist with leaf's configuration.
    pub async fn connect(url: &str, auth: NatsAuth, server: ServerKind) -> Result<Self, LogError> {
        // Side by side: each connect waits out round trips to the server, and a start waits
        // for both.
        let (client, reads) = tokio::try_join!(
            connect_as("leaf", url, &auth),
            connect_as("leaf-reads", url, &auth)
        )?;
        let version = client.server_info().version;
        match Version::parse(&version) {
            Some(v) if v >= MIN_VERSION => {}
            _ => {
                return Err(LogError::Other(format!(
                    "the NATS server at {url} runs {version}; leaf needs nats-server {MIN_VERSION} or newer (for sync_interval: always and the append guard)"
                )));
            }
        }
        let js = jetstream::new(client.clone());
        for name in StreamName::ALL {
            ensure_stream(&js, name).await?;
        }
        Ok(Self {
            client,
            reads,
            js,
            server,
            refused_at: Default::default(),
            disabled: Default::default(),
            msg_id_prefix: None,
        })
    }

    /// Puts the venue id into every `Nats-Msg-Id` this log publishes.
    pub fn with_venue(self, venue: &crate::uplink::VenueId) -> Self {
        Self {
            msg_id_prefix: Some(format!("{venue}:")),
            ..self
        }
    }

    /// Flushes what is in flight and closes the connections.
    pub async fn drain(&self) {
        for client in [&self.client, &self.reads] {
            if let Err(e) = client.drain().await {
                tracing::warn!(error = %e, "draining a NATS connection failed");
            }
        }
    }

    /// Asks whether JetStream is up, as its client, and remembers the answer (see
    /// [`JetStreamLog::note_jetstream`]). For a server leaf does not supervise: JetStream
    /// disabled for the account answers so, but a server that shut JetStream down leaves the
    /// request unanswered ([`JetStreamState::Unknown`]); the supervised server is asked
    /// directly instead ([`crate::log::supervisor::JetStreamProbe`]).
    pub async fn check_jetstream(&self) -> JetStreamState {
        let state = match tokio::time::timeout(HEALTH_TIMEOUT, self.js.query_account()).await {
            Ok(Ok(_)) => JetStreamState::Enabled,
            Ok(Err(e)) if e.to_string().to_ascii_lowercase().contains("not enabled") => {
                JetStreamState::Disabled
            }
            _ => JetStreamState::Unknown,
        };
        self.note_jetstream(state);
        state
    }

    /// Remembers whether JetStream is up: while it is down, a publish that finds no stream is
    /// refused as `storage_full` (see `publish_error`).
    pub fn note_jetstream(&self, state: JetStreamState) {
        match state {
            JetStreamState::Enabled => {
                // Back from a shutdown for room: its refusals are over.
                if self.disabled.swap(false, Ordering::Relaxed) {
                    self.refused_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                }
            }
            JetStreamState::Disabled => self.disabled.store(true, Ordering::Relaxed),
            JetStreamState::Unknown => {}
        }
    }

    /// Up to `limit` whole messages of `stream` after `after`, in order (one page, as
    /// [`EventLog::read`] pages): for backups.
    pub async fn read_stored(
        &self,
        stream: StreamName,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, LogError> {
        direct::read_stored_page(&self.reads, stream, after, limit).await
    }

    /// Sends `message` of a backup to `stream`, to be stored right after `after` and nowhere
    /// else; resolves to its ack, which holds the sequence it got. For restores, into an
    /// empty stream: the guards it was first published with are dropped (they held then).
    pub async fn publish_stored(
        &self,
        stream: StreamName,
        message: &StoredMessage,
        after: Seq,
    ) -> Result<impl Future<Output = Result<Seq, LogError>> + use<>, LogError> {
        let size = message.payload.len();
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in &message.headers {
            if !name.to_ascii_lowercase().starts_with("nats-expected-") {
                headers.append(name.as_str(), value.as_str());
            }
        }
        headers.insert("Nats-Expected-Last-Sequence", after.0.to_string().as_str());
        headers.insert("Nats-Expected-Stream", stream.as_str());
        let pending = self
            .js
            .publish_with_headers(message.subject.clone(), headers, message.payload.clone())
            .await
            .map_err(|e| publish_error(e.kind(), size, &e, false))?;
        Ok(async move {
            pending
                .await
                .map(|ack| Seq(ack.sequence))
                .map_err(|e| publish_error(e.kind(), size, &e, false))
        })
    }

    /// How many messages `stream` holds, and its first and last sequence, as the server
    /// counts them now.
    pub async fn stream_counts(&self, stream: StreamName) -> Result<(u64, Seq, Seq), LogError> {
        let state = self.stream_info(stream).await?.state;
        Ok((
            state.messages,
            Seq(state.first_sequence),
            Seq(state.last_sequence),
        ))
    }

    /// The configuration JetStream reports for one of leaf's streams.
    pub async fn stream_config(&self, name: StreamName) -> Result<stream::Config, LogError> {
        Ok(self.stream_info(name).await?.config)
    }

    /// What the server says of `name` now (not a cached copy).
    async fn stream_info(&self, name: StreamName) -> Result<stream::Info, LogError> {
        let unavailable =
            |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {name}: {e}"));
        let mut stream = self
            .js
            .get_stream(name.as_str())
            .await
            .map_err(|e| unavailable(&e))?;
        stream.info().await.cloned().map_err(|e| unavailable(&e))
    }

    async fn probe(&self) -> LogHealth {
        let supervised = match &self.server {
            ServerKind::Supervised(status) => Some(status.borrow().clone()),
            ServerKind::External => None,
        };
        let mut health = LogHealth {
            ok: false,
            server_version: None,
            sync_interval: supervised
                .as_ref()
                .and_then(|s| s.facts.as_ref())
                .map(|f| f.sync_interval.clone()),
            streams: Vec::new(),
            restarts: supervised.as_ref().map(|s| s.restarts),
            consumers: None,
            error: None,
        };
        if supervised.as_ref().is_some_and(|s| !s.running) {
            health.error = Some("nats-server is not running; leaf is restarting it".into());
            return health;
        }
        if self.client.connection_state() != async_nats::connection::State::Connected {
            health.error = Some("not connected to nats-server".into());
            return health;
        }
        health.server_version = Some(self.client.server_info().version);
        for name in StreamName::ALL {
            match tokio::time::timeout(HEALTH_TIMEOUT, self.js.get_stream(name.as_str())).await {
                Ok(Ok(stream)) => {
                    health.streams.push(name.as_str().to_owned());
                    let consumers = stream.cached_info().state.consumer_count as u64;
                    *health.consumers.get_or_insert(0) += consumers;
                }
                Ok(Err(e)) => health.error = Some(format!("stream {name}: {e}")),
                Err(_) => health.error = Some(format!("stream {name}: no answer in time")),
            }
        }
        if supervised.is_some() && health.error.is_none() {
            health.error = match health.sync_interval.as_deref() {
                Some("always") => None,
                Some(other) => Some(format!(
                    "nats-server runs with sync_interval {other}, not always"
                )),
                None => Some("sync_interval unknown: nats-server's /varz could not be read".into()),
            };
        }
        health.ok = health.error.is_none() && health.streams.len() == StreamName::ALL.len();
        health
    }
}

impl EventLog for JetStreamLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(async move {
            let size = payload.len();
            let mut message = jetstream::message::PublishMessage::build().payload(payload);
            if let Some(id) = &options.msg_id {
                message = match &self.msg_id_prefix {
                    Some(prefix) => message.message_id(format!("{prefix}{}", id.as_str())),
                    None => message.message_id(id.as_str()),
                };
            }
            if let Some(last) = options.expect_last {
                // Scoped to the whole tournament, not the one subject: an event of any type
                // appended meanwhile must fail the check (nats-server 2.11+).
                message = message.expected_last_subject_sequence(last.0).header(
                    EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT,
                    Filter::Tournament(subject.tournament()).subject(StreamName::State),
                );
            }
            let disabled = self.disabled.load(Ordering::Relaxed);
            if disabled && matches!(self.server, ServerKind::Supervised(_)) {
                // The server takes no writes until leaf restarts it (see `app::jetstream_guard`);
                // since 2.14 it would not even answer this one.
                *self.refused_at.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::time::Instant::now());
                return Err(LogError::StorageFull(
                    "the event log's store failed a write (a full disk?) and takes none until leaf restarts it, once there is room".into(),
                ));
            }
            let sent = async {
                let pending = self
                    .js
                    .send_publish(subject.to_string(), message)
                    .await
                    .map_err(|e| publish_error(e.kind(), size, &e, disabled))?;
                pending
                    .await
                    .map_err(|e| publish_error(e.kind(), size, &e, disabled))
            };
            let ack = sent.await;
            match &ack {
                Ok(_) => {
                    self.refused_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    self.disabled.store(false, Ordering::Relaxed);
                }
                Err(LogError::StorageFull(_)) => {
                    *self.refused_at.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(std::time::Instant::now());
                }
                Err(_) => {}
            }
            let ack = ack?;
            let stream = StreamName::parse(&ack.stream).ok_or_else(|| {
                LogError::Other(format!(
                    "{subject} was stored in unexpected stream {}",
                    ack.stream
                ))
            })?;
            Ok(Ack {
                stream,
                seq: Seq(ack.sequence),
                duplicate: ack.duplicate,
            })
        })
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            direct::read_page(
                &self.reads,
                stream.as_str(),
                filter.subject(stream),
                after,
                limit,
            )
            .await
        })
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        Box::pin(async move {
            let handle = self
                .js
                .get_stream(stream.as_str())
                .await
                .map_err(|e| LogError::Unavailable(format!("stream {stream}: {e}")))?;
            Ok(Seq(handle.cached_info().state.last_sequence))
        })
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        Box::pin(tail(
            &self.js,
            stream.as_str(),
            Filter::All.subject(stream),
            after,
        ))
    }

    fn room(&self) -> BoxFuture<'_, LogRoom> {
        Box::pin(async move {
            let used = tokio::time::timeout(HEALTH_TIMEOUT, self.js.query_account()).await;
            LogRoom {
                used_bytes: match used {
                    Ok(Ok(account)) => Some(account.storage),
                    _ => None,
                },
                refusing: self.disabled.load(Ordering::Relaxed)
                    || self
                        .refused_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some_and(|at| at.elapsed() < REFUSAL_REMEMBERED),
            }
        })
    }

    fn health(&self) -> BoxFuture<'_, LogHealth> {
        Box::pin(self.probe())
    }
}

/// The header that widens `Nats-Expected-Last-Subject-Sequence` to a subject filter.
const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";

/// Every message of the stream named `stream` on `filter` after `after`, then new ones as
/// they are stored: an ordered consumer (ephemeral, no acks, recreated by the client after a
/// reconnect), deleted on the server when the returned stream is dropped. For leaf's own
/// streams and for a venue's copies on the central cluster.
pub(crate) async fn tail(
    js: &jetstream::Context,
    stream: &str,
    filter: String,
    after: Seq,
) -> Result<EntryStream, LogError> {
    let unavailable_stream =
        |e: &dyn std::fmt::Display| LogError::Unavailable(format!("stream {stream}: {e}"));
    let handle = js
        .get_stream(stream)
        .await
        .map_err(|e| unavailable_stream(&e))?;
    let consumer = handle
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: after.next().0,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable_stream(&e))?;
    // A tail the feed drops (to reopen it) is deleted on the server rather than left for the
    // 30 s an abandoned ordered consumer lingers.
    let forget = ForgetOnDrop {
        js: js.clone(),
        stream: stream.to_owned(),
        consumer: Some(consumer.cached_info().name.clone()),
    };
    let messages = consumer.messages().await.map_err(unavailable)?;
    Ok(messages
        .map(move |next| {
            let _forget_with_the_tail = &forget;
            match next {
                Ok(message) => entry(&message),
                Err(e) => Err(unavailable(e)),
            }
        })
        .boxed())
}

/// Deletes a tail's consumer when the tail is dropped.
struct ForgetOnDrop {
    js: jetstream::Context,
    stream: String,
    consumer: Option<String>,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        let (Some(name), Ok(runtime)) =
            (self.consumer.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let (js, stream) = (self.js.clone(), self.stream.clone());
        runtime.spawn(async move {
            // Best effort: the client may have replaced it already (it recreates an ordered
            // consumer after a gap), or the server may be gone; then it expires by itself.
            if let Ok(handle) = js.get_stream(&stream).await {
                let _ = handle.delete_consumer(&name).await;
            }
        });
    }
}

/// A connection to the server, named for what it carries.
pub(crate) async fn connect_as(
    name: &str,
    url: &str,
    auth: &NatsAuth,
) -> Result<async_nats::Client, LogError> {
    let options = match auth {
        NatsAuth::None => async_nats::ConnectOptions::new(),
        NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
        NatsAuth::User { name, password } => {
            async_nats::ConnectOptions::with_user_and_password(name.clone(), password.clone())
        }
    };
    // Loopback reconnects are cheap, and every second without the log is a second in which a
    // TD cannot save: retry fast, capped at one second.
    let reconnects = Reconnects {
        connect_timeout: CONNECT_TIMEOUT,
        step: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    watched(options, name, "nats-server", reconnects)
        .connect(url)
        .await
        .map_err(|e| LogError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))
}

/// How a connection is made and made again.
pub(crate) struct Reconnects {
    pub connect_timeout: Duration,
    /// The wait before the nth attempt is n times this, up to `max`.
    pub step: Duration,
    pub max: Duration,
}

/// `options` for a connection named `name` that reconnects for ever as `reconnects` says,
/// and logs its losses and returns as a connection to `server`.
pub(crate) fn watched(
    options: async_nats::ConnectOptions,
    name: &str,
    server: &'static str,
    reconnects: Reconnects,
) -> async_nats::ConnectOptions {
    let role = name.to_owned();
    let Reconnects {
        connect_timeout,
        step,
        max,
    } = reconnects;
    options
        .name(name)
        .connection_timeout(connect_timeout)
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempts| {
            step.saturating_mul(u32::try_from(attempts).unwrap_or(u32::MAX))
                .min(max)
        })
        .event_callback(move |event| {
            let role = role.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(connection = %role, "connected to {server}")
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(connection = %role, "disconnected from {server}; reconnecting")
                    }
                    other => {
                        tracing::debug!(connection = %role, event = %other, "nats client event")
                    }
                }
            }
        })
}

fn entry(message: &jetstream::Message) -> Result<Entry, LogError> {
    let info = message.info().map_err(|e| LogError::Other(e.to_string()))?;
    Ok(Entry {
        stream_seq: Seq(info.stream_sequence),
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
    })
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

/// The sequence in the server's "wrong last sequence: N" (async-nats may repeat the phrase
/// and add a code after the number).
fn last_sequence_in(text: &str) -> Option<Seq> {
    const PHRASE: &str = "wrong last sequence:";
    let at = text.rfind(PHRASE)? + PHRASE.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Seq)
}

/// What a failed publish means. `jetstream_disabled`: JetStream shut itself down (see
/// [`JetStreamLog::check_jetstream`]), so a publish nothing answered was refused for room; a
/// broken connection or a timeout still leaves the outcome unknown.
fn publish_error(
    kind: PublishErrorKind,
    size: usize,
    e: &dyn std::fmt::Display,
    jetstream_disabled: bool,
) -> LogError {
    match kind {
        // The server says "wrong last sequence: N"; N is where the tournament really ends.
        PublishErrorKind::WrongLastSequence => LogError::Conflict {
            last: last_sequence_in(&e.to_string()),
        },
        PublishErrorKind::TimedOut if jetstream_disabled => LogError::StorageFull(format!(
            "JetStream takes no writes after a write error (a full disk?): {e}"
        )),
        PublishErrorKind::TimedOut => LogError::TimedOut,
        PublishErrorKind::MaxPayloadExceeded => LogError::TooLarge(size),
        PublishErrorKind::StreamNotFound if jetstream_disabled => LogError::StorageFull(format!(
            "JetStream is disabled after a write error (a full disk?): {e}"
        )),
        // While the server restarts, a publish finds no stream to answer it.
        PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound => {
            LogError::Unavailable(e.to_string())
        }
        _ if is_out_of_space(&e.to_string()) => LogError::StorageFull(e.to_string()),
        _ => LogError::Other(e.to_string()),
    }
}

/// Whether the server refused for lack of room: past `max_file_store` it answers
/// "insufficient resources" (10023); past an account's or stream's limit "resource limits
/// exceeded" or "maximum bytes exceeded"; a disk that fills under it, "no space left".
fn is_out_of_space(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "insufficient resources",
        "resource limits exceeded",
        "resources exceeded",
        "maximum bytes exceeded",
        "no space left",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_last_sequence_is_read_from_the_servers_words() {
        let text = "wrong last sequence: wrong last sequence: 5 (code 400, error code 10071)";
        assert_eq!(last_sequence_in(text), Some(Seq(5)));
        assert_eq!(last_sequence_in("wrong last sequence: 12"), Some(Seq(12)));
        assert_eq!(last_sequence_in("something else"), None);
    }

    #[test]
    fn a_refusal_for_room_is_told_from_other_failures() {
        assert!(is_out_of_space(
            "nats: insufficient resources (code 503, error code 10023)"
        ));
        assert!(is_out_of_space("write: No space left on device"));
        assert!(!is_out_of_space("wrong last sequence: 4"));
        assert!(!is_out_of_space("stream not found"));
    }
}
