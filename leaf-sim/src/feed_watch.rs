//! Invariant 7: the feed applies every acknowledged event within [`APPLY_BOUND`] of the log
//! being reachable.
//!
//! The feed turns the log into screens, heads and answers. A feed that silently loses a
//! message (a tail cut off as a slow consumer, a consumer the server dropped) leaves screens
//! stale and later seqs wrong while every request still looks fine, so the feed is watched
//! directly: a task inside the leaf host ([`watch`]) looks at leaf's own feed every
//! `LOOK_EVERY` and notes when each STATE message the log holds is applied as the event the
//! log makes it (its tournament's n-th message as seq n, at its stream sequence:
//! `Feed::seq_at`). After the run, [`check`] holds every message whose publisher got the ack
//! to the bound, not counting time the plan has the log in an outage or leaf was not serving
//! (crashed, or starting again: a new feed replays the whole log before it serves).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use leaf::event::{Seq, TournamentId};
use leaf::feed::Feed;
use leaf::log::StreamName;

use crate::plan::Fault;
use crate::venue::Venue;

/// The bound of invariant 7. Applying a message takes microseconds; a feed whose tail broke
/// reopens it within 300 ms of an append noticing (leaf's `HEAL_AFTER`), and a whole check of
/// its watchdog takes a second.
pub const APPLY_BOUND: Duration = Duration::from_secs(1);
/// How often the watching task looks at the feed: small against [`APPLY_BOUND`].
const LOOK_EVERY: Duration = Duration::from_millis(20);
/// Late events reported per tournament before the rest are only counted.
const REPORTED_PER_TOURNAMENT: usize = 1;

/// What the watching task saw; outlives any incarnation of the leaf host.
#[derive(Debug)]
pub struct FeedWatch {
    /// STATE messages of the log looked at so far, in stream order.
    scanned: usize,
    /// Per tournament, how many of those are its: the seq of its last one.
    counts: BTreeMap<TournamentId, u64>,
    /// Messages not seen applied yet: (stream seq, tournament, seq).
    waiting: Vec<(Seq, TournamentId, Seq)>,
    /// When each message was first seen applied, by stream seq.
    applied_at: HashMap<u64, Duration>,
    /// When leaf was not serving: from the start of the run or a crash until an incarnation
    /// serves (`None`: it has not yet).
    down: Vec<(Duration, Option<Duration>)>,
    /// The log's connection cuts already written into the trace.
    cuts_traced: usize,
}

impl Default for FeedWatch {
    fn default() -> Self {
        Self {
            scanned: 0,
            counts: BTreeMap::new(),
            waiting: Vec::new(),
            applied_at: HashMap::new(),
            // leaf is not serving until its first incarnation does.
            down: vec![(Duration::ZERO, None)],
            cuts_traced: 0,
        }
    }
}

impl FeedWatch {
    /// The driver crashed the leaf host at `at`.
    pub fn leaf_down(&mut self, at: Duration) {
        if self.down.last().is_none_or(|(_, end)| end.is_some()) {
            self.down.push((at, None));
        }
    }

    /// An incarnation serves from `at`: its feed has replayed the log.
    pub fn leaf_serves(&mut self, at: Duration) {
        if let Some((_, end @ None)) = self.down.last_mut() {
            *end = Some(at);
        }
    }

    /// The log's messages the feed has not been seen applying yet, each with the seq it must
    /// become: those stored since the last look, and those still waiting.
    fn waiting(&mut self, venue: &Venue) -> Vec<(Seq, TournamentId, Seq)> {
        for (stream_seq, t) in venue.log.state_positions_from(self.scanned) {
            self.scanned += 1;
            let count = self.counts.entry(t).or_default();
            *count += 1;
            self.waiting.push((stream_seq, t, Seq(*count)));
        }
        self.waiting.clone()
    }

    /// Notes that the feed had applied these STATE messages by `now`.
    fn applied(&mut self, applied: &[Seq], now: Duration) {
        for stream_seq in applied {
            self.applied_at.insert(stream_seq.0, now);
        }
        self.waiting
            .retain(|(stream_seq, ..)| !applied.contains(stream_seq));
    }
}

