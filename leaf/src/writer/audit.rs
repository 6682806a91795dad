//! The audit trail of appends: one AUDIT record per event, `audit:{tournament}:{seq}`.
//!
//! An event carries its own audit facts (who, which request) in its STATE record, durable
//! with it. So the TD is answered as soon as the event is durable and applied, and its AUDIT
//! record is written right after, beside the next append rather than in front of it: one
//! fsync per append on the TD's path instead of two. If that record never reaches the log (a
//! crash in between, the log gone for a moment), [`repair`] writes it at the next start from
//! the event's own record, marked `recovered`. Both carry the same message id, so a repair
//! racing the original within JetStream's duplicate window stores one.

use crate::event::{MsgId, Seq, TournamentId};
use crate::feed::Feed;
use crate::log::record::{APPENDED, AuditRecord, StateRecord};
use crate::log::{EventLog, LogError, PublishOptions, Subject};

use super::json_bytes;

/// Events whose records one start repairs at most: a start must not turn into a rewrite of a
/// long history that never had audit records (another writer's events); the rest follow at
/// the next starts.
pub const MAX_REPAIRED: usize = 10_000;

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

/// Publishes `record`, the audit record of `tournament`'s event `seq`.
pub async fn publish(
    log: &dyn EventLog,
    tournament: TournamentId,
    seq: Seq,
    record: &AuditRecord,
) -> Result<(), LogError> {
    let options = PublishOptions {
        msg_id: MsgId::new(format!("audit:{tournament}:{seq}")).ok(),
        expect_last: None,
    };
    log.publish(Subject::Audit(tournament), json_bytes(record), options)
        .await
        .map(|_| ())
}

/// Writes the missing audit records of every event the feed has applied, up to
/// [`MAX_REPAIRED`]; returns how many it wrote. `now` stamps them.
pub async fn repair(
    log: &dyn EventLog,
    feed: &Feed,
    now: &(dyn Fn() -> String + Send + Sync),
) -> Result<usize, LogError> {
    let mut written = 0;
    for (tournament, missing) in feed.unaudited() {
        for range in missing {
            let mut since = range.start().prev();
            while since < *range.end() {
                let page = feed.numbered_entries(tournament, since, PAGE).await?;
                let Some((last, _)) = page.last() else { break };
                since = *last;
                for (seq, entry) in page.iter().filter(|(seq, _)| range.contains(seq)) {
                    if written == MAX_REPAIRED {
                        return Ok(written);
                    }
                    let record = recovered(entry, *seq, now());
                    publish(log, tournament, *seq, &record).await?;
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
