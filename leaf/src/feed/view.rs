//! The in-memory view of the log: per tournament its name, its head, the positions of its
//! newest events and the newest `data` of each event type. A start loads it from the
//! checkpoint in leaf.db and applies the log after it; what it holds does not grow with
//! history (older positions are in leaf.db). Pure data, no I/O, so it is tested on its own.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use crate::event::{Event, Seq, TournamentId, TournamentSummary};
use crate::log::record::{APPENDED, AuditRecord, CREATED, StateRecord};
use crate::log::{Entry, Subject};
use crate::store::{Checkpoint, Cursor};

/// Positions each tournament keeps in memory once leaf.db has them: resumes and reads of the
/// last few hundred events (every display after a blip) need no database read.
pub const POSITIONS_KEPT: usize = 256;

/// The newest event of one type: a snapshot holds one of these per type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latest {
    pub seq: Seq,
    pub ts: String,
    pub data: serde_json::Value,
}

/// Where a tournament's log ends: the next event's seq is `seq + 1` and its publish must
/// expect `stream_seq` as the tournament's last STATE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub seq: Seq,
    pub stream_seq: Seq,
}

/// One tournament as the log describes it so far.
#[derive(Debug, Default)]
pub struct TournamentView {
    /// (name, created_at) from the AUDIT creation record; `None` for events some other
    /// writer put in the log.
    created: Option<(String, String)>,
    head: Head,
    /// The stream sequences of the newest events, up to the head: `positions[i]` is that of
    /// event `head.seq - positions.len() + 1 + i`. Older ones are in leaf.db.
    positions: VecDeque<Seq>,
    /// Shared with the snapshots taken of it, copied only when changed while one is held,
    /// so taking a snapshot under the feed's lock is one reference, however many types.
    latest: Arc<BTreeMap<String, Arc<Latest>>>,
    /// Which events have their AUDIT record.
    audited: Audited,
}

/// The seqs of a tournament whose AUDIT record the log holds: all up to `through`, and
/// those in `above` (records arrive out of order when appends overlap, or after a repair).
#[derive(Debug, Default)]
struct Audited {
    through: Seq,
    above: std::collections::BTreeSet<Seq>,
}

impl Audited {
    fn new(through: Seq, above: &[Seq]) -> Self {
        let mut audited = Self {
            through,
            above: Default::default(),
        };
        for seq in above {
            audited.mark(*seq);
        }
        audited
    }

    fn mark(&mut self, seq: Seq) {
        if seq <= self.through {
            return;
        }
        self.above.insert(seq);
        while self.above.remove(&self.through.next()) {
            self.through = self.through.next();
        }
    }

    /// The runs of seqs up to `head` without a record.
    fn missing(&self, head: Seq) -> Vec<std::ops::RangeInclusive<Seq>> {
        let mut runs = Vec::new();
        let mut from = self.through.next();
        for &present in self.above.iter().chain(std::iter::once(&head.next())) {
            if present > from && from <= head {
                runs.push(from..=present.prev().min(head));
            }
            from = from.max(present.next());
        }
        runs
    }
}

/// The newest event of each type of one tournament at one moment: cheap to take, turned
/// into JSON by whoever sends it, outside the feed's lock.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(Arc<BTreeMap<String, Arc<Latest>>>);

impl Snapshot {
    pub fn to_json(&self) -> serde_json::Value {
        let by_type = self
            .0
            .iter()
            .map(|(kind, latest)| {
                let latest = serde_json::to_value(&**latest).unwrap_or_default();
                (kind.clone(), latest)
            })
            .collect();
        serde_json::Value::Object(by_type)
    }
}

/// What memory knows of one of a tournament's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Found(Seq),
    /// Older than memory keeps: leaf.db has it.
    Stored,
    /// The tournament has no such event.
    Unknown,
}

impl TournamentView {
    pub fn head(&self) -> Head {
        self.head
    }

    /// The seq of the oldest event whose position memory keeps.
    fn first_kept(&self) -> Seq {
        Seq(self.head.seq.0 + 1 - self.positions.len() as u64)
    }

