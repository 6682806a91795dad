//! The checks after a run, over what the log holds and what the clients recorded. Isolation,
//! order and contiguity are checked as messages arrive (see [`crate::observe`]); the
//! projection after each start (see [`crate::venue::run_leaf`]) and here at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use leaf::log::StreamName;
use leaf::log::record::StateRecord;

use crate::log::{Connection, Stored};
use crate::plan::{Fault, Plan};
use crate::venue::Venue;

/// The bound the issue sets: a live event reaches every subscriber within 100 ms.
pub const LATENCY_BOUND: Duration = Duration::from_millis(100);

/// The log's STATE stream, per tournament, in order: the n-th is that tournament's seq n.
pub fn events_by_tournament(venue: &Venue) -> Vec<Vec<Stored>> {
    let mut out = vec![Vec::new(); venue.tournaments.len()];
    for stored in venue.log.stored(StreamName::State) {
        if let Some(t) = venue.index_of(stored.tournament) {
            out[t].push(stored);
        }
    }
    out
}

fn key_of(stored: &Stored) -> Option<String> {
    serde_json::from_slice::<StateRecord>(&stored.entry.payload)
        .ok()
        .and_then(|p| p.key)
}

/// Production's wiring keeps client reads off the connection of the tails and publishes: a
/// burst of reads may get the reads connection cut, never that one.
pub fn connections(venue: &Venue, violations: &mut Vec<String>) {
    for cut in venue.log.cuts() {
        if cut.connection == Connection::Main {
            violations.push(format!(
                "the server cut leaf's main connection (the tails, the publishes) at {:?} with {} KiB pending",
                cut.at,
                cut.pending / 1024
            ));
        }
    }
}

/// Invariants 3 and 4: what was answered 201 is in the log at that seq, exactly once.
pub fn answers(venue: &Venue, log: &[Vec<Stored>], violations: &mut Vec<String>) {
    let mut seqs_of_key: BTreeMap<(usize, String), Vec<u64>> = BTreeMap::new();
    for (t, events) in log.iter().enumerate() {
        for (i, stored) in events.iter().enumerate() {
            if let Some(key) = key_of(stored) {
                seqs_of_key.entry((t, key)).or_default().push(i as u64 + 1);
            }
        }
    }
    for ((t, key), seqs) in &seqs_of_key {
        if seqs.len() > 1 {
            violations.push(format!(
                "idempotency: key {key} is in t{t} {} times, at seqs {seqs:?}",
                seqs.len()
            ));
        }
    }
    for answer in venue.seen.answers() {
        let t = answer.tournament;
        match seqs_of_key.get(&(t, answer.key.clone())) {
            None => violations.push(format!(
                "lost: {} was answered 201 seq {} at {:?}, but t{t}'s log has no event with that key",
                answer.key, answer.seq, answer.at
            )),
            Some(seqs) if !seqs.contains(&answer.seq) => violations.push(format!(
                "{} was answered 201 seq {}, but the log has it at seq {seqs:?}",
                answer.key, answer.seq
            )),
            Some(_) => {}
        }
    }
}

/// Invariant 3, second half: every display still watching has every event of its
/// tournaments.
pub fn completeness(venue: &Venue, log: &[Vec<Stored>], violations: &mut Vec<String>) {
    for (name, display) in venue.seen.displays() {
        if !display.present {
            continue;
        }
        for &t in &display.watches {
            let head = log[t].len() as u64;
            let have = display.last.get(&t).copied().unwrap_or(0);
            if have != head {
                violations.push(format!(
                    "{name} ends with t{t} at seq {have}, but the log has {head}"
                ));
            }
        }
    }
}

