//! One client's bounded send queue and its close signal.
//!
//! Pushing never waits: a broadcaster that waited on one TV with a bad Wi-Fi link would delay
//! every other screen in the venue. A full queue is reported as [`Push::Full`] and the hub
//! closes that client with [`Disconnect::Slow`], so it reconnects and resumes from its last seq.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Disconnect;

/// Messages a client may have queued, by default (see `ClientConfig::queue_capacity`). At a
/// few hundred bytes each that is well under 100 KiB per client, and it covers a burst of a
/// whole level change on a slow phone.
pub const QUEUE_CAPACITY: usize = 256;

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Queued,
    /// Dropped: the client is too slow. Close it with [`Disconnect::Slow`].
    Full,
    /// Dropped: the client is already gone.
    Closed,
}

#[derive(Debug, Clone)]
pub struct QueueSender(mpsc::Sender<Utf8Bytes>);

pub type QueueReceiver = mpsc::Receiver<Utf8Bytes>;

/// A queue for `capacity` messages (at least one).
pub fn queue(capacity: usize) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (QueueSender(tx), rx)
}

impl QueueSender {
    pub fn push(&self, message: Utf8Bytes) -> Push {
        match self.0.try_send(message) {
            Ok(()) => Push::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => Push::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Push::Closed,
        }
    }
}

/// Tells a client's tasks to close, once, with the first reason given.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    reason: Arc<OnceLock<Disconnect>>,
    fired: CancellationToken,
}

impl Closer {
    /// Asks the client to close. Later calls keep the first reason.
    pub fn close(&self, reason: Disconnect) {
        if self.reason.set(reason).is_ok() {
            self.fired.cancel();
        }
    }

    /// Resolves with the reason once [`Closer::close`] was called.
    pub async fn closed(&self) -> Disconnect {
        self.fired.cancelled().await;
        self.reason().unwrap_or(Disconnect::ConnectionClosed)
    }

    pub fn reason(&self) -> Option<Disconnect> {
        self.reason.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_says_so_instead_of_waiting() {
        let (tx, _rx) = queue(QUEUE_CAPACITY);
        for _ in 0..QUEUE_CAPACITY {
            assert_eq!(tx.push(Utf8Bytes::from_static("m")), Push::Queued);
        }
        assert_eq!(tx.push(Utf8Bytes::from_static("m")), Push::Full);
    }

    #[test]
    fn a_dropped_receiver_reads_as_closed() {
        let (tx, rx) = queue(QUEUE_CAPACITY);
        drop(rx);
        assert_eq!(tx.push(Utf8Bytes::from_static("m")), Push::Closed);
    }

    #[tokio::test]
    async fn the_first_close_reason_wins() {
        let closer = Closer::default();
        closer.close(Disconnect::Slow);
        closer.close(Disconnect::Shutdown);
        assert_eq!(closer.closed().await, Disconnect::Slow);
    }
}
