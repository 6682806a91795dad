//! Invariant 5: leaf's projection in LibSQL equals a replay of the log.
//!
//! The replay runs the production feed over a copy of the log into a fresh in-memory
//! database. Mid-run, leaf's projection may trail the log, so it is compared with a replay of
//! exactly the prefix its own cursor says it has applied (each projector batch moves rows and
//! cursor in one transaction, so any moment is consistent); after the run, with a replay of
//! the whole log.

use std::sync::Arc;

use leaf::feed::{Feed, ReadBudget};
use leaf::hub::{ClientConfig, Hub};
use leaf::log::StreamName;
use leaf::store::{ProjectionDump, Store};

use crate::log::SimLog;

/// `Ok` with a one-line summary, or what differs.
pub async fn matches_replay(
    store: &Store,
    log: &SimLog,
    whole_log: bool,
) -> Result<String, String> {
    let actual = store
        .projection_dump()
        .await
        .map_err(|e| format!("cannot read leaf's projection: {e}"))?;
    let upto = |stream: StreamName, limit: u64| {
        let mut stored = log.stored(stream);
        if !whole_log {
            stored.truncate(limit as usize);
        }
        (stream, stored)
    };
    let prefix = SimLog::with_entries(&[
        upto(StreamName::Audit, actual.cursor.audit.0),
        upto(StreamName::State, actual.cursor.state.0),
    ]);
    let expected = replay(prefix).await?;
    if actual == expected {
        return Ok(format!(
            "{} tournaments, state through stream seq {}",
            actual.tournaments.len(),
            actual.cursor.state
        ));
    }
    Err(describe(&actual, &expected))
}

async fn replay(log: SimLog) -> Result<ProjectionDump, String> {
    let store = Store::open_in_memory()
        .await
        .map_err(|e| format!("replay database: {e}"))?;
    let hub = Hub::new("replay".into(), ClientConfig::default());
    let feed = Feed::start(Arc::new(log), hub, store.clone(), ReadBudget::default())
        .await
        .map_err(|e| format!("replay: {e}"))?;
    // Waits for the projector to write everything the replay applied.
    feed.shutdown().await;
    store
        .projection_dump()
        .await
        .map_err(|e| format!("replay dump: {e}"))
}

fn describe(actual: &ProjectionDump, expected: &ProjectionDump) -> String {
    let mut out = String::from("leaf's projection differs from a replay of the log:");
    if actual.cursor != expected.cursor {
        out += &format!(
            " cursor {:?} vs replay {:?};",
            actual.cursor, expected.cursor
        );
    }
    for (what, a, e) in [
        ("tournaments", &actual.tournaments, &expected.tournaments),
        ("heads", &actual.heads, &expected.heads),
        ("positions", &actual.positions, &expected.positions),
        ("state", &actual.state, &expected.state),
        (
            "idempotency keys",
            &actual.idempotency_keys,
            &expected.idempotency_keys,
        ),
    ] {
        let only_leaf: Vec<_> = a.iter().filter(|row| !e.contains(row)).take(3).collect();
        let only_replay: Vec<_> = e.iter().filter(|row| !a.contains(row)).take(3).collect();
        if !only_leaf.is_empty() || !only_replay.is_empty() {
            out += &format!(
                " {what}: only in leaf {only_leaf:?}, only in the replay {only_replay:?};"
            );
        }
    }
    out
}
