//! One WebSocket connection, from registration to its single close path.
//!
//! A connection has a reader task and a writer task. The writer owns the socket's sending
//! half: it drains the client's queue, sends keepalive pings and, when the client's
//! [`Closer`] fires, sends the close frame. The reader watches the receiving half: it answers
//! the client's own messages through the same queue, notes every frame as a sign of life, and
//! fires the closer when the peer closes, breaks or sends a frame over the limit. Either side
//! can fire the closer; whatever fires first names the reason, and [`run`] does the cleanup in
//! one place afterwards (unregister, log once).
//!
//! The socket is any `Sink`/`Stream` of axum messages, so tests drive it with plain channels.

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::protocol::{self, ClientMessage};
use super::queue::{Closer, Push, QueueReceiver, QueueSender};
use super::{Disconnect, Replay, ReplayFailed, Session};

/// Timing and size limits of a connection. The defaults are what a venue needs; tests shorten
/// them.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How often the server pings. Browsers answer pings by themselves.
    pub ping_interval: Duration,
    /// Silence after which the peer is declared dead. With a ping every 10 s and 20 s of
    /// allowed silence, a TV that lost power is noticed within 30 s.
    pub dead_after: Duration,
    /// How long one write may take before the socket counts as broken.
    pub write_timeout: Duration,
    /// Largest frame a client may send. Clients only send small control messages.
    pub max_message_size: usize,
    /// Messages that may wait for one client before it counts as too slow.
    pub queue_capacity: usize,
    /// Lobby screens (sockets without a token) connected at once; past it `/ws` answers 503.
    pub max_lobby_clients: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(10),
            dead_after: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
            max_message_size: 64 * 1024,
            queue_capacity: super::queue::QUEUE_CAPACITY,
            max_lobby_clients: MAX_LOBBY_CLIENTS,
        }
    }
}

/// Lobby screens at once, by default: a venue has a few; anyone on the Wi-Fi can open one.
pub const MAX_LOBBY_CLIENTS: usize = 1024;

/// How reading a frame can fail, as far as the hub cares.
#[derive(Debug)]
pub enum ReadError {
    /// The frame was over [`ClientConfig::max_message_size`].
    TooBig,
    Other(String),
}

/// How long the goodbye (queued messages on shutdown, the close frame) may take: a stalled
/// peer must not hold up the others' shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs the connection until it closes and returns why.
pub async fn run<W, R>(mut session: Session, sink: W, stream: R) -> Disconnect
where
    W: Sink<Message> + Unpin + Send + 'static,
    W::Error: Display,
    R: Stream<Item = Result<Message, ReadError>> + Unpin + Send + 'static,
{
    let config = session.hub.config().clone();
    let span = tracing::info_span!("ws", client = %session.id, scope = ?session.scope);
    let life = Liveness::new();

    let reader = tokio::spawn(
        read_loop(
            stream,
            session.reply.clone(),
            session.closer.clone(),
            life.clone(),
        )
        .instrument(span.clone()),
    );
    let preamble = std::mem::take(&mut session.preamble);
    let replay = session.replay.take();
    let reason = write_loop(
        sink,
        Start {
            preamble: preamble.into_iter(),
            replay,
        },
        &mut session.queue,
        &session.closer,
        &life,
        &config,
    )
    .instrument(span.clone())
    .await;
    reader.abort();
    // The close path: the session's drop unregisters it; this is the one log line.
    span.in_scope(|| tracing::info!(reason = %reason, "client disconnected"));
    drop(session);
    reason
}

/// When the peer last showed a sign of life.
#[derive(Debug, Clone)]
struct Liveness {
    epoch: Instant,
    last_seen_ms: Arc<AtomicU64>,
}