/// Every event a display received carries the data the log holds at that seq: a replay or
/// a fan-out of the wrong events would still look contiguous by seq alone.
pub fn contents(venue: &Venue, log: &[Vec<Stored>], violations: &mut Vec<String>) {
    // Each record decoded once, not once per display that got it.
    let logged: Vec<Vec<Option<serde_json::Value>>> = log
        .iter()
        .map(|events| {
            events
                .iter()
                .map(|s| {
                    serde_json::from_slice::<StateRecord>(&s.entry.payload)
                        .ok()
                        .map(|p| p.data)
                })
                .collect()
        })
        .collect();
    for (name, display) in venue.seen.displays() {
        for d in &display.deliveries {
            let logged = logged[d.tournament]
                .get(d.seq as usize - 1)
                .and_then(Option::as_ref);
            if logged != Some(&*d.data) {
                violations.push(format!(
                    "{name} got t{} seq {} with data {}, but the log holds {}",
                    d.tournament,
                    d.seq,
                    d.data,
                    logged.map_or_else(|| "nothing".to_owned(), ToString::to_string)
                ));
            }
        }
    }
}

/// Invariant 6: delivery times of live events over healthy links. Returns them all; a
/// violation for each over [`LATENCY_BOUND`]. An event stored while its connection's replay
/// (events from before the connection) was still being sent waits behind it by design, as
/// does one that arrives while the client is away fetching over HTTP: neither is timed.
pub fn latencies(
    venue: &Venue,
    log: &[Vec<Stored>],
    violations: &mut Vec<String>,
) -> Vec<Duration> {
    let plan = &venue.plan;
    let mut out = Vec::new();
    for (name, display) in venue.seen.displays() {
        // The connection of the last replayed event, and when it was delivered.
        let mut replayed: Option<(Duration, Duration)> = None;
        for d in &display.deliveries {
            let Some(stored) = log[d.tournament].get(d.seq as usize - 1) else {
                continue;
            };
            if stored.at < d.connected_at {
                replayed = Some((d.connected_at, d.at));
            }
            let behind_replay = replayed.is_some_and(|(connected_at, at)| {
                connected_at == d.connected_at && stored.at <= at
            });
            if d.at < stored.at {
                violations.push(format!(
                    "{name} got t{} seq {} at {:?}, before the log stored it at {:?}",
                    d.tournament, d.seq, d.at, stored.at
                ));
                continue;
            }
            // Stored before the connection existed: it came in a replay, not live. Stored by
            // a publish that never got its ack (leaf crashed, or the log went away while
            // answering): leaf's tail may have been down then, and picks it up when it
            // reopens (at the next acknowledged append, or within a second).
            if stored.at < d.connected_at || !stored.acked || behind_replay {
                continue;
            }
            let window = (stored.at, d.at);
            let stalled = display.stalls.iter().any(|stall| overlaps(window, *stall));
            if stalled || disturbed(plan, &name, window) {
                continue;
            }
            let latency = d.at - stored.at;
            if latency > LATENCY_BOUND {
                violations.push(format!(
                    "latency: {name} got t{} seq {} {} ms after it was stored, over healthy links",
                    d.tournament,
                    d.seq,
                    latency.as_millis()
                ));
            }
            out.push(latency);
        }
    }
    out
}

/// Whether a fault touching `client` (its own link, or leaf or the log) was in force during
/// any of `window`. A fault's effects outlast it a little: held packets land at the release.
fn disturbed(plan: &Plan, client: &str, window: (Duration, Duration)) -> bool {
    plan.faults.iter().any(|f| {
        let touches = match &f.fault {
            Fault::Crash { .. } | Fault::LogOutage { .. } => true,
            other => other.client() == Some(client),
        };
        let lingers = match &f.fault {
            // Packets sent at the end of a spike arrive a whole spike later.
            Fault::Latency { latency, .. } => *latency,
            _ => Duration::ZERO,
        };
        let end = f.at + f.fault.lasts() + lingers + Duration::from_millis(50);
        touches && overlaps(window, (f.at, end))
    })
}

fn overlaps(a: (Duration, Duration), b: (Duration, Duration)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The `q` quantile (0..=1) of `values`, which it sorts.
pub fn quantile(values: &mut [Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
