//! What the JetStream writers sent, and what a restarted server must still hold.
//!
//! Every message carries its own identity (writer, number, tournament) in its payload and a
//! `Nats-Msg-Id`, so the stored streams can be compared with what was acknowledged without
//! trusting anything the server says about itself.

use std::collections::{BTreeMap, HashMap};

use crate::findings::Findings;

use leaf::event::{Seq, TournamentId};
use leaf::log::{Entry, StreamName};
use serde::{Deserialize, Serialize};

/// The payload every writer publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub id: String,
    pub tournament: TournamentId,
    pub writer: usize,
    /// Counts up per writer; a writer publishes one message at a time and keeps each subject
    /// to itself, so within a subject the numbers must appear in increasing order.
    pub n: u64,
}

/// One message a writer sent at least once.
#[derive(Debug, Clone)]
struct Sent {
    subject: String,
    tournament: TournamentId,
    writer: usize,
    n: u64,
    /// Where the server said it stored the message; `None` while no publish was acknowledged.
    acked: Option<(StreamName, Seq)>,
}

/// One stream as read back after a restart.
#[derive(Debug, Clone)]
pub struct StreamContents {
    pub name: StreamName,
    /// Every stored message, in stream order.
    pub entries: Vec<Entry>,
    /// What the server reports: message count, first and last sequence.
    pub messages: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Debug, Default)]
pub struct StreamLedger {
    sent: HashMap<String, Sent>,
}

impl StreamLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a message before its first publish, so a crash mid-publish leaves it known.
    pub fn sending(&mut self, probe: &Probe, subject: &str) {
        self.sent.entry(probe.id.clone()).or_insert_with(|| Sent {
            subject: subject.to_owned(),
            tournament: probe.tournament,
            writer: probe.writer,
            n: probe.n,
            acked: None,
        });
    }

    /// Records the server's acknowledgement. A duplicate ack names the first copy's sequence.
    pub fn acked(&mut self, id: &str, stream: StreamName, seq: Seq) {
        if let Some(sent) = self.sent.get_mut(id) {
            sent.acked = Some((stream, seq));
        }
    }

    pub fn acked_count(&self) -> usize {
        self.sent.values().filter(|s| s.acked.is_some()).count()
    }

    pub fn sent_count(&self) -> usize {
        self.sent.len()
    }

    /// Compares the streams as the restarted server holds them with everything sent so far.
    pub fn check(&self, streams: &[StreamContents]) -> Findings {
        let mut findings = Findings::default();
        let mut copies: HashMap<&str, Vec<(StreamName, Seq)>> = HashMap::new();
        // subject -> (writer, n) in stream order
        let mut per_subject: BTreeMap<&str, Vec<(usize, u64)>> = BTreeMap::new();

        for stream in streams {
            check_stream_state(stream, &mut findings);
            for entry in &stream.entries {
                let Ok(probe) = serde_json::from_slice::<Probe>(&entry.payload) else {
                    findings.inconsistent.push(format!(
                        "{} seq {}: a payload no writer sent: {:?}",
                        stream.name,
                        entry.stream_seq.0,
                        String::from_utf8_lossy(&entry.payload)
                    ));
                    continue;
                };
                let Some(sent) = self.sent.get(&probe.id) else {
                    findings.inconsistent.push(format!(
                        "{} seq {}: message {} was never sent",
                        stream.name, entry.stream_seq.0, probe.id
                    ));
                    continue;
                };
                // Isolation: the message is where its writer put it, under its own tournament.
                let subject_tournament = tournament_of(&entry.subject);
                if entry.subject != sent.subject
                    || subject_tournament != Some(sent.tournament)
                    || probe.tournament != sent.tournament
                {
                    findings.leaked.insert(probe.id.clone());
                }
                copies
                    .entry(sent_key(&self.sent, &probe.id))
                    .or_default()
                    .push((stream.name, entry.stream_seq));
                per_subject
                    .entry(sent.subject.as_str())
                    .or_default()
                    .push((sent.writer, sent.n));
            }
        }

        for (id, sent) in &self.sent {
            let found = copies.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            if found.len() > 1 {
                findings.duplicated.insert(id.clone());
            }
            if let Some((stream, seq)) = sent.acked {
                if found.is_empty() {
                    findings.lost.insert(id.clone());
                } else if !found.contains(&(stream, seq)) {
                    findings.inconsistent.push(format!(
                        "{id}: acknowledged at {stream} seq {}, stored at {found:?}",
                        seq.0
                    ));
                }
            }
        }

        for (subject, order) in per_subject {
            // A repeat (equal numbers) is a duplicate, counted above; here only reordering.
            if let Some(pair) = order.windows(2).find(|w| w[1].1 < w[0].1) {
                findings.inconsistent.push(format!(
                    "{subject}: writer {} message {} stored after message {}",
                    pair[1].0, pair[1].1, pair[0].1
                ));
            }
        }
        findings
    }
}

/// The key under which `id` lives in the ledger, borrowed from the ledger itself so the map of
/// copies outlives the payloads it was built from.
fn sent_key<'a>(sent: &'a HashMap<String, Sent>, id: &str) -> &'a str {
    sent.get_key_value(id)
        .map(|(k, _)| k.as_str())
        .unwrap_or("")
}

