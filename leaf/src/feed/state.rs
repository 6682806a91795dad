//! The in-memory projection of the log: per tournament its name, its events' positions and
//! the latest `data` of each event type. Rebuilt from the log at every start, so it can never
//! claim a seq the log does not hold; pure data, no I/O, so it is tested on its own.

use std::collections::{BTreeMap, VecDeque};

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};

use crate::event::{Seq, TournamentId};
use crate::log::Entry;

/// A tournament as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TournamentInfo {
    #[schema(value_type = String, format = Uuid)]
    pub id: TournamentId,
    pub name: String,
    pub created_at: String,
    pub last_seq: u64,
}

/// The newest event of one type: the snapshot is one of these per type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latest {
    pub seq: u64,
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

/// Events per tournament whose `event` messages stay in memory for resuming clients. A Wi-Fi
/// blip of a few minutes is well inside it; a client further behind is replayed from the log.
pub const RECENT_MESSAGES: usize = 256;
/// ... and at most this many bytes of them per tournament: event data may be up to 64 KiB.
pub const RECENT_BYTES: usize = 256 * 1024;
/// Tournaments whose recent messages are kept: the most recently active. A venue's log holds
/// every tournament it ever ran; only tonight's have screens to reconnect. Together with the
/// limits above, at most 16 MiB, typically well under 1 MiB.
pub const RECENT_TOURNAMENTS: usize = 64;

#[derive(Debug, Default)]
pub struct Tournament {
    /// From the AUDIT creation record; `None` for events some other writer put in the log.
    pub name: Option<(String, String)>,
    /// `positions[i]` is the stream sequence of the event with seq `i + 1`.
    pub positions: Vec<Seq>,
    pub latest: BTreeMap<String, Latest>,
    /// The newest events' messages, as broadcast, with consecutive seqs from `recent_first`.
    recent: VecDeque<Utf8Bytes>,
    recent_first: u64,
    recent_bytes: usize,
    /// When this tournament last had an event, in [`FeedState`]'s count of applied events.
    active_at: u64,
}

impl Tournament {
    pub fn head(&self) -> Head {
        Head {
            seq: Seq(self.positions.len() as u64),
            stream_seq: self.positions.last().copied().unwrap_or(Seq(0)),
        }
    }

    /// The stream sequence of event `seq` (0: before the first).
    pub fn position_of(&self, seq: Seq) -> Option<Seq> {
        match seq.0 {
            0 => Some(Seq(0)),
            n => self.positions.get(n as usize - 1).copied(),
        }
    }

    /// The seq of the event stored at `stream_seq`.
    pub fn seq_at(&self, stream_seq: Seq) -> Option<Seq> {
        self.positions
            .binary_search(&stream_seq)
            .ok()
            .map(|i| Seq(i as u64 + 1))
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&self.latest).unwrap_or_default()
    }

    /// Keeps event `seq`'s message for resuming clients, dropping the oldest beyond
    /// [`RECENT_MESSAGES`]. A seq that does not follow the last kept one starts over, so what
    /// is kept is always consecutive.
    pub fn remember(&mut self, seq: Seq, message: Utf8Bytes) {
        if self.recent.is_empty() || self.recent_first + self.recent.len() as u64 != seq.0 {
            self.forget_recent();
            self.recent_first = seq.0;
        }
        self.recent_bytes += message.len();
        self.recent.push_back(message);
        while self.recent.len() > RECENT_MESSAGES || self.recent_bytes > RECENT_BYTES {
            let Some(oldest) = self.recent.pop_front() else {
                break;
            };
            self.recent_bytes -= oldest.len();
            self.recent_first += 1;
        }
    }

    fn forget_recent(&mut self) {
        self.recent.clear();
        self.recent_bytes = 0;
    }

    /// The messages of events `after + 1 ..= until`, if every one of them is kept.
    pub fn recent_between(&self, after: Seq, until: Seq) -> Option<Vec<Utf8Bytes>> {
        if until <= after {
            return Some(Vec::new());
        }
        let last = self.recent_first + self.recent.len() as u64;
        if self.recent.is_empty() || after.0 + 1 < self.recent_first || until.0 >= last {
            return None;
        }
        let from = (after.0 + 1 - self.recent_first) as usize;
        let to = (until.0 + 1 - self.recent_first) as usize;
        Some(self.recent.range(from..to).cloned().collect())
    }
}

/// What a STATE message carries, as leaf writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatePayload {
    pub seq: u64,
    pub ts: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
    /// The append's `Idempotency-Key`: in the log, so the key outlives JetStream's duplicate
    /// window and a rebuilt `leaf.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What applying one STATE message produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub tournament: TournamentId,
    pub event: Event,
    pub idempotency_key: Option<String>,
}

/// One event as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: u64,
    pub ts: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An AUDIT record; only creations change the projection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub action: String,
    pub actor: String,
    #[serde(default)]
    pub request_id: Option<String>,
    pub ts: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

