//! An in-process event log with JetStream's publish semantics, for unit tests, leaf-sim and
//! benches. It is a real log (per-stream sequences, deduplication by message id), so code
//! tested against it behaves the same against JetStream. It is not durable: it lives and
//! dies with its owner, which is what a simulated crash wants.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::subject::filter_matches;
use super::{Ack, EventLog, LogError, LogHealth, StreamName, Subject};
use crate::event::{MsgId, Seq};

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: Seq,
    pub subject: String,
    pub payload: Bytes,
}

#[derive(Debug, Default)]
struct Stream {
    messages: Vec<StoredMessage>,
    /// Message id to the sequence it was first stored at. Unlike JetStream's window this never
    /// expires, which is the stricter behaviour for tests.
    seen: HashMap<MsgId, Seq>,
}

#[derive(Debug, Default)]
pub struct MemoryLog {
    // A std mutex: every critical section is a few map operations and never awaits.
    streams: Mutex<HashMap<StreamName, Stream>>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored in one stream, in order.
    pub fn messages(&self, stream: StreamName) -> Vec<StoredMessage> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .get(&stream)
            .map(|s| s.messages.clone())
            .unwrap_or_default()
    }

    fn append(
        &self,
        subject: &Subject,
        payload: Bytes,
        msg_id: Option<MsgId>,
    ) -> Result<Ack, LogError> {
        // Route by subject filter, as JetStream does, rather than trusting `Subject::stream`.
        let text = subject.to_string();
        let stream_name = StreamName::ALL
            .into_iter()
            .find(|s| filter_matches(s.filter(), &text))
            .ok_or_else(|| LogError::Unavailable(format!("no stream holds {text}")))?;
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let stream = streams.entry(stream_name).or_default();
        if let Some(seq) = msg_id.as_ref().and_then(|id| stream.seen.get(id)) {
            return Ok(Ack {
                stream: stream_name,
                seq: *seq,
                duplicate: true,
            });
        }
        let seq = Seq(stream.messages.len() as u64 + 1);
        stream.messages.push(StoredMessage {
            seq,
            subject: text,
            payload,
        });
        if let Some(id) = msg_id {
            stream.seen.insert(id, seq);
        }
        Ok(Ack {
            stream: stream_name,
            seq,
            duplicate: false,
        })
    }
}

impl EventLog for MemoryLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        msg_id: Option<MsgId>,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(async move { self.append(&subject, payload, msg_id) })
    }

    fn health(&self) -> BoxFuture<'_, LogHealth> {
        Box::pin(async move {
            LogHealth {
                ok: true,
                server_version: Some(format!("memory-{}", env!("CARGO_PKG_VERSION"))),
                sync_interval: Some("memory".to_owned()),
                streams: StreamName::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                restarts: None,
                error: None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TournamentId;

    #[tokio::test]
    async fn sequences_are_per_stream_and_start_at_one() {
        let log = MemoryLog::new();
        let t = TournamentId::new_random();
        let state = Subject::State(t, "clock".parse().unwrap());
        let a = log
            .publish(state.clone(), Bytes::from_static(b"1"), None)
            .await
            .unwrap();
        let b = log
            .publish(Subject::Audit(t), Bytes::from_static(b"2"), None)
            .await
            .unwrap();
        let c = log
            .publish(state, Bytes::from_static(b"3"), None)
            .await
            .unwrap();
        assert_eq!((a.stream, a.seq), (StreamName::State, Seq(1)));
        assert_eq!((b.stream, b.seq), (StreamName::Audit, Seq(1)));
        assert_eq!((c.stream, c.seq), (StreamName::State, Seq(2)));
    }

    #[tokio::test]
    async fn the_memory_log_keeps_the_event_log_contract() {
        crate::log::contract::check_all(&MemoryLog::new())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_repeated_message_id_stores_nothing_new() {
        let log = MemoryLog::new();
        let subject = Subject::Audit(TournamentId::new_random());
        let id = MsgId::new("k1").unwrap();
        let first = log
            .publish(subject.clone(), Bytes::from_static(b"x"), Some(id.clone()))
            .await
            .unwrap();
        let again = log
            .publish(subject, Bytes::from_static(b"y"), Some(id))
            .await
            .unwrap();
        assert!(!first.duplicate);
        assert!(again.duplicate);
        assert_eq!(first.seq, again.seq);
        assert_eq!(log.messages(StreamName::Audit).len(), 1);
    }
}
