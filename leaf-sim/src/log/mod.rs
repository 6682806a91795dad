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
//! - Two connections, as production wires them ([`connection`]): reads arrive over simulated
//!   time on a connection of their own, and the server cuts a connection that lets too many
//!   bytes pile up, as nats-server cuts a slow consumer. Each start of leaf connects afresh.
//!   Outside a simulation (the contract test) and in the checker's replays, reads are instant.

pub mod connection;

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
use tokio::sync::{Notify, watch};

pub use self::connection::{
    BANDWIDTH, Connection, Cut, MESSAGE_OVERHEAD, PENDING_LIMIT, RECONNECT_AFTER, Wiring,
};
use self::connection::{Connections, Refused, page_bytes};
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
    wiring: Wiring,
    /// Whether reads take simulated time on a connection (not in the checker's replays).
    modelled: bool,
    connections: Connections,
    /// Per tournament, pages read from its first event: resumes and backfills from 0 that
    /// leaf's resume cache did not serve.
    from_start: BTreeMap<TournamentId, u64>,
    /// Reads that failed because their connection was cut or reconnecting.
    reads_failed: u64,
}

#[derive(Clone)]
pub struct SimLog {
    state: Arc<Mutex<State>>,
    // One per stream: the last sequence, for live tails to wait on.
    ends: Arc<BTreeMap<StreamName, watch::Sender<u64>>>,
    // One per connection, woken when it is cut or replaced, for the pages and tails on it.
    // A `Notify`, not a `watch`: a watch wakes its waiters in an order drawn from tokio's
    // thread-local RNG, which turmoil does not seed, and the order pages fail in after a cut
    // must replay from the seed. `Notify` wakes them in the order they began to wait.
    lives: Arc<[Notify; 2]>,
}

impl SimLog {
    /// A log that is down during each of `outages` (start, end) of simulated time, wired as
    /// production wires it.
    pub fn new(rng: Rng, outages: Vec<(Duration, Duration)>) -> Self {
        Self::wired(rng, outages, Wiring::Separate)
    }