    /// The stream sequence of event `seq` (`ZERO` before the first event).
    pub fn position_of(&self, seq: Seq) -> Lookup {
        if seq == Seq::ZERO {
            return Lookup::Found(Seq::ZERO);
        }
        if seq > self.head.seq {
            return Lookup::Unknown;
        }
        if seq == self.head.seq {
            return Lookup::Found(self.head.stream_seq);
        }
        let first = self.first_kept();
        if seq < first {
            return Lookup::Stored;
        }
        match self.positions.get((seq.0 - first.0) as usize) {
            Some(at) => Lookup::Found(*at),
            None => Lookup::Unknown,
        }
    }

    /// The seq of the event stored at `stream_seq`.
    pub fn seq_at(&self, stream_seq: Seq) -> Lookup {
        if stream_seq > self.head.stream_seq {
            return Lookup::Unknown;
        }
        if stream_seq == self.head.stream_seq && self.head.seq > Seq::ZERO {
            return Lookup::Found(self.head.seq);
        }
        match self.positions.front() {
            Some(first) if stream_seq >= *first => {
                match self.positions.binary_search(&stream_seq) {
                    Ok(i) => Lookup::Found(Seq(self.first_kept().0 + i as u64)),
                    Err(_) => Lookup::Unknown,
                }
            }
            _ if self.first_kept() > Seq(1) => Lookup::Stored,
            _ => Lookup::Unknown,
        }
    }

    /// Whether `entry` is this tournament's head event as the view knows it: at the head's
    /// stream sequence, and the newest of its type with the same time and data.
    pub fn is_head(&self, entry: &Entry) -> bool {
        let Some(event) = event_at(entry, self.head.seq) else {
            return false;
        };
        entry.stream_seq == self.head.stream_seq
            && self.latest.get(&event.kind).is_some_and(|latest| {
                latest.seq == event.seq && latest.ts == event.ts && latest.data == event.data
            })
    }

    /// The newest event of each type, by type.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.latest.clone())
    }

    /// Forgets positions beyond the newest [`POSITIONS_KEPT`] that leaf.db holds (those at or
    /// before `stored`).
    fn forget_stored(&mut self, stored: Seq) {
        while self.positions.len() > POSITIONS_KEPT
            && self.positions.front().is_some_and(|p| *p <= stored)
        {
            self.positions.pop_front();
        }
    }
}

/// What applying one STATE message produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub tournament: TournamentId,
    pub event: Event,
    pub idempotency_key: Option<String>,
}

/// What applying an AUDIT message changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditApplied {
    /// A tournament's first creation record.
    Created {
        tournament: TournamentId,
        name: String,
        created_at: String,
    },
    /// An event's record: which of the tournament's events have one now.
    Marked {
        tournament: TournamentId,
        through: Seq,
        above: Vec<Seq>,
    },
}

/// Every tournament of the log, and how far each stream has been applied.
#[derive(Debug, Default)]
pub struct View {
    tournaments: BTreeMap<TournamentId, TournamentView>,
    applied: Cursor,
}

impl View {
    /// The view as of a checkpoint; `Err` names what in it does not parse.
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Result<Self, String> {
        let mut tournaments = BTreeMap::new();
        for (id, t) in checkpoint.tournaments {
            let mut latest = BTreeMap::new();
            for row in t.latest {
                let data = serde_json::from_str(&row.data).map_err(|e| {
                    format!("the {} data of tournament {id} is not JSON: {e}", row.kind)
                })?;
                let entry = Latest {
                    seq: row.seq,
                    ts: row.ts,
                    data,
                };
                latest.insert(row.kind, Arc::new(entry));
            }
            let view = TournamentView {
                created: t.created,
                head: Head {
                    seq: t.last_seq,
                    stream_seq: t.last_stream_seq,
                },
                positions: VecDeque::new(),
                latest: Arc::new(latest),
                audited: Audited::new(t.audited_through, &t.audited_above),
            };
            tournaments.insert(id, view);
        }
        Ok(Self {
            tournaments,
            applied: checkpoint.cursor,
        })
    }

