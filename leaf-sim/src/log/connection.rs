//! The NATS connections leaf holds to the simulated server, and how the server treats a slow
//! one.
//!
//! Production leaf opens two (leaf's `log/jetstream`): [`Connection::Main`] carries publishes
//! and the feed's two tails, [`Connection::Reads`] every page read ([`leaf::log::EventLog::read`]).
//! What the simulation models of each:
//! - A page arrives over simulated time: nats-server queues a batched direct get's whole
//!   answer at once, and leaf takes it off the connection at [`BANDWIDTH`], first in, first
//!   out. Bytes queued and not yet taken are the connection's pending bytes.
//! - Past [`PENDING_LIMIT`] pending bytes the server cuts the connection, as nats-server cuts
//!   a slow consumer: the page that overflowed it and every page in flight on it fail with
//!   `LogError::Unavailable("slow consumer …")`, tails on it fail once and end (an ordered
//!   consumer whose connection closed), a publish waiting for its ack loses it, and for
//!   [`RECONNECT_AFTER`] everything on it fails while the client reconnects.
//! - Tails' live messages are taken by the feed as they are stored, and acks are a few bytes:
//!   only pages make pending bytes.
//!
//! Scale: in production the limit is nats-server's 64 MiB against pages of at most 1 MiB and
//! a budget of 32 reads, so budgeted reads alone stay under it. The simulation's events are
//! small but for seating charts, and a tournament of them is a few hundred KiB (the plan's
//! `CHART_TOTAL`); its limit is deliberately below what its read budget lets run at once (see
//! `venue::read_budget`), so a burst of resumes does cut the reads connection now and then
//! and leaf's handling of a cut runs. It stays above the most a plan can put in the log
//! (a test in `plan` checks the first 2,000 seeds), so one page alone never cuts it, and
//! leaf can always start.

use std::fmt;
use std::time::Duration;

use leaf::log::{Entry, LogError};

/// Bytes per simulated second leaf takes off one connection: slow enough that a few hundred
/// KiB of pages queue for tens of milliseconds, so resumes that arrive together overlap.
pub const BANDWIDTH: u64 = 4 * 1024 * 1024;
/// Pending bytes past which the server cuts a connection (nats-server's `max_pending`,
/// 64 MiB by default, scaled down; see the module doc).
pub const PENDING_LIMIT: usize = 640 * 1024;
/// How long a cut connection is gone before the client is connected again (async-nats's
/// first reconnect delay as leaf configures it).
pub const RECONNECT_AFTER: Duration = Duration::from_millis(100);
/// What a direct get adds to each message besides subject and payload: its headers
/// (`Nats-Stream`, `Nats-Sequence`, `Nats-Subject`, `Nats-Time-Stamp`).
pub const MESSAGE_OVERHEAD: usize = 128;

/// One of leaf's connections to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Connection {
    /// Publishes and the feed's tails.
    Main,
    /// Page reads, in production's wiring.
    Reads,
}

impl Connection {
    pub const ALL: [Connection; 2] = [Connection::Main, Connection::Reads];

    /// Its place in per-connection arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Connection::Main => "main",
            Connection::Reads => "reads",
        })
    }
}

/// Which connection carries the reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wiring {
    /// Production's: reads on a connection of their own, so a cut never reaches the tails.
    #[default]
    Separate,
    /// Reads beside the tails and publishes on one connection, as leaf did before: a burst
    /// of reads cuts the tails too.
    Shared,
}

impl Wiring {
    pub fn reads_on(self) -> Connection {
        match self {
            Wiring::Separate => Connection::Reads,
            Wiring::Shared => Connection::Main,
        }
    }
}

/// A connection the server cut, for the trace and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub at: Duration,
    pub connection: Connection,
    /// What would have been pending with the page that overflowed it.
    pub pending: usize,
}

/// A page admitted onto a connection: the connection's life it belongs to, and when its last
/// byte will have been taken.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    pub generation: u64,
    pub arrives: Duration,
}

/// Why a page was not admitted.
#[derive(Debug)]
pub enum Refused {
    /// The connection is reconnecting after a cut.
    Down(LogError),
    /// This page cut it: the caller wakes whoever waits on it.
    Cut(LogError),
}

/// One connection's state.
#[derive(Debug, Default, Clone, Copy)]
struct Line {
    /// When leaf will have taken every byte queued so far.
    drained_at: Duration,
    /// Bumped at each cut and reconnect: pages and tails of an older one fail.
    generation: u64,
    /// Until when it is reconnecting after a cut.
    down_until: Duration,
}

/// Both connections and the cuts so far.
#[derive(Debug, Default)]
pub struct Connections {
    lines: [Line; 2],
    cuts: Vec<Cut>,
}

