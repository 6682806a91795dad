//! The audit trail of appends: one AUDIT record per event, `audit:{tournament}:{seq}`.
//!
//! An event carries its own audit facts (who, which request) in its STATE record, durable
//! with it. So the TD is answered as soon as the event is durable and applied, and its AUDIT
//! record is written right after, beside the next append rather than in front of it: one
//! fsync per append on the TD's path instead of two. If that record never reaches the log (a
//! crash in between, the log gone for a moment), [`repair`] writes it at the next start from
//! the event's own record, marked `recovered`, once the start is done: it runs beside the
//! first requests. Both carry the same message id, so a repair racing the original within
//! JetStream's duplicate window stores one.
//!
//! Records are written in the order appends finish, which is not always seq order: a reader
//! of the AUDIT stream orders by `seq`.

use std::ops::RangeInclusive;

use crate::event::{MsgId, Seq, TournamentId};
use crate::feed::Feed;
use crate::log::record::{APPENDED, AuditRecord, StateRecord};
use crate::log::{EventLog, LogError, PublishOptions, StreamName, Subject};

use super::json_bytes;

/// Events whose records one start repairs at most: a start must not turn into a rewrite of a
/// long history that never had audit records (another writer's events); the rest follow at
/// the next starts.
pub const MAX_REPAIRED: usize = 10_000;

/// How long a record must stay missing before a start writes it: far longer than an append
/// takes to write its own (three attempts), on this leaf or another writer of the log.
pub const AUDIT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Records read from the log per request while repairing.
const PAGE: usize = 500;

/// The AUDIT record of event `seq`, appended by `actor` (with `request_id`) at `ts`.
pub fn appended(
    kind: &str,
    seq: Seq,
    actor: String,
    request_id: Option<String>,
    ts: String,
) -> AuditRecord {
    AuditRecord {
        action: APPENDED.into(),
        actor,
        request_id,
        ts,
        name: None,
        event_type: Some(kind.to_owned()),
        seq: Some(seq),
        recovered: false,
    }
}

/// Publishes `record`, the audit record of `tournament`'s event `seq`; `false` if the log
/// already had one with its id.
pub async fn publish(
    log: &dyn EventLog,
    tournament: TournamentId,
    seq: Seq,
    record: &AuditRecord,
) -> Result<bool, LogError> {
    let options = PublishOptions {
        msg_id: MsgId::new(format!("audit:{tournament}:{seq}")).ok(),
        expect_last: None,
    };
    log.publish(Subject::Audit(tournament), json_bytes(record), options)
        .await
        .map(|ack| !ack.duplicate)
}

/// Writes the missing audit records of the events the log held at the start, up to
/// [`MAX_REPAIRED`]; returns how many the log stored. `now` stamps them.
///
/// A record only counts as missing if it is still missing `grace` after the feed has applied
/// the whole AUDIT stream: another writer on the same log may have stored an event whose own
/// record is on its way, and a repair must not take that record's place (or, past the
/// duplicate window, add a second one). Events appended after the first look are never
/// touched: their writer is this leaf, running.
pub async fn repair(
    log: &dyn EventLog,
    feed: &Feed,
    grace: std::time::Duration,
    now: &(dyn Fn() -> String + Send + Sync),
) -> Result<usize, LogError> {
    let first = settled(log, feed).await?;
    if first.is_empty() {
        return Ok(0);
    }
    tokio::time::sleep(grace).await;
    let again = settled(log, feed).await?;
    let mut written = 0;
    for (tournament, missing) in still_missing(&first, &again) {
        if written == MAX_REPAIRED {
            break;
        }
        // One tournament's trouble (a limit on its subject, a permission) is logged and
        // leaves the others to be repaired.
        match repair_one(log, feed, tournament, &missing, MAX_REPAIRED - written, now).await {
            Ok(n) => written += n,
            Err(e) => {
                tracing::error!(%tournament, error = %e, "cannot write this tournament's missing audit records; the next start tries again")
            }
        }
    }
    Ok(written)
}

/// The missing records once the feed has applied the AUDIT stream up to its current end,
/// for created tournaments only (messages of a tournament leaf never created are not one of
/// its tournaments, and get no records in its name).
async fn settled(log: &dyn EventLog, feed: &Feed) -> Result<Vec<Missing>, LogError> {
    let end = log.last_seq(StreamName::Audit).await?;
    if !feed.wait_applied(StreamName::Audit, end).await {
        return Err(LogError::Unavailable(
            "the feed has not applied the AUDIT stream yet".into(),
        ));
    }
    Ok(feed
        .unaudited()
        .into_iter()
        .filter(|(t, _)| feed.summary(*t).is_some())
        .collect())
}

/// A tournament and the runs of its events without a record.
type Missing = (TournamentId, Vec<RangeInclusive<Seq>>);

/// The seqs missing in both looks.
fn still_missing(first: &[Missing], again: &[Missing]) -> Vec<Missing> {
    first
        .iter()
        .filter_map(|(t, runs)| {
            let later = &again.iter().find(|(u, _)| u == t)?.1;
            let both: Vec<RangeInclusive<Seq>> = runs
                .iter()
                .flat_map(|a| {
                    later.iter().filter_map(move |b| {
                        let (start, end) = ((*a.start()).max(*b.start()), (*a.end()).min(*b.end()));
                        (start <= end).then_some(start..=end)
                    })
                })
                .collect();
            (!both.is_empty()).then_some((*t, both))
        })
        .collect()
}

/// Writes `tournament`'s missing records, at most `budget`; how many the log stored.
async fn repair_one(
    log: &dyn EventLog,
    feed: &Feed,
    tournament: TournamentId,
    missing: &[RangeInclusive<Seq>],
    budget: usize,
    now: &(dyn Fn() -> String + Send + Sync),
) -> Result<usize, LogError> {
    let mut written = 0;
    for range in missing {
        let mut since = range.start().prev();
        while since < *range.end() {
            // Only the run itself: a one-event gap reads one event, not a page.
            let want = (range.end().since(since) as usize).clamp(1, PAGE);
            let page = feed.numbered_entries(tournament, since, want).await?;
            let Some((last, _)) = page.last() else { break };
            since = *last;
            for (seq, entry) in page.iter().filter(|(seq, _)| range.contains(seq)) {
                if written == budget {
                    return Ok(written);
                }
                let record = recovered(entry, *seq, now());
                if publish(log, tournament, *seq, &record).await? {
                    written += 1;
                }
            }
        }
    }
    Ok(written)
}

/// The audit record of the event stored in `entry`, written at recovery from what the event
/// says of itself; an event without those facts (another writer's) is by `unknown`.
fn recovered(entry: &crate::log::Entry, seq: Seq, ts: String) -> AuditRecord {
    let kind = entry.subject.rsplit('.').next().unwrap_or_default();
    let (actor, request_id) = match serde_json::from_slice::<StateRecord>(&entry.payload) {
        Ok(record) => (record.actor, record.request_id),
        Err(_) => (None, None),
    };
    AuditRecord {
        recovered: true,
        ..appended(
            kind,
            seq,
            actor.unwrap_or_else(|| "unknown".into()),
            request_id,
            ts,
        )
    }
}