/// Watches leaf's feed for as long as this incarnation of the leaf host lives.
pub async fn watch(venue: Rc<Venue>, feed: Feed) {
    loop {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        // Not borrowed across the lookups: an event older than the feed keeps in memory is
        // looked up in leaf.db (in memory, on this task: no simulated time passes).
        let waiting = venue.feed_watch.borrow_mut().waiting(&venue);
        let mut applied = Vec::new();
        for (stream_seq, t, seq) in waiting {
            if matches!(feed.seq_at(t, stream_seq).await, Ok(Some(at)) if at == seq) {
                applied.push(stream_seq);
            }
        }
        venue.feed_watch.borrow_mut().applied(&applied, now);
        trace_cuts(&venue);
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Writes the log's new connection cuts into the trace, at the time they happened.
fn trace_cuts(venue: &Venue) {
    let cuts = venue.log.cuts();
    let mut watch = venue.feed_watch.borrow_mut();
    for cut in cuts.iter().skip(watch.cuts_traced) {
        venue.trace.record_at(
            cut.at,
            "log",
            format!(
                "nats-server cuts leaf's {} connection: slow consumer, {} KiB pending",
                cut.connection,
                cut.pending / 1024
            ),
        );
    }
    watch.cuts_traced = cuts.len();
}

/// Invariant 7, after a run that lasted until `end`: every acknowledged STATE message was
/// applied within [`APPLY_BOUND`] of reachable time after it was stored. A message whose
/// bound falls after the end is not judged.
pub fn check(venue: &Venue, end: Duration, violations: &mut Vec<String>) {
    let watch = venue.feed_watch.borrow();
    let outages = venue.plan.faults.iter().filter_map(|f| match f.fault {
        Fault::LogOutage { lasts } => Some((f.at, f.at + lasts)),
        _ => None,
    });
    let leaf_down = watch
        .down
        .iter()
        .map(|(from, to)| (*from, to.unwrap_or(end)));
    let unreachable = merged(outages.chain(leaf_down).collect());

    let mut seqs: BTreeMap<TournamentId, u64> = BTreeMap::new();
    let mut late: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for stored in venue.log.stored(StreamName::State) {
        let seq = seqs.entry(stored.tournament).or_default();
        *seq += 1;
        if !stored.acked {
            continue;
        }
        let deadline = deadline(stored.at, APPLY_BOUND, &unreachable);
        let applied = watch.applied_at.get(&stored.entry.stream_seq.0).copied();
        let when = match applied {
            Some(at) if at <= deadline => continue,
            None if deadline >= end => continue,
            Some(at) => format!("applied only at {at:?}"),
            None => "never applied".to_owned(),
        };
        let t = venue.index_of(stored.tournament).unwrap_or(usize::MAX);
        late.entry(t).or_default().push(format!(
            "t{t} seq {seq} (STATE {}), acknowledged and stored at {:?}, not applied within {} ms of the log being reachable: {when}",
            stored.entry.stream_seq,
            stored.at,
            APPLY_BOUND.as_millis()
        ));
    }
    for (_, mut found) in late {
        let more = found.len().saturating_sub(REPORTED_PER_TOURNAMENT);
        found.truncate(REPORTED_PER_TOURNAMENT);
        for line in found {
            let more = if more > 0 {
                format!(" (and {more} later events of it)")
            } else {
                String::new()
            };
            violations.push(format!("feed: {line}{more}"));
        }
    }
}

/// Sorted, with overlapping windows joined.
fn merged(mut windows: Vec<(Duration, Duration)>) -> Vec<(Duration, Duration)> {
    windows.sort();
    let mut out: Vec<(Duration, Duration)> = Vec::new();
    for (from, to) in windows {
        match out.last_mut() {
            Some((_, end)) if from <= *end => *end = (*end).max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The moment `bound` of reachable time has passed since `from`, skipping the `unreachable`
/// windows (sorted, not overlapping).
fn deadline(from: Duration, bound: Duration, unreachable: &[(Duration, Duration)]) -> Duration {
    let mut deadline = from + bound;
    for &(start, end) in unreachable {
        if start > deadline {
            break;
        }
        if end > from {
            deadline += end - start.max(from);
        }
    }
    deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn unreachable_time_does_not_count_against_the_bound() {
        let none = deadline(ms(100), ms(1000), &[]);
        assert_eq!(none, ms(1100));
        let windows = merged(vec![
            (ms(600), ms(900)),
            (ms(50), ms(200)),
            (ms(800), ms(1000)),
        ]);
        assert_eq!(windows, vec![(ms(50), ms(200)), (ms(600), ms(1000))]);
        // 100 ms of the first window and all 400 of the second fall after `from`.
        assert_eq!(deadline(ms(100), ms(1000), &windows), ms(1600));
        // A window after the deadline changes nothing.
        assert_eq!(
            deadline(ms(100), ms(1000), &[(ms(1200), ms(1500))]),
            ms(1100)
        );
    }
}
