//! The projection tables: tournaments, their heads and audit marks, every event's position,
//! the latest data per event type, the cursor, and idempotency keys. Written in batches, one
//! transaction each, by the feed's projector; read back at a start as its checkpoint
//! ([`super::checkpoint`]).

use std::collections::HashMap;

use super::{Store, StoreError};
use crate::event::{Seq, TournamentId};

/// One change derived from one log message.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectionUpdate {
    Created {
        tournament: TournamentId,
        name: String,
        created_at: String,
        audit_seq: Seq,
    },
    Event {
        tournament: TournamentId,
        seq: Seq,
        stream_seq: Seq,
        kind: String,
        ts: String,
        data: String,
        idempotency_key: Option<String>,
    },
    /// Which of a tournament's events have their AUDIT record, after the record at
    /// `audit_seq`: all up to `through`, and those in `above`.
    Audited {
        tournament: TournamentId,
        through: Seq,
        above: Vec<Seq>,
        audit_seq: Seq,
    },
}

/// How far the projection has applied each stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub state: Seq,
    pub audit: Seq,
}

/// A row of the projection's `tournaments` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TournamentRow {
    pub name: String,
    pub last_seq: Seq,
    pub last_stream_seq: Seq,
}

/// Everything the projection holds, in a fixed order and as text, so two projections can be
/// compared (leaf-sim compares leaf's with a fresh replay of the log) and a difference read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionDump {
    pub cursor: Cursor,
    /// `id name created_at`, by id.
    pub tournaments: Vec<String>,
    /// `id last_seq last_stream_seq audited_through audited_above`, by id.
    pub heads: Vec<String>,
    /// `id seq stream_seq`, by id and seq.
    pub positions: Vec<String>,
    /// `tournament type seq ts data`, by tournament and type.
    pub state: Vec<String>,
    /// `tournament key seq ts`, by tournament and key.
    pub idempotency_keys: Vec<String>,
}