impl Connections {
    /// Queues a page of `bytes` on `connection` at `now`, or cuts the connection if that
    /// takes it past [`PENDING_LIMIT`].
    pub fn admit(
        &mut self,
        connection: Connection,
        now: Duration,
        bytes: usize,
    ) -> Result<Admitted, Refused> {
        self.usable(connection, now).map_err(Refused::Down)?;
        let line = &mut self.lines[connection.index()];
        let pending = pending_at(line.drained_at, now) + bytes;
        if pending > PENDING_LIMIT {
            line.generation += 1;
            line.drained_at = now;
            line.down_until = now + RECONNECT_AFTER;
            self.cuts.push(Cut {
                at: now,
                connection,
                pending,
            });
            return Err(Refused::Cut(slow_consumer(connection, pending)));
        }
        line.drained_at = line.drained_at.max(now) + transfer_time(bytes);
        Ok(Admitted {
            generation: line.generation,
            arrives: line.drained_at,
        })
    }

    /// The connection's current generation, if it is connected at `now`.
    pub fn usable(&self, connection: Connection, now: Duration) -> Result<u64, LogError> {
        let line = &self.lines[connection.index()];
        if now < line.down_until {
            return Err(LogError::Unavailable(format!(
                "not connected to nats-server: the {connection} connection is reconnecting after a slow-consumer cut"
            )));
        }
        Ok(line.generation)
    }

    /// Whether what began on `generation` of `connection` is still on the same connection.
    pub fn still(&self, connection: Connection, generation: u64) -> Result<(), LogError> {
        if self.lines[connection.index()].generation == generation {
            Ok(())
        } else {
            Err(LogError::Unavailable(format!(
                "slow consumer: nats-server closed the {connection} connection while this was in flight"
            )))
        }
    }

    /// A new leaf process: fresh connections with nothing pending (not cuts).
    pub fn reconnect_all(&mut self, now: Duration) {
        for line in &mut self.lines {
            *line = Line {
                drained_at: now,
                generation: line.generation + 1,
                down_until: Duration::ZERO,
            };
        }
    }

    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }
}

/// What a page of `entries` puts on the wire.
pub fn page_bytes(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|e| e.subject.len() + e.payload.len() + MESSAGE_OVERHEAD)
        .sum()
}

fn transfer_time(bytes: usize) -> Duration {
    Duration::from_nanos((bytes as u128 * 1_000_000_000 / u128::from(BANDWIDTH)) as u64)
}

/// Bytes still queued at `now` on a connection that will be drained at `drained_at`.
fn pending_at(drained_at: Duration, now: Duration) -> usize {
    let left = drained_at.saturating_sub(now);
    (left.as_nanos() * u128::from(BANDWIDTH) / 1_000_000_000) as usize
}

fn slow_consumer(connection: Connection, pending: usize) -> LogError {
    LogError::Unavailable(format!(
        "slow consumer: nats-server closed the {connection} connection with {} KiB pending",
        pending / 1024
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    #[test]
    fn a_page_arrives_at_the_bandwidth_and_pages_queue_behind_each_other() {
        let mut c = Connections::default();
        let first = c
            .admit(Connection::Reads, Duration::ZERO, 400 * KIB)
            .unwrap();
        assert_eq!(first.arrives, Duration::from_nanos(97_656_250));
        let second = c
            .admit(Connection::Reads, Duration::from_millis(50), 400 * KIB)
            .unwrap();
        assert_eq!(second.arrives, first.arrives * 2, "first in, first out");
        assert!(c.cuts().is_empty());
    }

    #[test]
    fn past_the_pending_limit_the_connection_is_cut_and_reconnects() {
        let mut c = Connections::default();
        c.admit(Connection::Reads, Duration::ZERO, 300 * KIB)
            .unwrap();
        c.admit(Connection::Reads, Duration::ZERO, 300 * KIB)
            .unwrap();
        assert!(matches!(
            c.admit(Connection::Reads, Duration::ZERO, 300 * KIB),
            Err(Refused::Cut(LogError::Unavailable(why))) if why.contains("slow consumer")
        ));
        assert_eq!(c.cuts().len(), 1);
        assert!(
            c.still(Connection::Reads, 0).is_err(),
            "pages in flight fail"
        );
        assert!(
            c.usable(Connection::Main, Duration::ZERO).is_ok(),
            "main is untouched"
        );
        assert!(matches!(
            c.admit(Connection::Reads, Duration::from_millis(50), KIB),
            Err(Refused::Down(_))
        ));
        assert!(
            c.admit(Connection::Reads, RECONNECT_AFTER, 300 * KIB)
                .is_ok()
        );
    }
}