impl Liveness {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_seen_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_seen_ms.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// What a client gets before its queue: the preamble, then the replay as the socket drains.
struct Start {
    preamble: std::vec::IntoIter<Utf8Bytes>,
    replay: Option<Replay>,
}

impl Start {
    /// The next message of the start; `None` once it is all sent.
    async fn next(&mut self) -> Option<Result<Utf8Bytes, ReplayFailed>> {
        if let Some(text) = self.preamble.next() {
            return Some(Ok(text));
        }
        let next = self.replay.as_mut()?.next().await;
        if next.is_none() {
            self.replay = None;
        }
        next
    }
}

async fn write_loop<W>(
    mut sink: W,
    mut start: Start,
    queue: &mut QueueReceiver,
    closer: &Closer,
    life: &Liveness,
    config: &ClientConfig,
) -> Disconnect
where
    W: Sink<Message> + Unpin,
    W::Error: Display,
{
    let mut ping =
        tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The start (preamble, then a replay paged from the log) goes first, one message at a
    // time, the next read only once the previous one is sent, so a replay is never held
    // whole; then the queue. Pings go on throughout: a long replay, or one waiting for a
    // place to read the log, must not make a client that answers pings look dead.
    let mut starting = true;
    loop {
        // `biased`: a close request wins over more messages, so a slow client is let go
        // at once instead of after its queue drains.
        let frame = tokio::select! {
            biased;
            // Mid-replay, the queue holds events after the head the replay is heading for:
            // flushing it would send a gap.
            reason = closer.closed() => return goodbye(&mut sink, queue, reason, !starting).await,
            // Cancel-safe: an interrupted page read resumes at the next poll.
            next = start.next(), if starting => match next {
                Some(Ok(text)) => Message::Text(text),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "closing a client whose replay failed");
                    closer.close(Disconnect::ReplayFailed);
                    continue;
                }
                None => {
                    starting = false;
                    continue;
                }
            },
            next = queue.recv(), if !starting => match next {
                Some(text) => Message::Text(text),
                None => {
                    closer.close(Disconnect::ConnectionClosed);
                    continue;
                }
            },
            _ = ping.tick() => {
                if life.silent_for() > config.dead_after {
                    closer.close(Disconnect::NoPong);
                    continue;
                }
                Message::Ping(Default::default())
            }
        };
        // The write itself also yields to the closer: a peer that stopped reading must not
        // pin this task until the write timeout.
        tokio::select! {
            biased;
            reason = closer.closed() => return goodbye(&mut sink, queue, reason, !starting).await,
            sent = tokio::time::timeout(config.write_timeout, sink.send(frame)) => match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "write failed");
                    closer.close(Disconnect::WriteError);
                }
                Err(_) => closer.close(Disconnect::WriteError),
            }
        }
    }
}

/// Sends what the reason allows (queued messages on shutdown, unless `live` is false: the
/// client is still being replayed to) and the close frame.
async fn goodbye<W>(
    sink: &mut W,
    queue: &mut QueueReceiver,
    reason: Disconnect,
    live: bool,
) -> Disconnect
where
    W: Sink<Message> + Unpin,
    W::Error: Display,
{
    let farewell = async {
        if reason.flushes_queue() && live {
            while let Ok(text) = queue.try_recv() {
                if sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
            }
        }
        if let Some(code) = reason.code() {
            let frame = CloseFrame {
                code,
                reason: reason.reason().into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, farewell).await;
    reason
}

async fn read_loop<R>(mut stream: R, reply: QueueSender, closer: Closer, life: Liveness)
where
    R: Stream<Item = Result<Message, ReadError>> + Unpin,
{
    loop {
        let frame = tokio::select! {
            // Fixed order, not tokio's random one, so a simulated run replays from its seed.
            biased;
            _ = closer.closed() => return,
            frame = stream.next() => frame,
        };
        life.touch();
        let answer = match frame {
            None | Some(Ok(Message::Close(_))) => {
                closer.close(Disconnect::ConnectionClosed);
                return;
            }
            Some(Err(ReadError::TooBig)) => {
                closer.close(Disconnect::MessageTooBig);
                return;
            }
            Some(Err(ReadError::Other(e))) => {
                tracing::debug!(error = %e, "read failed");
                closer.close(Disconnect::ConnectionClosed);
                return;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => protocol::error(
                "bad_request",
                "binary frames are not supported; send JSON text",
            ),
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMessage>(&text) {
                Ok(ClientMessage::Ping) => protocol::pong(),
                Err(e) => protocol::error("bad_request", &format!("unknown message: {e}")),
            },
        };
        if reply.push(answer) == Push::Full {
            closer.close(Disconnect::Slow);
            return;
        }
    }
}

#[cfg(test)]
mod tests;
