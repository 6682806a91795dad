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
/// At a few hundred bytes a message, under 100 KiB per tournament.
pub const RECENT_MESSAGES: usize = 256;

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
            self.recent.clear();
            self.recent_first = seq.0;
        }
        self.recent.push_back(message);
        if self.recent.len() > RECENT_MESSAGES {
            self.recent.pop_front();
            self.recent_first += 1;
        }
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
}

impl FeedState {
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