    /// [`SimLog::new`] with the reads on the connection `wiring` says.
    pub fn wired(rng: Rng, outages: Vec<(Duration, Duration)>, wiring: Wiring) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                streams: BTreeMap::new(),
                outages,
                rng,
                refused: 0,
                wiring,
                modelled: true,
                connections: Connections::default(),
                from_start: BTreeMap::new(),
                reads_failed: 0,
            })),
            ends: Arc::new(
                StreamName::ALL
                    .into_iter()
                    .map(|s| (s, watch::Sender::new(0)))
                    .collect(),
            ),
            lives: Arc::new([Notify::new(), Notify::new()]),
        }
    }

    /// A healthy log holding the given messages (the first `n` of each stream of another
    /// log): what a replay of that prefix sees. Its reads are instant: it is the checker's
    /// tool, not leaf's log.
    pub fn with_entries(streams: &[(StreamName, Vec<Stored>)]) -> Self {
        let log = Self::new(Rng::new(0), Vec::new());
        {
            let mut state = log.lock();
            state.modelled = false;
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

    /// A new leaf process connects afresh: nothing pending, nothing of the last one's left.
    pub fn reconnect(&self) {
        self.lock().connections.reconnect_all(Self::now());
        for life in self.lives.iter() {
            life.notify_waiters();
        }
    }

    /// The connections the server cut, in order.
    pub fn cuts(&self) -> Vec<Cut> {
        self.lock().connections.cuts().to_vec()
    }

    /// How many times the server cut `connection`.
    pub fn cuts_of(&self, connection: Connection) -> u64 {
        self.lock()
            .connections
            .cuts()
            .iter()
            .filter(|c| c.connection == connection)
            .count() as u64
    }

    /// Pages of tournament `t` read from its first event so far.
    pub fn reads_from_start(&self, t: TournamentId) -> u64 {
        self.lock().from_start.get(&t).copied().unwrap_or(0)
    }

    /// Reads that failed because their connection was cut or reconnecting.
    pub fn reads_failed(&self) -> u64 {
        self.lock().reads_failed
    }

    /// The STATE messages from the `from`-th on (0-based): stream sequence and tournament.
    pub fn state_positions_from(&self, from: usize) -> Vec<(Seq, TournamentId)> {
        self.lock()
            .streams
            .get(&StreamName::State)
            .map(|s| {
                s.stored
                    .iter()
                    .skip(from)
                    .map(|m| (m.entry.stream_seq, m.tournament))
                    .collect()
            })
            .unwrap_or_default()
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
        // On a connection reconnecting after a cut, nothing is sent.
        let generation = self
            .lock()
            .connections
            .usable(Connection::Main, Self::now())?;
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
        // The server cut the connection meanwhile: stored, and the ack went down with it.
        self.lock()
            .connections
            .still(Connection::Main, generation)?;
        self.mark_acked(&ack);
        Ok(ack)
    }

    /// One page, delivered over the connection that carries reads: it arrives at the
    /// connection's bandwidth, behind what is already queued there, unless the server cuts
    /// the connection first.
    async fn read_page(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Entry>, LogError> {
        if self.outage_until(Self::now()).is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Err(LogError::Unavailable(
                "no responders (simulated outage)".into(),
            ));
        }
        // The server answers from what it holds when the request arrives.
        let page = self.matching(stream, filter, after, limit);
        let (connection, admitted) = {
            let mut state = self.lock();
            if !state.modelled || turmoil::sim_elapsed().is_none() {
                return Ok(page);
            }
            let connection = state.wiring.reads_on();
            let admitted = state
                .connections
                .admit(connection, Self::now(), page_bytes(&page));
            if admitted.is_err() {
                state.reads_failed += 1;
            }
            (connection, admitted)
        };
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(Refused::Down(e)) => return Err(e),
            // Everything else on the connection learns of the cut now, not when its own
            // bytes would have arrived.
            Err(Refused::Cut(e)) => {
                self.lives[connection.index()].notify_waiters();
                return Err(e);
            }
        };
        // Nothing can cut the connection between the admission and this first poll of the
        // wait: the simulation runs one task at a time.
        tokio::select! {
            biased;
            () = self.lives[connection.index()].notified() => {}
            () = sleep_until(Some(admitted.arrives)) => {}
        }
        let mut state = self.lock();
        if let Err(e) = state.connections.still(connection, admitted.generation) {
            state.reads_failed += 1;
            return Err(e);
        }
        if let (Filter::Tournament(t), Seq::ZERO) = (filter, after) {
            *state.from_start.entry(t).or_default() += 1;
        }
        Ok(page)
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
        Box::pin(self.read_page(stream, filter, after, limit))
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
            let generation = log
                .lock()
                .connections
                .usable(Connection::Main, Self::now())?;
            let end = log
                .ends
                .get(&stream)
                .map(watch::Sender::subscribe)
                .ok_or_else(|| LogError::Other(format!("no stream {stream}")))?;
            let tailing = Tailing {
                lives: log.lives.clone(),
                log,
                end,
                generation,
                position: after,
                lost: false,
            };
            let live = futures_util::stream::unfold(tailing, move |mut t| async move {
                let next = t.next(stream).await?;
                Some((next, t))
            });
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

/// A live tail on the main connection: where it is, and what ends it.
struct Tailing {
    log: SimLog,
    end: watch::Receiver<u64>,
    lives: Arc<[Notify; 2]>,
    /// The main connection's life it was opened on.
    generation: u64,
    position: Seq,
    /// It has said it is lost; it ends.
    lost: bool,
}

impl Tailing {
    async fn next(&mut self, stream: StreamName) -> Option<Result<Entry, LogError>> {
        if self.lost {
            return None;
        }
        loop {
            // A consumer whose server went away, or whose connection was cut, says so once
            // (an ordered consumer misses its heartbeats) and ends; reopening is the reader's
            // business.
            let gone = if self.log.outage_until(SimLog::now()).is_some() {
                Some(LogError::Unavailable(
                    "consumer lost (simulated outage)".into(),
                ))
            } else {
                self.log
                    .lock()
                    .connections
                    .still(Connection::Main, self.generation)
                    .err()
            };
            if let Some(error) = gone {
                self.lost = true;
                return Some(Err(error));
            }
            if let Some(entry) = self.log.entry_at(stream, self.position.0) {
                self.position = entry.stream_seq;
                return Some(Ok(entry));
            }
            let outage = self.log.next_outage(SimLog::now());
            tokio::select! {
                biased;
                changed = self.end.changed() => changed.ok()?,
                () = self.lives[Connection::Main.index()].notified() => {}
                () = sleep_until(outage) => {}
            }
        }
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
mod tests;