    /// The last stream sequence applied, per stream.
    pub fn applied(&self) -> Cursor {
        self.applied
    }

    pub fn tournament(&self, id: TournamentId) -> Option<&TournamentView> {
        self.tournaments.get(&id)
    }

    /// Applies one STATE message; what it became. Positions at or before `stored` are in
    /// leaf.db, and memory may forget them.
    pub fn apply_state(&mut self, entry: &Entry, stored: Seq) -> Option<Applied> {
        self.applied.state = self.applied.state.max(entry.stream_seq);
        let (tournament, kind) = state_subject(&entry.subject)?;
        let t = self.tournaments.entry(tournament).or_default();
        if t.head.stream_seq >= entry.stream_seq {
            return None; // already applied (a tail that restarted from an older position)
        }
        t.head = Head {
            seq: t.head.seq.next(),
            stream_seq: entry.stream_seq,
        };
        t.positions.push_back(entry.stream_seq);
        t.forget_stored(stored);
        let (event, idempotency_key) = decode_state(entry, t.head.seq, kind);
        Arc::make_mut(&mut t.latest).insert(
            event.kind.clone(),
            Arc::new(Latest {
                seq: event.seq,
                ts: event.ts.clone(),
                data: event.data.clone(),
            }),
        );
        Some(Applied {
            tournament,
            event,
            idempotency_key,
        })
    }

    /// Applies one AUDIT message: an event's record, or a tournament's first creation record.
    pub fn apply_audit(&mut self, entry: &Entry) -> Option<AuditApplied> {
        self.applied.audit = self.applied.audit.max(entry.stream_seq);
        let Some(Subject::Audit(tournament)) = Subject::parse(&entry.subject) else {
            return None;
        };
        let record = serde_json::from_slice::<AuditRecord>(&entry.payload).ok()?;
        if record.action == APPENDED
            && let Some(seq) = record.seq
        {
            let audited = &mut self.tournaments.entry(tournament).or_default().audited;
            let before = (audited.through, audited.above.len());
            audited.mark(seq);
            if (audited.through, audited.above.len()) == before {
                return None; // a second record of the same event
            }
            return Some(AuditApplied::Marked {
                tournament,
                through: audited.through,
                above: audited.above.iter().copied().collect(),
            });
        }
        if record.action != CREATED {
            return None;
        }
        let t = self.tournaments.entry(tournament).or_default();
        if t.created.is_some() {
            return None;
        }
        let name = record.name.unwrap_or_default();
        t.created = Some((name.clone(), record.ts.clone()));
        Some(AuditApplied::Created {
            tournament,
            name,
            created_at: record.ts,
        })
    }

    /// Per tournament, the runs of its events (up to its head) whose AUDIT record the log does
    /// not hold.
    pub fn unaudited(&self) -> Vec<(TournamentId, Vec<std::ops::RangeInclusive<Seq>>)> {
        self.tournaments
            .iter()
            .map(|(id, t)| (*id, t.audited.missing(t.head().seq)))
            .filter(|(_, missing)| !missing.is_empty())
            .collect()
    }

    /// A created tournament; `None` for one that was never created.
    pub fn created(&self, id: TournamentId) -> Option<&TournamentView> {
        self.tournaments.get(&id).filter(|t| t.created.is_some())
    }

    pub fn summary(&self, id: TournamentId) -> Option<TournamentSummary> {
        let t = self.tournaments.get(&id)?;
        let (name, created_at) = t.created.clone()?;
        Some(TournamentSummary {
            id,
            name,
            created_at,
            last_seq: t.head().seq,
        })
    }

    /// Every created tournament, oldest first.
    pub fn list(&self) -> Vec<TournamentSummary> {
        let mut all: Vec<TournamentSummary> = self
            .tournaments
            .keys()
            .filter_map(|id| self.summary(*id))
            .collect();
        all.sort_by(|a, b| (&a.created_at, a.id).cmp(&(&b.created_at, b.id)));
        all
    }
}

