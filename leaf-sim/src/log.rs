//! The simulated event log: JetStream as far as leaf depends on it, inside the simulation.
//!
//! - Two streams, each numbered from 1 with no gaps; reads and tails by stream sequence and
//!   by tournament; the expected-last-sequence guard per tournament; deduplication by message
//!   id (for the whole run: longer than any simulated run, like the real 10-minute window).
//! - An ack only once the message is "durable", a few simulated milliseconds after the
//!   publish. Whether the message is stored before or after that wait is drawn from the seed,
//!   so a crash of the leaf host in between leaves it stored-but-unacknowledged or not there
//!   at all: both outcomes JetStream allows.
//! - Outages (from the plan): a publish is refused, or waits and times out, and may have been
//!   stored anyway (the ack was lost); reads fail; tails stall until the outage ends.
//! - It lives outside the leaf host (the host only holds a handle), so everything stored
//!   survives a crash of the host, as JetStream's files survive a crash of leaf.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use leaf::event::{Seq, TournamentId};
use leaf::log::{
    Ack, Entry, EntryStream, EventLog, Filter, LogError, LogHealth, PublishOptions, StreamName,
    Subject, one_page,
};
use tokio::sync::watch;

use crate::rng::Rng;

/// How long a publish waits during an outage before it gives up.
const OUTAGE_TIMEOUT: Duration = Duration::from_millis(400);

/// One stored message and what the checker needs to know about it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: Entry,
    pub tournament: TournamentId,
    /// Simulated time it was written, and from then on visible to tails (its ack follows
    /// once the simulated fsync is done).
    pub at: Duration,
    /// Whether the publisher got the ack.
    pub acked: bool,
}

#[derive(Debug, Default)]
struct Stream {
    stored: Vec<Stored>,
    seen: HashMap<String, Seq>,
    /// Per tournament, the stream sequence of its last message: the expected-last guard.
    last_of: BTreeMap<TournamentId, Seq>,
}

#[derive(Debug)]
struct State {
    streams: BTreeMap<StreamName, Stream>,
    outages: Vec<(Duration, Duration)>,
    rng: Rng,
    /// Publishes refused or timed out during an outage.
    refused: u64,
}

#[derive(Clone)]
pub struct SimLog {
    state: Arc<Mutex<State>>,
    // One per stream: the last sequence, for live tails to wait on.
    ends: Arc<BTreeMap<StreamName, watch::Sender<u64>>>,
}

