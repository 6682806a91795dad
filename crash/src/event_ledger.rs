//! What leaf answered 201 to, and how the log, the projection and the displays must agree
//! with it after every crash.

use std::collections::{BTreeMap, HashMap};

use leaf::event::TournamentId;
use leaf::log::record::StateRecord;
use serde_json::Value;

use crate::display::Seen;
use crate::findings::Findings;
use crate::projection_probe::Projection;

/// leaf's answer to one append.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub seq: u64,
    pub kind: String,
    pub data: Value,
}

/// One tournament's STATE messages as the log holds them, in stream order.
pub type TournamentLog = Vec<StateRecord>;

#[derive(Debug, Default)]
pub struct EventLedger {
    answered: HashMap<(TournamentId, String), Answer>,
    problems: Vec<String>,
}

impl EventLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// A 201. The same key answered twice must name the same event both times.
    pub fn answered(&mut self, tournament: TournamentId, key: &str, answer: Answer) {
        match self.answered.get(&(tournament, key.to_owned())) {
            Some(first) if first.seq != answer.seq => self.problems.push(format!(
                "key {key} of {tournament}: answered seq {} and later seq {}",
                first.seq, answer.seq
            )),
            Some(_) => {}
            None => {
                self.answered.insert((tournament, key.to_owned()), answer);
            }
        }
    }

    /// Something the harness saw that must not happen (an unexpected status, say).
    pub fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    pub fn acked_count(&self) -> usize {
        self.answered.len()
    }

    /// Every 201 is in the log at its seq with its data; per-tournament seqs run 1, 2, 3 …;
    /// no key is stored twice; no key turns up under another tournament.
    pub fn check_log(&self, logs: &BTreeMap<TournamentId, TournamentLog>) -> Findings {
        let mut findings = Findings::problems(self.problems.clone());
        let mut where_is: HashMap<&str, Vec<(TournamentId, &StateRecord)>> = HashMap::new();
        for (tournament, log) in logs {
            for (i, event) in log.iter().enumerate() {
                if event.seq.0 != i as u64 + 1 {
                    findings.inconsistent.push(format!(
                        "{tournament}: event #{} of the log has seq {}",
                        i + 1,
                        event.seq
                    ));
                    break;
                }
            }
            for event in log {
                if let Some(key) = &event.key {
                    where_is
                        .entry(key.as_str())
                        .or_default()
                        .push((*tournament, event));
                }
            }
        }
        for (key, copies) in &where_is {
            let mut per_tournament: HashMap<TournamentId, usize> = HashMap::new();
            for (t, _) in copies {
                *per_tournament.entry(*t).or_default() += 1;
            }
            if per_tournament.values().any(|n| *n > 1) {
                findings.duplicated.insert((*key).to_owned());
            }
        }
        for ((tournament, key), answer) in &self.answered {
            let copies = where_is.get(key.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            if copies.iter().any(|(t, _)| t != tournament) {
                findings.leaked.insert(key.clone());
            }
            match copies.iter().find(|(t, _)| t == tournament) {
                None => {
                    findings.lost.insert(key.clone());
                }
                Some((_, event)) => {
                    if event.seq.0 != answer.seq
                        || event.kind != answer.kind
                        || event.data != answer.data
                    {
                        findings.inconsistent.push(format!(
                            "{key}: answered seq {} {} {}, logged seq {} {} {}",
                            answer.seq, answer.kind, answer.data, event.seq, event.kind, event.data
                        ));
                    }
                }
            }
        }
        findings
    }

    /// The projection in leaf.db is a replay of a prefix of the log: its last seq is one the
    /// log has, its latest event per type is the log's, and every 201 at or below its last
    /// seq has its idempotency key there. With `complete`, the prefix must be the whole log:
    /// every 201 is in it. Returns the findings and how many 201s the projection held.
    pub fn check_projection(
        &self,
        projection: &Projection,
        logs: &BTreeMap<TournamentId, TournamentLog>,
        complete: bool,
    ) -> (Findings, usize) {
        let mut findings = Findings::default();
        let mut covered = 0;
        for (tournament, log) in logs {
            let head = log.len() as u64;
            let projected = projection.last_seq.get(tournament).copied().unwrap_or(0);
            if projected > head {
                findings.inconsistent.push(format!(
                    "projection of {tournament} is at seq {projected}, the log ends at {head}"
                ));
                continue;
            }
            if complete && projected != head {
                findings.inconsistent.push(format!(
                    "projection of {tournament} is at seq {projected}, the log at {head}"
                ));
            }
            let mut latest: BTreeMap<&str, &StateRecord> = BTreeMap::new();
            for event in log.iter().take(projected as usize) {
                latest.insert(event.kind.as_str(), event);
            }
            for (kind, event) in &latest {
                match projection.latest.get(&(*tournament, (*kind).to_owned())) {
                    Some((seq, data)) if *seq == event.seq.0 && *data == event.data => {}
                    other => findings.inconsistent.push(format!(
                        "projection of {tournament}: latest {kind} is {other:?}, the log says seq {} {}",
                        event.seq, event.data
                    )),
                }
            }
            let projected_kinds = projection
                .latest
                .keys()
                .filter(|(t, _)| t == tournament)
                .count();
            if projected_kinds != latest.len() {
                findings.inconsistent.push(format!(
                    "projection of {tournament} holds {projected_kinds} event types, the log up to seq {projected} has {}",
                    latest.len()
                ));
            }
            for ((t, key), answer) in &self.answered {
                if t != tournament || answer.seq > projected {
                    continue;
                }
                match projection.keys.get(&(*t, key.clone())) {
                    Some(seq) if *seq == answer.seq => covered += 1,
                    Some(seq) => findings.inconsistent.push(format!(
                        "projection: key {key} at seq {seq}, answered {}",
                        answer.seq
                    )),
                    None => {
                        findings.lost.insert(key.clone());
                    }
                }
            }
        }
        (findings, covered)
    }

    /// Each display saw the events of its own tournament, exactly as logged, from where it
    /// started up to `caught_up_to`, with nothing missing in between.
    pub fn check_display(
        id: usize,
        tournament: TournamentId,
        seen: &Seen,
        log: &TournamentLog,
    ) -> Findings {
        let mut findings = Findings::problems(seen.problems.clone());
        for n in 0..seen.leaked {
            findings.leaked.insert(format!("display {id} leak #{n}"));
        }
        for n in 0..seen.duplicated {
            findings
                .duplicated
                .insert(format!("display {id} repeat #{n}"));
        }
        let head = log.len() as u64;
        if seen.last != Some(head) {
            findings.inconsistent.push(format!(
                "display {id} of {tournament} is at {:?}, the log at {head}",
                seen.last
            ));
        }
        let first = seen.events.keys().next().copied().unwrap_or(head + 1);
        for seq in first..=seen.last.unwrap_or(0) {
            let Some((kind, data)) = seen.events.get(&seq) else {
                findings
                    .inconsistent
                    .push(format!("display {id} never showed seq {seq}"));
                continue;
            };
            match log.get(seq as usize - 1) {
                Some(event) if event.kind == *kind && event.data == *data => {}
                other => findings.inconsistent.push(format!(
                    "display {id} showed seq {seq} as {kind} {data}, the log has {other:?}"
                )),
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(n: u128) -> TournamentId {
        TournamentId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn logged(seq: u64, kind: &str, key: &str) -> StateRecord {
        StateRecord {
            seq: leaf::event::Seq(seq),
            ts: "2026-11-30T00:00:00.000Z".into(),
            kind: kind.into(),
            data: json!({"n": seq}),
            key: Some(key.into()),
            actor: None,
            request_id: None,
        }
    }

    fn answer(seq: u64, kind: &str) -> Answer {
        Answer {
            seq,
            kind: kind.into(),
            data: json!({"n": seq}),
        }
    }

    #[test]
    fn the_log_must_hold_every_answer_once_in_its_own_tournament() {
        let mut ledger = EventLedger::new();
        ledger.answered(t(1), "a", answer(1, "x"));
        ledger.answered(t(1), "b", answer(2, "x"));
        ledger.answered(t(2), "c", answer(1, "x"));
        let logs = BTreeMap::from([
            (t(1), vec![logged(1, "x", "a"), logged(2, "x", "a")]),
            (t(2), vec![logged(1, "x", "b")]),
        ]);
        let findings = ledger.check_log(&logs);
        assert!(findings.duplicated.contains("a"), "{findings:?}");
        assert!(findings.lost.contains("c"), "{findings:?}");
        assert!(findings.leaked.contains("b"), "{findings:?}");
    }

    #[test]
    fn a_key_answered_with_two_seqs_is_a_problem() {
        let mut ledger = EventLedger::new();
        ledger.answered(t(1), "a", answer(1, "x"));
        ledger.answered(t(1), "a", answer(2, "x"));
        let findings = ledger.check_log(&BTreeMap::new());
        assert_eq!(findings.inconsistent.len(), 1);
    }

    #[test]
    fn a_projection_prefix_is_fine_and_one_ahead_of_the_log_is_not() {
        let mut ledger = EventLedger::new();
        ledger.answered(t(1), "a", answer(1, "x"));
        ledger.answered(t(1), "b", answer(2, "x"));
        let logs = BTreeMap::from([(t(1), vec![logged(1, "x", "a"), logged(2, "x", "b")])]);
        let mut projection = Projection::default();
        projection.last_seq.insert(t(1), 1);
        projection
            .latest
            .insert((t(1), "x".into()), (1, json!({"n": 1})));
        projection.keys.insert((t(1), "a".into()), 1);
        let (findings, covered) = ledger.check_projection(&projection, &logs, false);
        assert!(findings.is_clean(), "{}", findings.describe());
        assert_eq!(covered, 1);
        let (findings, _) = ledger.check_projection(&projection, &logs, true);
        assert!(
            findings.describe().contains("the log at 2"),
            "{}",
            findings.describe()
        );
        projection.last_seq.insert(t(1), 3);
        let (findings, _) = ledger.check_projection(&projection, &logs, false);
        assert!(findings.describe().contains("the log ends at 2"));
    }

    #[test]
    fn a_projection_missing_a_key_or_with_stale_data_is_caught() {
        let mut ledger = EventLedger::new();
        ledger.answered(t(1), "a", answer(1, "x"));
        ledger.answered(t(1), "b", answer(2, "x"));
        let logs = BTreeMap::from([(t(1), vec![logged(1, "x", "a"), logged(2, "x", "b")])]);
        let mut projection = Projection::default();
        projection.last_seq.insert(t(1), 2);
        projection
            .latest
            .insert((t(1), "x".into()), (1, json!({"n": 1})));
        projection.keys.insert((t(1), "a".into()), 1);
        let (findings, covered) = ledger.check_projection(&projection, &logs, true);
        assert_eq!(covered, 1);
        assert!(findings.lost.contains("b"));
        assert!(
            findings.describe().contains("latest x"),
            "{}",
            findings.describe()
        );
    }

    #[test]
    fn a_display_must_reach_the_head_without_holes() {
        let log = vec![
            logged(1, "x", "a"),
            logged(2, "x", "b"),
            logged(3, "x", "c"),
        ];
        let mut seen = Seen {
            last: Some(3),
            ..Seen::default()
        };
        seen.events.insert(1, ("x".into(), json!({"n": 1})));
        seen.events.insert(3, ("x".into(), json!({"n": 3})));
        let findings = EventLedger::check_display(0, t(1), &seen, &log);
        assert!(findings.describe().contains("never showed seq 2"));
        seen.events.insert(2, ("x".into(), json!({"n": 2})));
        assert!(EventLedger::check_display(0, t(1), &seen, &log).is_clean());
    }
}
