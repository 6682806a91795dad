//! An in-process event log with JetStream's semantics, for unit tests, leaf-sim and benches.
//! It is a real log (per-stream sequences, subject filters, deduplication by message id,
//! expected-last-sequence checks, live tails), so code tested against it behaves the same
//! against JetStream. It is not durable: it lives and dies with its owner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use super::subject::filter_matches;
use super::{
    Ack, Entry, EntryStream, EventLog, Filter, LogError, LogHealth, PublishOptions, StreamName,
    Subject, one_page,
};
use crate::event::{MsgId, Seq};

#[derive(Debug)]
struct Stream {
    entries: Vec<Entry>,
    /// Message id to the sequence it was first stored at. Unlike JetStream's window this never
    /// expires, which is the stricter behaviour for tests.
    seen: HashMap<MsgId, Seq>,
    /// The last sequence, for live tails to wait on.
    last: watch::Sender<u64>,
}

impl Default for Stream {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            seen: HashMap::new(),
            last: watch::Sender::new(0),
        }
    }
}

type Streams = Arc<Mutex<HashMap<StreamName, Stream>>>;

#[derive(Debug, Default)]
pub struct MemoryLog {
    // A std mutex: every critical section is a few map operations and never awaits. Shared
    // with live tails, which outlive any one call.
    streams: Streams,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored in one stream, in order.
    pub fn entries(&self, stream: StreamName) -> Vec<Entry> {
        self.lock()
            .get(&stream)
            .map(|s| s.entries.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<StreamName, Stream>> {
        lock(&self.streams)
    }

    fn append(
        &self,
        subject: &Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> Result<Ack, LogError> {
        // Route by subject filter, as JetStream does, rather than trusting `Subject::stream`.
        let text = subject.to_string();
        let stream_name = StreamName::ALL
            .into_iter()
            .find(|s| filter_matches(s.filter(), &text))
            .ok_or_else(|| LogError::Unavailable(format!("no stream holds {text}")))?;
        let mut streams = self.lock();
        let stream = streams.entry(stream_name).or_default();
        if let Some(seq) = options.msg_id.as_ref().and_then(|id| stream.seen.get(id)) {
            return Ok(Ack {
                stream: stream_name,
                seq: *seq,
                duplicate: true,
            });
        }
        if let Some(expected) = options.expect_last {
            let scope = Filter::Tournament(subject.tournament()).subject(StreamName::State);
            let last = stream
                .entries
                .iter()
                .rev()
                .find(|e| filter_matches(&scope, &e.subject))
                .map_or(Seq(0), |e| e.stream_seq);
            if last != expected {
                return Err(LogError::Conflict { last: Some(last) });
            }
        }
        let seq = Seq(stream.entries.len() as u64 + 1);
        stream.entries.push(Entry {
            stream_seq: seq,
            subject: text,
            payload,
        });
        if let Some(id) = options.msg_id {
            stream.seen.insert(id, seq);
        }
        stream.last.send_replace(seq.0);
        Ok(Ack {
            stream: stream_name,
            seq,
            duplicate: false,
        })
    }

    fn matching(&self, stream: StreamName, filter: Filter, after: Seq, limit: usize) -> Vec<Entry> {
        let subject = filter.subject(stream);
        self.lock()
            .get(&stream)
            .map(|s| {
                let matching = s
                    .entries
                    .iter()
                    .skip(after.0 as usize)
                    .filter(|e| filter_matches(&subject, &e.subject));
                one_page(matching, limit)
            })
            .unwrap_or_default()
    }
}

impl EventLog for MemoryLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(async move { self.append(&subject, payload, options) })
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>> {
        Box::pin(async move { Ok(self.matching(stream, filter, after, limit)) })
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .get(&stream)
                .map_or(Seq::ZERO, |s| Seq(s.entries.len() as u64)))
        })
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        let streams = self.streams.clone();
        Box::pin(async move {
            let end = lock(&streams).entry(stream).or_default().last.subscribe();
            let live = futures_util::stream::unfold(
                (streams, end, after),
                move |(streams, mut end, position)| async move {
                    loop {
                        let next = lock(&streams)
                            .get(&stream)
                            .and_then(|s| s.entries.get(position.0 as usize).cloned());
                        if let Some(entry) = next {
                            let position = entry.stream_seq;
                            return Some((Ok(entry), (streams, end, position)));
                        }
                        // Ends the tail only if the log itself is dropped.
                        end.changed().await.ok()?;
                    }
                },
            );
            Ok(live.boxed())
        })
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
                consumers: None,
                error: None,
            }
        })
    }
}

fn lock(streams: &Streams) -> MutexGuard<'_, HashMap<StreamName, Stream>> {
    streams.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TournamentId;

    fn opts() -> PublishOptions {
        PublishOptions::default()
    }

    #[tokio::test]
    async fn the_memory_log_keeps_the_event_log_contract() {
        crate::log::contract::check_all(&MemoryLog::new())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn sequences_are_per_stream_and_start_at_one() {
        let log = MemoryLog::new();
        let t = TournamentId::new_random();
        let state = Subject::State(t, "clock".parse().unwrap());
        let a = log
            .publish(state.clone(), Bytes::from_static(b"1"), opts())
            .await
            .unwrap();
        let b = log
            .publish(Subject::Audit(t), Bytes::from_static(b"2"), opts())
            .await
            .unwrap();
        let c = log
            .publish(state, Bytes::from_static(b"3"), opts())
            .await
            .unwrap();
        assert_eq!((a.stream, a.seq), (StreamName::State, Seq(1)));
        assert_eq!((b.stream, b.seq), (StreamName::Audit, Seq(1)));
        assert_eq!((c.stream, c.seq), (StreamName::State, Seq(2)));
    }
}