impl SimLog {
    /// A log that is down during each of `outages` (start, end) of simulated time.
    pub fn new(rng: Rng, outages: Vec<(Duration, Duration)>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                streams: BTreeMap::new(),
                outages,
                rng,
                refused: 0,
            })),
            ends: Arc::new(
                StreamName::ALL
                    .into_iter()
                    .map(|s| (s, watch::Sender::new(0)))
                    .collect(),
            ),
        }
    }

    /// A healthy log holding the given messages (the first `n` of each stream of another
    /// log): what a replay of that prefix sees.
    pub fn with_entries(streams: &[(StreamName, Vec<Stored>)]) -> Self {
        let log = Self::new(Rng::new(0), Vec::new());
        {
            let mut state = log.lock();
            for (name, stored) in streams {
                let stream = state.streams.entry(*name).or_default();
                for s in stored {
                    stream.last_of.insert(s.tournament, s.entry.stream_seq);
                    stream.stored.push(s.clone());
                }
            }
        }
        log
    }

    pub fn stored(&self, stream: StreamName) -> Vec<Stored> {
        self.lock()
            .streams
            .get(&stream)
            .map(|s| s.stored.clone())
            .unwrap_or_default()
    }

    /// How many STATE messages tournament `t` has: its head seq.
    pub fn state_events_of(&self, t: TournamentId) -> u64 {
        self.lock().streams.get(&StreamName::State).map_or(0, |s| {
            s.stored.iter().filter(|m| m.tournament == t).count() as u64
        })
    }

    /// Publishes refused or timed out during an outage.
    pub fn refused(&self) -> u64 {
        self.lock().refused
    }

    /// Messages stored whose publisher never saw the ack: a crash of leaf or an outage
    /// between the write and the answer.
    pub fn unacked(&self) -> u64 {
        self.lock()
            .streams
            .values()
            .flat_map(|s| &s.stored)
            .filter(|s| !s.acked)
            .count() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now() -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }

    /// When the outage covering `now` ends, if one does.
    fn outage_until(&self, now: Duration) -> Option<Duration> {
        self.lock()
            .outages
            .iter()
            .filter(|(start, end)| (*start..*end).contains(&now))
            .map(|(_, end)| *end)
            .max()
    }

    /// When the next outage after `now` begins, if one does.
    fn next_outage(&self, now: Duration) -> Option<Duration> {
        self.lock()
            .outages
            .iter()
            .map(|(start, _)| *start)
            .filter(|start| *start > now)
            .min()
    }

    /// Stores the message if the guards let it; the answer an ack would carry.
    fn store(
        &self,
        subject: &Subject,
        payload: &Bytes,
        options: &PublishOptions,
    ) -> Result<Ack, LogError> {
        let name = subject.stream();
        let tournament = subject.tournament();
        let mut state = self.lock();
        let stream = state.streams.entry(name).or_default();
        // Deduplication comes first, as in JetStream: a retry of a stored message is answered
        // with the original, whatever its expectation says now.
        if let Some(seq) = options
            .msg_id
            .as_ref()
            .and_then(|id| stream.seen.get(id.as_str()))
        {
            return Ok(Ack {
                stream: name,
                seq: *seq,
                duplicate: true,
            });
        }
        if let Some(expected) = options.expect_last {
            let last = stream.last_of.get(&tournament).copied().unwrap_or(Seq(0));
            if last != expected {
                return Err(LogError::Conflict { last: Some(last) });
            }
        }
        let seq = Seq(stream.stored.len() as u64 + 1);
        stream.stored.push(Stored {
            entry: Entry {
                stream_seq: seq,
                subject: subject.to_string(),
                payload: payload.clone(),
            },
            tournament,
            at: Self::now(),
            acked: false,
        });
        stream.last_of.insert(tournament, seq);
        if let Some(id) = &options.msg_id {
            stream.seen.insert(id.as_str().to_owned(), seq);
        }
        drop(state);
        if let Some(end) = self.ends.get(&name) {
            end.send_replace(seq.0);
        }
        Ok(Ack {
            stream: name,
            seq,
            duplicate: false,
        })
    }

    fn mark_acked(&self, ack: &Ack) {
        if ack.duplicate {
            return;
        }
        let mut state = self.lock();
        if let Some(s) = state
            .streams
            .get_mut(&ack.stream)
            .and_then(|s| s.stored.get_mut(ack.seq.0 as usize - 1))
        {
            s.acked = true;
        }
    }

    async fn publish_now(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> Result<Ack, LogError> {
        let (fsync, store_first, outage) = {
            let mut state = self.lock();
            let fsync = state.rng.millis(1..=3);
            let store_first = state.rng.percent(50);
            // During an outage: refused at once, or no answer until the timeout, the message
            // perhaps stored all the same.
            let outage = (state.rng.percent(50), state.rng.percent(30));
            (fsync, store_first, outage)
        };
        if self.outage_until(Self::now()).is_some() {
            self.lock().refused += 1;
            let (times_out, stored_anyway) = outage;
            if !times_out {
                return Err(LogError::Unavailable(
                    "connection refused (simulated outage)".into(),
                ));
            }
            tokio::time::sleep(OUTAGE_TIMEOUT).await;
            if stored_anyway {
                let _ = self.store(&subject, &payload, &options);
            }
            return Err(LogError::TimedOut);
        }
        // Stored first and the host crashes during the wait: stored, never acknowledged.
        // Stored after the wait: the crash loses it. Both are what JetStream may do.
        let ack = if store_first {
            let ack = self.store(&subject, &payload, &options)?;
            tokio::time::sleep(fsync).await;
            ack
        } else {
            tokio::time::sleep(fsync).await;
            self.store(&subject, &payload, &options)?
        };
        // The server went away while the message was being written: stored, but the ack is
        // lost with the connection.
        if self.outage_until(Self::now()).is_some() {
            tokio::time::sleep(OUTAGE_TIMEOUT).await;
            return Err(LogError::TimedOut);
        }
        self.mark_acked(&ack);
        Ok(ack)
    }

    fn matching(&self, stream: StreamName, filter: Filter, after: Seq, limit: usize) -> Vec<Entry> {
        self.lock()
            .streams
            .get(&stream)
            .map(|s| {
                let matching = s
                    .stored
                    .iter()
                    .skip(after.0 as usize)
                    .filter(|s| match filter {
                        Filter::All => true,
                        Filter::Tournament(t) => s.tournament == t,
                    })
                    .map(|s| &s.entry);
                one_page(matching, limit)
            })
            .unwrap_or_default()
    }

    fn entry_at(&self, stream: StreamName, index: u64) -> Option<Entry> {
        self.lock()
            .streams
            .get(&stream)
            .and_then(|s| s.stored.get(index as usize))
            .map(|s| s.entry.clone())
    }
}