/// A tournament's STATE messages read back from the log, from just after event `since`, as
/// events. Seqs come from the log's order, not from the payloads: the log is the truth.
pub fn events_after(since: Seq, entries: &[Entry]) -> Vec<Event> {
    let mut seq = since;
    entries
        .iter()
        .filter_map(|entry| {
            let event = event_at(entry, seq.next())?;
            seq = event.seq;
            Some(event)
        })
        .collect()
}

/// The tournament of a STATE message.
pub fn tournament_of(entry: &Entry) -> Option<TournamentId> {
    state_subject(&entry.subject).map(|(t, _)| t)
}

/// Whether `entry` is a STATE message, i.e. an event (its subject only; nothing decoded).
pub fn is_event(entry: &Entry) -> bool {
    state_subject(&entry.subject).is_some()
}

/// The STATE message `entry` as event `seq`; `None` if it is not a STATE message.
pub fn event_at(entry: &Entry, seq: Seq) -> Option<Event> {
    let (_, kind) = state_subject(&entry.subject)?;
    Some(decode_state(entry, seq, kind).0)
}

/// The tournament and event type of a STATE subject.
fn state_subject(subject: &str) -> Option<(TournamentId, String)> {
    match Subject::parse(subject)? {
        Subject::State(tournament, kind) => Some((tournament, kind.to_string())),
        Subject::Audit(_) => None,
    }
}