/// Nothing is ever deleted from leaf's streams, so sequences run 1, 2, 3 … without a hole and
/// the server's own count must match what a full read returned.
fn check_stream_state(stream: &StreamContents, findings: &mut Findings) {
    let seqs: Vec<u64> = stream.entries.iter().map(|e| e.stream_seq.0).collect();
    if let Some(first) = seqs.first()
        && *first != 1
    {
        findings.inconsistent.push(format!(
            "{}: the first message has sequence {first}",
            stream.name
        ));
    }
    if let Some(at) = seqs.windows(2).position(|w| w[1] != w[0] + 1) {
        findings.inconsistent.push(format!(
            "{}: sequence {} follows {}",
            stream.name,
            seqs[at + 1],
            seqs[at]
        ));
    }
    if stream.messages != seqs.len() as u64 {
        findings.inconsistent.push(format!(
            "{}: the server counts {} messages, a full read returned {}",
            stream.name,
            stream.messages,
            seqs.len()
        ));
    }
    if let (Some(first), Some(last)) = (seqs.first(), seqs.last())
        && (*first != stream.first_seq || *last != stream.last_seq)
    {
        findings.inconsistent.push(format!(
            "{}: the server reports sequences {}..={}, a full read returned {first}..={last}",
            stream.name, stream.first_seq, stream.last_seq
        ));
    }
}

/// The tournament of a `tournament.<id>.…` subject.
pub fn tournament_of(subject: &str) -> Option<TournamentId> {
    subject.split('.').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::collections::BTreeSet;

    fn t(n: u128) -> TournamentId {
        TournamentId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn probe(writer: usize, n: u64, tournament: TournamentId) -> Probe {
        Probe {
            id: format!("w{writer}-{n}"),
            tournament,
            writer,
            n,
        }
    }

    fn entry(seq: u64, subject: &str, probe: &Probe) -> Entry {
        Entry {
            stream_seq: Seq(seq),
            subject: subject.to_owned(),
            payload: Bytes::from(serde_json::to_vec(probe).unwrap()),
        }
    }

    fn contents(entries: Vec<Entry>) -> Vec<StreamContents> {
        let last = entries.last().map_or(0, |e| e.stream_seq.0);
        vec![StreamContents {
            name: StreamName::Audit,
            messages: entries.len() as u64,
            first_seq: entries.first().map_or(0, |e| e.stream_seq.0),
            last_seq: last,
            entries,
        }]
    }

    fn audit(t: TournamentId) -> String {
        format!("tournament.{t}.audit")
    }

    #[test]
    fn every_acked_message_in_place_is_clean() {
        let mut ledger = StreamLedger::new();
        let (a, b) = (probe(0, 1, t(1)), probe(0, 2, t(1)));
        for (seq, p) in [(1, &a), (2, &b)] {
            ledger.sending(p, &audit(t(1)));
            ledger.acked(&p.id, StreamName::Audit, Seq(seq));
        }
        let findings = ledger.check(&contents(vec![
            entry(1, &audit(t(1)), &a),
            entry(2, &audit(t(1)), &b),
        ]));
        assert!(findings.lost.is_empty() && findings.duplicated.is_empty());
        assert!(findings.leaked.is_empty() && findings.inconsistent.is_empty());
    }

    #[test]
    fn a_missing_acked_message_is_lost_and_an_unacked_one_is_not() {
        let mut ledger = StreamLedger::new();
        let (a, b) = (probe(0, 1, t(1)), probe(0, 2, t(1)));
        ledger.sending(&a, &audit(t(1)));
        ledger.acked(&a.id, StreamName::Audit, Seq(1));
        ledger.sending(&b, &audit(t(1)));
        let findings = ledger.check(&contents(vec![]));
        assert_eq!(findings.lost, BTreeSet::from([a.id.clone()]));
    }

    #[test]
    fn two_copies_are_a_duplicate_even_when_unacked() {
        let mut ledger = StreamLedger::new();
        let a = probe(0, 1, t(1));
        ledger.sending(&a, &audit(t(1)));
        let findings = ledger.check(&contents(vec![
            entry(1, &audit(t(1)), &a),
            entry(2, &audit(t(1)), &a),
        ]));
        assert_eq!(findings.duplicated, BTreeSet::from([a.id.clone()]));
    }

    #[test]
    fn a_message_under_another_tournament_is_leaked() {
        let mut ledger = StreamLedger::new();
        let a = probe(0, 1, t(1));
        ledger.sending(&a, &audit(t(1)));
        let findings = ledger.check(&contents(vec![entry(1, &audit(t(2)), &a)]));
        assert_eq!(findings.leaked, BTreeSet::from([a.id.clone()]));
    }

    #[test]
    fn reordering_holes_and_moved_messages_are_inconsistent() {
        let mut ledger = StreamLedger::new();
        let (a, b) = (probe(0, 1, t(1)), probe(0, 2, t(1)));
        ledger.sending(&a, &audit(t(1)));
        ledger.sending(&b, &audit(t(1)));
        ledger.acked(&a.id, StreamName::Audit, Seq(1));
        let findings = ledger.check(&contents(vec![
            entry(2, &audit(t(1)), &b),
            entry(4, &audit(t(1)), &a),
        ]));
        let text = findings.inconsistent.join("\n");
        assert!(text.contains("stored after"), "{text}");
        assert!(text.contains("sequence 4 follows 2"), "{text}");
        assert!(text.contains("the first message has sequence 2"), "{text}");
        assert!(text.contains("acknowledged at AUDIT seq 1"), "{text}");
    }
}