impl EventLog for SimLog {
    fn publish(
        &self,
        subject: Subject,
        payload: Bytes,
        options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(self.publish_now(subject, payload, options))
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>> {
        Box::pin(async move {
            if self.outage_until(Self::now()).is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Err(LogError::Unavailable(
                    "no responders (simulated outage)".into(),
                ));
            }
            Ok(self.matching(stream, filter, after, limit))
        })
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        Box::pin(async move {
            if self.outage_until(Self::now()).is_some() {
                return Err(LogError::Unavailable(
                    "no responders (simulated outage)".into(),
                ));
            }
            Ok(Seq(self
                .lock()
                .streams
                .get(&stream)
                .map_or(0, |s| s.stored.len() as u64)))
        })
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        let log = self.clone();
        Box::pin(async move {
            if log.outage_until(Self::now()).is_some() {
                return Err(LogError::Unavailable(
                    "no responders (simulated outage)".into(),
                ));
            }
            let end = log
                .ends
                .get(&stream)
                .map(watch::Sender::subscribe)
                .ok_or_else(|| LogError::Other(format!("no stream {stream}")))?;
            // (log, end watch, position, whether the consumer has been lost)
            let live = futures_util::stream::unfold(
                (log, end, after, false),
                move |(log, mut end, position, lost)| async move {
                    if lost {
                        return None;
                    }
                    loop {
                        // A consumer whose server went away says so once (an ordered
                        // consumer misses its heartbeats) and ends; reopening is the reader's
                        // business.
                        if log.outage_until(SimLog::now()).is_some() {
                            let error =
                                LogError::Unavailable("consumer lost (simulated outage)".into());
                            return Some((Err(error), (log, end, position, true)));
                        }
                        if let Some(entry) = log.entry_at(stream, position.0) {
                            let position = entry.stream_seq;
                            return Some((Ok(entry), (log, end, position, false)));
                        }
                        let outage = log.next_outage(SimLog::now());
                        tokio::select! {
                            biased;
                            changed = end.changed() => changed.ok()?,
                            () = sleep_until(outage) => {}
                        }
                    }
                },
            );
            Ok(live.boxed())
        })
    }

    fn health(&self) -> BoxFuture<'_, LogHealth> {
        Box::pin(async move {
            let down = self.outage_until(Self::now()).is_some();
            LogHealth {
                ok: !down,
                server_version: Some("sim".into()),
                sync_interval: Some("always".into()),
                streams: StreamName::ALL
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                restarts: None,
                consumers: None,
                error: down.then(|| "simulated outage".to_owned()),
            }
        })
    }
}

/// Sleeps until simulated time `at`; forever if `None`.
async fn sleep_until(at: Option<Duration>) {
    match at {
        Some(at) => tokio::time::sleep(at.saturating_sub(SimLog::now())).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The same contract leaf's JetStream and memory logs are held to. Outside a simulation
    // the clock reads zero and there are no outages.
    #[tokio::test]
    async fn the_simulated_log_keeps_the_event_log_contract() {
        leaf::log::contract::check_all(&SimLog::new(Rng::new(1), Vec::new()))
            .await
            .unwrap();
    }
}