impl Store {
    /// The whole projection; see [`ProjectionDump`].
    pub async fn projection_dump(&self) -> Result<ProjectionDump, StoreError> {
        let cursor = self.projection_cursor().await?;
        self.call(move |conn| async move {
            async fn rows(conn: &libsql::Connection, sql: &str) -> Result<Vec<String>, StoreError> {
                let mut rows = conn.query(sql, ()).await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    let fields = (0..row.column_count())
                        .map(|i| match row.get_value(i) {
                            Ok(libsql::Value::Text(text)) => text,
                            Ok(libsql::Value::Integer(n)) => n.to_string(),
                            Ok(other) => format!("{other:?}"),
                            Err(e) => format!("<{e}>"),
                        })
                        .collect::<Vec<_>>();
                    out.push(fields.join(" "));
                }
                Ok(out)
            }
            Ok(ProjectionDump {
                cursor,
                tournaments: rows(
                    &conn,
                    "SELECT id, name, created_at FROM tournaments ORDER BY id",
                )
                .await?,
                heads: rows(
                    &conn,
                    "SELECT tournament_id, last_seq, last_stream_seq, audited_through, audited_above
                     FROM tournament_heads ORDER BY tournament_id",
                )
                .await?,
                positions: rows(
                    &conn,
                    "SELECT h.tournament_id, p.seq, p.stream_seq
                     FROM event_positions p JOIN tournament_heads h ON h.key = p.tournament
                     ORDER BY h.tournament_id, p.seq",
                )
                .await?,
                state: rows(
                    &conn,
                    "SELECT tournament_id, type, seq, ts, data FROM tournament_state ORDER BY tournament_id, type",
                )
                .await?,
                idempotency_keys: rows(
                    &conn,
                    "SELECT tournament_id, key, seq, ts FROM idempotency_keys ORDER BY tournament_id, key",
                )
                .await?,
            })
        })
        .await
    }

    pub async fn projection_cursor(&self) -> Result<Cursor, StoreError> {
        self.call(|conn| async move { read_cursor(&conn).await })
            .await
    }

    /// Applies a batch in one transaction and moves the cursor past it.
    pub async fn apply_projection(&self, updates: Vec<ProjectionUpdate>) -> Result<(), StoreError> {
        self.call(move |conn| async move {
            let tx = conn
                .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
                .await?;
            let mut cursor = Cursor::default();
            let mut keys = HeadKeys::default();
            // Each mark carries a tournament's whole audit state: only its last in the batch
            // is written.
            let last_marks: HashMap<TournamentId, usize> = updates
                .iter()
                .enumerate()
                .filter_map(|(i, update)| match update {
                    ProjectionUpdate::Audited { tournament, .. } => Some((*tournament, i)),
                    _ => None,
                })
                .collect();
            for (i, update) in updates.into_iter().enumerate() {
                match update {
                    ProjectionUpdate::Created { tournament, name, created_at, audit_seq } => {
                        tx.execute(
                            "INSERT INTO tournaments (id, name, created_at) VALUES (?1, ?2, ?3)
                             ON CONFLICT (id) DO NOTHING",
                            libsql::params![tournament.to_string(), name, created_at],
                        )
                        .await?;
                        cursor.audit = cursor.audit.max(audit_seq);
                    }
                    ProjectionUpdate::Event { tournament, seq, stream_seq, kind, ts, data, idempotency_key } => {
                        let id = tournament.to_string();
                        if let Some(key) = idempotency_key {
                            tx.execute(
                                "INSERT INTO idempotency_keys (tournament_id, key, seq, ts) VALUES (?1, ?2, ?3, ?4)
                                 ON CONFLICT (tournament_id, key) DO NOTHING",
                                libsql::params![id.clone(), key, seq.0 as i64, ts.clone()],
                            )
                            .await?;
                        }
                        let head = keys.of(&tx, tournament).await?;
                        tx.execute(
                            "UPDATE tournament_heads SET last_seq = ?2, last_stream_seq = ?3 WHERE key = ?1 AND last_seq < ?2",
                            libsql::params![head, seq.0 as i64, stream_seq.0 as i64],
                        )
                        .await?;
                        tx.execute(
                            "INSERT INTO event_positions (tournament, seq, stream_seq) VALUES (?1, ?2, ?3)
                             ON CONFLICT (tournament, seq) DO NOTHING",
                            libsql::params![head, seq.0 as i64, stream_seq.0 as i64],
                        )
                        .await?;
                        tx.execute(
                            "INSERT INTO tournament_state (tournament_id, type, seq, ts, data) VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (tournament_id, type) DO UPDATE SET seq = excluded.seq, ts = excluded.ts, data = excluded.data
                             WHERE excluded.seq > tournament_state.seq",
                            libsql::params![id, kind, seq.0 as i64, ts, data],
                        )
                        .await?;
                        cursor.state = cursor.state.max(stream_seq);
                    }
                    ProjectionUpdate::Audited { tournament, through, above, audit_seq } => {
                        cursor.audit = cursor.audit.max(audit_seq);
                        if last_marks.get(&tournament) != Some(&i) {
                            continue;
                        }
                        let head = keys.of(&tx, tournament).await?;
                        tx.execute(
                            "UPDATE tournament_heads SET audited_through = ?2, audited_above = ?3 WHERE key = ?1",
                            libsql::params![head, through.0 as i64, seqs_text(&above)],
                        )
                        .await?;
                        cursor.audit = cursor.audit.max(audit_seq);
                    }
                }
            }
            for (stream, seq) in [("STATE", cursor.state), ("AUDIT", cursor.audit)] {
                if seq.0 > 0 {
                    tx.execute(
                        "INSERT INTO projection_cursor (stream, last_stream_seq) VALUES (?1, ?2)
                         ON CONFLICT (stream) DO UPDATE SET last_stream_seq = max(last_stream_seq, excluded.last_stream_seq)",
                        libsql::params![stream, seq.0 as i64],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Empties the projection, for a rebuild from the log.
    pub async fn reset_projection(&self) -> Result<(), StoreError> {
        self.call(|conn| async move {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 DELETE FROM tournament_state;
                 DELETE FROM idempotency_keys;
                 DELETE FROM projection_cursor;
                 DELETE FROM tournaments;
                 DELETE FROM event_positions;
                 DELETE FROM tournament_heads;
                 COMMIT;",
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn tournament_row(
        &self,
        id: TournamentId,
    ) -> Result<Option<TournamentRow>, StoreError> {
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT t.name, coalesce(h.last_seq, 0), coalesce(h.last_stream_seq, 0)
                     FROM tournaments t LEFT JOIN tournament_heads h ON h.tournament_id = t.id
                     WHERE t.id = ?1",
                    libsql::params![id.to_string()],
                )
                .await?;
            let Some(row) = rows.next().await? else {
                return Ok(None);
            };
            Ok(Some(TournamentRow {
                name: row.get(0)?,
                last_seq: Seq(row.get::<i64>(1)?.max(0) as u64),
                last_stream_seq: Seq(row.get::<i64>(2)?.max(0) as u64),
            }))
        })
        .await
    }

    /// The answer given to an earlier append with this idempotency key, if any.
    pub async fn idempotent_answer(
        &self,
        tournament: TournamentId,
        key: &str,
    ) -> Result<Option<(Seq, String)>, StoreError> {
        let key = key.to_owned();
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT seq, ts FROM idempotency_keys WHERE tournament_id = ?1 AND key = ?2",
                    libsql::params![tournament.to_string(), key],
                )
                .await?;
            match rows.next().await? {
                Some(row) => Ok(Some((Seq(row.get::<i64>(0)?.max(0) as u64), row.get(1)?))),
                None => Ok(None),
            }
        })
        .await
    }
}

/// The `tournament_heads` key of each tournament a batch touches, made on first use.
#[derive(Default)]
struct HeadKeys(HashMap<TournamentId, i64>);

impl HeadKeys {
    async fn of(
        &mut self,
        tx: &libsql::Transaction,
        tournament: TournamentId,
    ) -> Result<i64, StoreError> {
        if let Some(key) = self.0.get(&tournament) {
            return Ok(*key);
        }
        let id = tournament.to_string();
        tx.execute(
            "INSERT INTO tournament_heads (tournament_id) VALUES (?1) ON CONFLICT (tournament_id) DO NOTHING",
            libsql::params![id.clone()],
        )
        .await?;
        let mut rows = tx
            .query(
                "SELECT key FROM tournament_heads WHERE tournament_id = ?1",
                libsql::params![id],
            )
            .await?;
        let key = match rows.next().await? {
            Some(row) => row.get::<i64>(0)?,
            None => return Err(StoreError::Damaged(format!("no head row for {tournament}"))),
        };
        self.0.insert(tournament, key);
        Ok(key)
    }
}

/// `audited_above` as stored: space-separated seqs.
pub(super) fn seqs_text(seqs: &[Seq]) -> String {
    seqs.iter()
        .map(|s| s.0.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The projection's cursor, read on `conn` (inside a caller's transaction, if it has one).
pub(super) async fn read_cursor(conn: &libsql::Connection) -> Result<Cursor, StoreError> {
    let mut rows = conn
        .query("SELECT stream, last_stream_seq FROM projection_cursor", ())
        .await?;
    let mut cursor = Cursor::default();
    while let Some(row) = rows.next().await? {
        let seq = Seq(row.get::<i64>(1)?.max(0) as u64);
        match row.get::<String>(0)?.as_str() {
            "STATE" => cursor.state = seq,
            _ => cursor.audit = seq,
        }
    }
    Ok(cursor)
}