/// The event stored in `entry`, as event `seq`, and its idempotency key.
fn decode_state(entry: &Entry, seq: Seq, kind: String) -> (Event, Option<String>) {
    let (ts, data, key) = match serde_json::from_slice::<StateRecord>(&entry.payload) {
        Ok(r) => (r.ts, r.data, r.key),
        // Written by something other than leaf: keep what it said, as it said it.
        Err(_) => (
            String::new(),
            serde_json::from_slice(&entry.payload).unwrap_or(serde_json::Value::Null),
            None,
        ),
    };
    let event = Event {
        seq,
        ts,
        kind,
        data,
    };
    (event, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(stream_seq: u64, subject: String, payload: serde_json::Value) -> Entry {
        Entry {
            stream_seq: Seq(stream_seq),
            subject,
            payload: Bytes::from(payload.to_string()),
        }
    }

    #[test]
    fn seqs_count_a_tournaments_events_across_types_and_interleaving() {
        let (a, b) = (TournamentId::new_random(), TournamentId::new_random());
        let mut view = View::default();
        let mut n = 0;
        for (t, kind) in [(a, "clock"), (b, "clock"), (a, "level"), (a, "clock")] {
            n += 1;
            let payload = serde_json::json!({"seq": 0, "ts": "t", "type": kind, "data": {"n": n}});
            view.apply_state(
                &entry(n, format!("tournament.{t}.state.{kind}"), payload),
                Seq::ZERO,
            );
        }
        let ta = view.tournament(a).unwrap();
        assert_eq!(
            ta.head(),
            Head {
                seq: Seq(3),
                stream_seq: Seq(4)
            }
        );
        assert_eq!(ta.position_of(Seq(2)), Lookup::Found(Seq(3)));
        assert_eq!(ta.seq_at(Seq(4)), Lookup::Found(Seq(3)));
        assert_eq!(ta.seq_at(Seq(2)), Lookup::Unknown, "b's event");
        assert_eq!(ta.latest["clock"].data, serde_json::json!({"n": 4}));
        assert_eq!(view.tournament(b).unwrap().head().seq, Seq(1));
        assert_eq!(view.applied().state, Seq(4));
    }

    #[test]
    fn a_snapshot_is_taken_without_copying_and_keeps_its_moment() {
        let t = TournamentId::new_random();
        let mut view = View::default();
        let state = |n: u64, kind: &str| {
            let payload = serde_json::json!({"seq": n, "ts": "t", "type": kind, "data": {"n": n}});
            entry(n, format!("tournament.{t}.state.{kind}"), payload)
        };
        for n in 1..=200 {
            view.apply_state(&state(n, &format!("type-{n}")), Seq::ZERO);
        }
        let taken = view.tournament(t).unwrap().snapshot();
        assert!(
            Arc::ptr_eq(&taken.0, &view.tournament(t).unwrap().latest),
            "taking a snapshot shares the map, it does not copy 200 types"
        );
        view.apply_state(&state(201, "type-1"), Seq::ZERO);
        assert_eq!(
            taken.to_json()["type-1"]["data"]["n"],
            1,
            "the snapshot keeps its moment"
        );
        let now = view.tournament(t).unwrap().snapshot().to_json();
        assert_eq!(now["type-1"]["data"]["n"], 201);
        assert_eq!(now.as_object().unwrap().len(), 200);
    }

    #[test]
    fn a_replayed_entry_is_not_applied_twice() {
        let t = TournamentId::new_random();
        let mut view = View::default();
        let e = entry(1, format!("tournament.{t}.state.x"), serde_json::json!({}));
        assert!(view.apply_state(&e, Seq::ZERO).is_some());
        assert!(view.apply_state(&e, Seq::ZERO).is_none());
        assert_eq!(view.tournament(t).unwrap().head().seq, Seq(1));
    }

    #[test]
    fn creations_come_from_audit_records() {
        let t = TournamentId::new_random();
        let mut view = View::default();
        let record = serde_json::json!({"action": CREATED, "actor": "td:alice", "ts": "2026-11-28T00:00:00Z", "name": "Main Event"});
        view.apply_audit(&entry(1, format!("tournament.{t}.audit"), record));
        let summary = view.summary(t).unwrap();
        assert_eq!(
            (summary.name.as_str(), summary.last_seq),
            ("Main Event", Seq(0))
        );
        assert_eq!(view.list().len(), 1);
        assert!(view.created(t).is_some());
    }

    #[test]
    fn events_read_back_are_numbered_like_the_live_view() {
        let t = TournamentId::new_random();
        let mut view = View::default();
        let entries: Vec<Entry> = (1..=4)
            .map(|n| {
                let payload =
                    serde_json::json!({"seq": n, "ts": "t", "type": "x", "data": {"n": n}});
                entry(n * 2, format!("tournament.{t}.state.x"), payload)
            })
            .collect();
        let live: Vec<Event> = entries
            .iter()
            .filter_map(|e| view.apply_state(e, Seq::ZERO).map(|a| a.event))
            .collect();
        assert_eq!(events_after(Seq(1), &entries[1..]), live[1..]);
    }

    #[test]
    fn memory_keeps_the_newest_positions_once_leaf_db_has_the_rest() {
        let t = TournamentId::new_random();
        let mut view = View::default();
        let state = |n: u64| {
            entry(
                n * 2,
                format!("tournament.{t}.state.x"),
                serde_json::json!({}),
            )
        };
        let total = POSITIONS_KEPT as u64 * 4;
        for n in 1..=total {
            // leaf.db lags: it has everything but the last 10 messages
            view.apply_state(&state(n), Seq((n * 2).saturating_sub(20)));
        }
        let tv = view.tournament(t).unwrap();
        assert_eq!(tv.positions.len(), POSITIONS_KEPT);
        assert_eq!(tv.position_of(Seq(1)), Lookup::Stored);
        assert_eq!(tv.position_of(Seq(total)), Lookup::Found(Seq(total * 2)));
        let first = total - POSITIONS_KEPT as u64 + 1;
        assert_eq!(tv.position_of(Seq(first)), Lookup::Found(Seq(first * 2)));
        assert_eq!(tv.position_of(Seq(first - 1)), Lookup::Stored);
        assert_eq!(tv.position_of(Seq(total + 1)), Lookup::Unknown);
        assert_eq!(tv.seq_at(Seq(first * 2)), Lookup::Found(Seq(first)));
        assert_eq!(tv.seq_at(Seq(first * 2 + 1)), Lookup::Unknown);
        assert_eq!(tv.seq_at(Seq(2)), Lookup::Stored);

        // leaf.db has nothing: memory forgets nothing
        let mut view = View::default();
        for n in 1..=total {
            view.apply_state(&state(n), Seq::ZERO);
        }
        let tv = view.tournament(t).unwrap();
        assert_eq!(tv.positions.len() as u64, total);
        assert_eq!(tv.position_of(Seq(1)), Lookup::Found(Seq(2)));
        assert_eq!(tv.seq_at(Seq(3)), Lookup::Unknown);
    }

    #[test]
    fn a_view_from_a_checkpoint_goes_on_where_it_stopped() {
        use crate::store::{LatestRow, TournamentCheckpoint};
        let t = TournamentId::new_random();
        let mut checkpoint = Checkpoint {
            cursor: Cursor {
                state: Seq(40),
                audit: Seq(12),
            },
            ..Default::default()
        };
        checkpoint.tournaments.insert(
            t,
            TournamentCheckpoint {
                created: Some(("Main".into(), "c".into())),
                last_seq: Seq(7),
                last_stream_seq: Seq(40),
                audited_through: Seq(5),
                audited_above: vec![Seq(7)],
                latest: vec![LatestRow {
                    kind: "clock".into(),
                    seq: Seq(7),
                    ts: "t7".into(),
                    data: r#"{"n":7}"#.into(),
                }],
            },
        );
        let mut view = View::from_checkpoint(checkpoint.clone()).unwrap();
        assert_eq!(view.applied(), checkpoint.cursor);
        let tv = view.tournament(t).unwrap();
        assert_eq!(
            tv.head(),
            Head {
                seq: Seq(7),
                stream_seq: Seq(40)
            }
        );
        assert_eq!(tv.position_of(Seq(7)), Lookup::Found(Seq(40)));
        assert_eq!(tv.position_of(Seq(6)), Lookup::Stored);
        assert_eq!(tv.seq_at(Seq(39)), Lookup::Stored);
        assert_eq!(tv.snapshot().to_json()["clock"]["data"]["n"], 7);
        assert_eq!(view.unaudited(), vec![(t, vec![Seq(6)..=Seq(6)])]);
        assert_eq!(view.summary(t).unwrap().last_seq, Seq(7));

        let old = entry(
            40,
            format!("tournament.{t}.state.clock"),
            serde_json::json!({}),
        );
        assert!(
            view.apply_state(&old, Seq(40)).is_none(),
            "already in the checkpoint"
        );
        let next = entry(
            41,
            format!("tournament.{t}.state.level"),
            serde_json::json!({}),
        );
        assert_eq!(view.apply_state(&next, Seq(40)).unwrap().event.seq, Seq(8));

        let damaged = {
            let mut c = checkpoint.clone();
            c.tournaments.get_mut(&t).unwrap().latest[0].data = "{".into();
            c
        };
        assert!(View::from_checkpoint(damaged).is_err());
    }

    #[test]
    fn missing_audits_are_the_runs_without_a_record() {
        let mut audited = Audited::default();
        assert_eq!(audited.missing(Seq(0)), vec![]);
        assert_eq!(audited.missing(Seq(3)), vec![Seq(1)..=Seq(3)]);
        for n in [1, 2, 5, 7] {
            audited.mark(Seq(n));
        }
        audited.mark(Seq(2));
        assert_eq!(audited.through, Seq(2));
        assert_eq!(
            audited.missing(Seq(9)),
            vec![Seq(3)..=Seq(4), Seq(6)..=Seq(6), Seq(8)..=Seq(9)]
        );
        assert_eq!(
            audited.missing(Seq(7)),
            vec![Seq(3)..=Seq(4), Seq(6)..=Seq(6)]
        );
        for n in [3, 4, 6] {
            audited.mark(Seq(n));
        }
        assert_eq!((audited.through, audited.above.len()), (Seq(7), 0));
        assert_eq!(audited.missing(Seq(7)), vec![]);
    }
}