pub const CREATED: &str = "tournament.created";

#[derive(Debug, Default)]
pub struct FeedState {
    pub tournaments: BTreeMap<TournamentId, Tournament>,
    /// The last stream sequence applied, per stream.
    pub state_pos: Seq,
    pub audit_pos: Seq,
    /// Events remembered so far: the clock of [`Tournament::active_at`].
    remembered: u64,
}

impl FeedState {
    /// Keeps event `seq`'s message for tournament `id`'s resuming clients. When that makes
    /// more than [`RECENT_TOURNAMENTS`] tournaments with kept messages, the one quiet for
    /// longest forgets its own.
    pub fn remember(&mut self, id: TournamentId, seq: Seq, message: Utf8Bytes) {
        self.remembered += 1;
        let Some(t) = self.tournaments.get_mut(&id) else {
            return;
        };
        let new_keeper = t.recent.is_empty();
        t.active_at = self.remembered;
        t.remember(seq, message);
        if !new_keeper {
            return;
        }
        let keepers = self.tournaments.values().filter(|t| !t.recent.is_empty());
        if keepers.count() > RECENT_TOURNAMENTS
            && let Some(quietest) = self
                .tournaments
                .values_mut()
                .filter(|t| !t.recent.is_empty())
                .min_by_key(|t| t.active_at)
        {
            quietest.forget_recent();
        }
    }

