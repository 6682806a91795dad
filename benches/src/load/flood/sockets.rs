//! Resuming sockets: [`CLIENTS`] WebSockets with one viewer token of the large tournament,
//! all connecting at once with `since=0` (a replay of every event), reading slowly or hardly
//! at all, and connecting again whenever leaf closes or refuses them. A refusal's
//! `Retry-After` is honoured, cut short ([`crate::load::refusal`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::tally::{Source, Tally};
use crate::load::refusal;

pub const CLIENTS: usize = 40;
/// A slow reader takes one frame, then waits this long: 48 KB frames at ~0.5 MB/s.
const SLOW_PAUSE: Duration = Duration::from_millis(100);
/// A stalled reader reads nothing for this long (a phone in a pocket) …
const STALL: Duration = Duration::from_secs(5);
/// … then reads what has arrived for this long, and stalls again.
const DRAIN: Duration = Duration::from_millis(500);
/// After a failed connect that said nothing about when to come back.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Default)]
struct Counts {
    /// Frames read, over every connection.
    frames: AtomicU64,
    /// Connections upgraded and not yet ended (a socket cut off by the flood's stop stays).
    open: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Reader {
    Slow,
    Stalled,
}

/// Runs the sockets until `stop`; half read slowly, half stall.
pub async fn run(url: String, stop: CancellationToken) -> Source {
    let answers = Tally::default();
    let counts = Arc::new(Counts::default());
    let mut clients = JoinSet::new();
    for i in 0..CLIENTS {
        let reader = if i % 2 == 0 {
            Reader::Slow
        } else {
            Reader::Stalled
        };
        let client = client(url.clone(), reader, answers.clone(), counts.clone());
        let stop = stop.clone();
        clients.spawn(async move { stop.run_until_cancelled(client).await });
    }
    clients.join_all().await;
    Source {
        name: format!("{CLIENTS} sockets resuming from 0, one viewer token"),
        answers,
        detail: format!(
            "{} frames read; {} open at the end",
            counts.frames.load(Ordering::Relaxed),
            counts.open.load(Ordering::Relaxed)
        ),
    }
}

/// Connects, reads until the connection ends, and again, for ever: each upgrade, refusal and
/// ending is one answer.
async fn client(url: String, reader: Reader, answers: Tally, counts: Arc<Counts>) {
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => {
                answers.add("101");
                counts.open.fetch_add(1, Ordering::Relaxed);
                answers.add(read(socket, reader, &counts.frames).await);
                counts.open.fetch_sub(1, Ordering::Relaxed);
            }
            Err(e) => {
                answers
                    .add(refusal::status(&e).map_or_else(|| "error".to_owned(), |s| s.to_string()));
                tokio::time::sleep(refusal::come_back_after(&e).unwrap_or(ERROR_PAUSE)).await;
            }
        }
    }
}

/// Reads the way `reader` does until the connection ends; how it ended.
async fn read(mut socket: Socket, reader: Reader, frames: &AtomicU64) -> String {
    loop {
        match reader {
            Reader::Slow => {
                if let Some(ended) = take(socket.next().await, frames) {
                    return ended;
                }
                tokio::time::sleep(SLOW_PAUSE).await;
            }
            Reader::Stalled => {
                tokio::time::sleep(STALL).await;
                let until = Instant::now() + DRAIN;
                while let Ok(frame) = tokio::time::timeout_at(until, socket.next()).await {
                    if let Some(ended) = take(frame, frames) {
                        return ended;
                    }
                }
            }
        }
    }
}

/// Counts a frame; how the connection ended, if it did.
fn take(frame: Option<Result<Message, tungstenite::Error>>, frames: &AtomicU64) -> Option<String> {
    match frame {
        Some(Ok(Message::Close(Some(close)))) => Some(format!("close {}", u16::from(close.code))),
        Some(Ok(Message::Close(None))) => Some("close".to_owned()),
        Some(Ok(_)) => {
            frames.fetch_add(1, Ordering::Relaxed);
            None
        }
        Some(Err(_)) | None => Some("cut without close".to_owned()),
    }
}
