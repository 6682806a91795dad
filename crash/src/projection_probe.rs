//! Reads leaf's projection straight from `leaf.db`, read-only, so the database is seen
//! exactly as leaf left it (after a kill) or as leaf is writing it (while it runs): opening it
//! through `Store` would run migrations and set pragmas first. SQLite's WAL mode lets this
//! reader run beside leaf's writer.
//!
//! The queries name leaf's projection tables (see leaf/src/store/projection.rs); a schema
//! change there shows up here as a clear error, not as a silent pass.

use std::collections::HashMap;
use std::path::Path;

use leaf::event::TournamentId;
use serde_json::Value;

use crate::HarnessError;

/// The projection, typed.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    /// Each tournament's last applied seq.
    pub last_seq: HashMap<TournamentId, u64>,
    /// The latest event per (tournament, type): its seq and data.
    pub latest: HashMap<(TournamentId, String), (u64, Value)>,
    /// Idempotency key → the seq its append was answered with.
    pub keys: HashMap<(TournamentId, String), u64>,
}

pub async fn read(db_path: &Path) -> Result<Projection, HarnessError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        HarnessError::Projection(format!("{}: {what}: {e}", db_path.display()))
    };
    let db = libsql::Builder::new_local(db_path)
        .flags(libsql::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .build()
        .await
        .map_err(|e| fail("opening read-only", &e))?;
    let conn = db.connect().map_err(|e| fail("connecting", &e))?;
    // One read transaction: the three tables as of one commit of leaf's projector.
    conn.execute("BEGIN", ())
        .await
        .map_err(|e| fail("BEGIN", &e))?;
    let mut projection = Projection::default();

    let mut rows = conn
        .query(
            "SELECT t.id, coalesce(h.last_seq, 0)
             FROM tournaments t LEFT JOIN tournament_heads h ON h.tournament_id = t.id",
            (),
        )
        .await
        .map_err(|e| fail("tournaments", &e))?;
    while let Some(row) = rows.next().await.map_err(|e| fail("tournaments", &e))? {
        let id = tournament(
            &row.get::<String>(0)
                .map_err(|e| fail("tournaments.id", &e))?,
        )?;
        let seq = row
            .get::<i64>(1)
            .map_err(|e| fail("tournament_heads.last_seq", &e))?;
        projection.last_seq.insert(id, seq.max(0) as u64);
    }

    let mut rows = conn
        .query(
            "SELECT tournament_id, type, seq, data FROM tournament_state",
            (),
        )
        .await
        .map_err(|e| fail("tournament_state", &e))?;
    while let Some(row) = rows
        .next()
        .await
        .map_err(|e| fail("tournament_state", &e))?
    {
        let id = tournament(
            &row.get::<String>(0)
                .map_err(|e| fail("tournament_id", &e))?,
        )?;
        let kind = row.get::<String>(1).map_err(|e| fail("type", &e))?;
        let seq = row.get::<i64>(2).map_err(|e| fail("seq", &e))?;
        let data = row.get::<String>(3).map_err(|e| fail("data", &e))?;
        let data: Value = serde_json::from_str(&data).map_err(|e| fail("data is not JSON", &e))?;
        projection
            .latest
            .insert((id, kind), (seq.max(0) as u64, data));
    }

    let mut rows = conn
        .query("SELECT tournament_id, key, seq FROM idempotency_keys", ())
        .await
        .map_err(|e| fail("idempotency_keys", &e))?;
    while let Some(row) = rows
        .next()
        .await
        .map_err(|e| fail("idempotency_keys", &e))?
    {
        let id = tournament(
            &row.get::<String>(0)
                .map_err(|e| fail("tournament_id", &e))?,
        )?;
        let key = row.get::<String>(1).map_err(|e| fail("key", &e))?;
        let seq = row.get::<i64>(2).map_err(|e| fail("seq", &e))?;
        projection.keys.insert((id, key), seq.max(0) as u64);
    }
    let _ = conn.execute("COMMIT", ()).await;
    Ok(projection)
}

fn tournament(text: &str) -> Result<TournamentId, HarnessError> {
    text.parse()
        .map_err(|e| HarnessError::Projection(format!("a projection row names {text:?}: {e}")))
}