    /// Applies one STATE message; what it became.
    pub fn apply_state(&mut self, entry: &Entry) -> Option<Applied> {
        self.state_pos = self.state_pos.max(entry.stream_seq);
        let (tournament, kind) = parse_state_subject(&entry.subject)?;
        let t = self.tournaments.entry(tournament).or_default();
        if t.positions
            .last()
            .is_some_and(|last| *last >= entry.stream_seq)
        {
            return None; // already applied (a tail that restarted from an older position)
        }
        t.positions.push(entry.stream_seq);
        let seq = t.positions.len() as u64;
        let (ts, data, idempotency_key) =
            match serde_json::from_slice::<StatePayload>(&entry.payload) {
                Ok(p) => (p.ts, p.data, p.key),
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
        t.latest.insert(
            event.kind.clone(),
            Latest {
                seq,
                ts: event.ts.clone(),
                data: event.data.clone(),
            },
        );
        Some(Applied {
            tournament,
            event,
            idempotency_key,
        })
    }

    /// Applies one AUDIT message; a creation returns (tournament, name, created_at).
    pub fn apply_audit(&mut self, entry: &Entry) -> Option<(TournamentId, String, String)> {
        self.audit_pos = self.audit_pos.max(entry.stream_seq);
        let tournament = entry
            .subject
            .strip_prefix("tournament.")
            .and_then(|rest| rest.strip_suffix(".audit"))
            .and_then(|id| id.parse::<TournamentId>().ok())?;
        let record = serde_json::from_slice::<AuditRecord>(&entry.payload).ok()?;
        if record.action != CREATED {
            return None;
        }
        let t = self.tournaments.entry(tournament).or_default();
        if t.name.is_some() {
            return None;
        }
        let name = record.name.unwrap_or_default();
        t.name = Some((name.clone(), record.ts.clone()));
        Some((tournament, name, record.ts))
    }

    pub fn info(&self, id: TournamentId) -> Option<TournamentInfo> {
        let t = self.tournaments.get(&id)?;
        let (name, created_at) = t.name.clone()?;
        Some(TournamentInfo {
            id,
            name,
            created_at,
            last_seq: t.head().seq.0,
        })
    }

    /// Every created tournament, oldest first.
    pub fn list(&self) -> Vec<TournamentInfo> {
        let mut all: Vec<TournamentInfo> = self
            .tournaments
            .keys()
            .filter_map(|id| self.info(*id))
            .collect();
        all.sort_by(|a, b| (&a.created_at, a.id).cmp(&(&b.created_at, b.id)));
        all
    }
}

/// `tournament.{id}.state.{type}` → (id, type).
fn parse_state_subject(subject: &str) -> Option<(TournamentId, String)> {
    let mut parts = subject.split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("tournament"), Some(id), Some("state"), Some(kind), None) => {
            Some((id.parse().ok()?, kind.to_owned()))
        }
        _ => None,
    }
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
        let mut state = FeedState::default();
        let mut n = 0;
        for (t, kind) in [(a, "clock"), (b, "clock"), (a, "level"), (a, "clock")] {
            n += 1;
            let payload = serde_json::json!({"seq": 0, "ts": "t", "type": kind, "data": {"n": n}});
            state.apply_state(&entry(n, format!("tournament.{t}.state.{kind}"), payload));
        }
        let ta = &state.tournaments[&a];
        assert_eq!(
            ta.head(),
            Head {
                seq: Seq(3),
                stream_seq: Seq(4)
            }
        );
        assert_eq!(ta.position_of(Seq(2)), Some(Seq(3)));
        assert_eq!(ta.seq_at(Seq(4)), Some(Seq(3)));
        assert_eq!(ta.latest["clock"].data, serde_json::json!({"n": 4}));
        assert_eq!(state.tournaments[&b].head().seq, Seq(1));
    }

    #[test]
    fn a_replayed_entry_is_not_applied_twice() {
        let t = TournamentId::new_random();
        let mut state = FeedState::default();
        let e = entry(1, format!("tournament.{t}.state.x"), serde_json::json!({}));
        assert!(state.apply_state(&e).is_some());
        assert!(state.apply_state(&e).is_none());
        assert_eq!(state.tournaments[&t].head().seq, Seq(1));
    }

    #[test]
    fn creations_come_from_audit_records() {
        let t = TournamentId::new_random();
        let mut state = FeedState::default();
        let record = serde_json::json!({"action": CREATED, "actor": "td:alice", "ts": "2026-11-28T00:00:00Z", "name": "Main Event"});
        state.apply_audit(&entry(1, format!("tournament.{t}.audit"), record));
        let info = state.info(t).unwrap();
        assert_eq!((info.name.as_str(), info.last_seq), ("Main Event", 0));
        assert_eq!(state.list().len(), 1);
    }

    fn kept(t: &Tournament, after: u64, until: u64) -> Option<Vec<String>> {
        t.recent_between(Seq(after), Seq(until))
            .map(|m| m.iter().map(|m| m.as_str().to_owned()).collect())
    }

    #[test]
    fn recent_messages_are_served_only_when_every_one_is_kept() {
        let mut t = Tournament::default();
        assert_eq!(kept(&t, 0, 0), Some(vec![]));
        assert_eq!(kept(&t, 0, 1), None);
        for seq in 1..=5 {
            t.remember(Seq(seq), format!("m{seq}").into());
        }
        assert_eq!(kept(&t, 2, 4), Some(vec!["m3".into(), "m4".into()]));
        assert_eq!(kept(&t, 0, 5).map(|m| m.len()), Some(5));
        assert_eq!(kept(&t, 5, 5), Some(vec![]));
        // Beyond what was kept: not served from memory.
        assert_eq!(kept(&t, 4, 6), None);
    }

    #[test]
    fn big_messages_are_kept_only_up_to_the_byte_budget() {
        let mut t = Tournament::default();
        let big = "x".repeat(RECENT_BYTES / 4 + 1);
        for seq in 1..=8 {
            t.remember(Seq(seq), big.clone().into());
        }
        assert_eq!(kept(&t, 5, 8).map(|m| m.len()), Some(3));
        assert_eq!(kept(&t, 4, 8), None);
        // One message over the whole budget is not kept at all; the log serves it.
        t.remember(Seq(9), "y".repeat(RECENT_BYTES + 1).into());
        assert_eq!(kept(&t, 8, 9), None);
        t.remember(Seq(10), "z".into());
        assert_eq!(kept(&t, 9, 10), Some(vec!["z".into()]));
    }

    #[test]
    fn only_the_most_recently_active_tournaments_keep_messages() {
        let mut state = FeedState::default();
        let ids: Vec<TournamentId> = (0..=RECENT_TOURNAMENTS)
            .map(|_| TournamentId::new_random())
            .collect();
        for id in &ids {
            state.tournaments.insert(*id, Tournament::default());
        }
        // The first tournament is active, then quiet while every other one gets an event.
        state.remember(ids[0], Seq(1), "a1".into());
        state.remember(ids[1], Seq(1), "b1".into());
        state.remember(ids[0], Seq(2), "a2".into());
        for id in &ids[2..] {
            state.remember(*id, Seq(1), "m".into());
        }
        let kept_by = |id: &TournamentId| state.tournaments[id].recent_between(Seq(0), Seq(1));
        assert!(kept_by(&ids[1]).is_none(), "the quietest one forgot");
        assert!(kept_by(&ids[0]).is_some());
        assert!(ids[2..].iter().all(|id| kept_by(id).is_some()));
    }

    #[test]
    fn only_the_newest_are_kept_and_they_stay_consecutive() {
        let mut t = Tournament::default();
        let last = RECENT_MESSAGES as u64 + 10;
        for seq in 1..=last {
            t.remember(Seq(seq), format!("m{seq}").into());
        }
        assert_eq!(kept(&t, 9, last), None, "the oldest were dropped");
        let all = kept(&t, 10, last).unwrap();
        assert_eq!(all.len(), RECENT_MESSAGES);
        assert_eq!(all.first().map(String::as_str), Some("m11"));
        // A seq that does not follow starts over rather than leave a hole.
        t.remember(Seq(last + 2), "skip".into());
        assert_eq!(kept(&t, last, last + 2), None);
        assert_eq!(kept(&t, last + 1, last + 2), Some(vec!["skip".into()]));
    }
}
