//! The projection read back as the feed's checkpoint: what a start loads instead of replaying
//! the whole log, and the positions of events older than what the feed keeps in memory.

use std::collections::BTreeMap;

use super::{Store, StoreError};
use crate::event::{Seq, TournamentId};
use crate::store::Cursor;

/// Everything the feed's view needs at a start, as of `cursor`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Checkpoint {
    pub cursor: Cursor,
    pub tournaments: BTreeMap<TournamentId, TournamentCheckpoint>,
}

/// One tournament in a [`Checkpoint`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TournamentCheckpoint {
    /// `(name, created_at)` from its creation record; `None` if the log has none.
    pub created: Option<(String, String)>,
    pub last_seq: Seq,
    pub last_stream_seq: Seq,
    pub audited_through: Seq,
    pub audited_above: Vec<Seq>,
    /// The newest event of each type.
    pub latest: Vec<LatestRow>,
}

/// A `tournament_state` row: the newest event of one type.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRow {
    pub kind: String,
    pub seq: Seq,
    pub ts: String,
    /// JSON text, as stored.
    pub data: String,
}

impl Store {
    /// The projection as a checkpoint, read in one transaction. A row that does not parse is
    /// [`StoreError::Damaged`]: the caller rebuilds from the log rather than trust the rest.
    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        self.call(move |conn| async move {
            let tx = conn.transaction().await?;
            let cursor = super::projection::read_cursor(&tx).await?;
            let mut tournaments: BTreeMap<TournamentId, TournamentCheckpoint> = BTreeMap::new();

            let mut rows = tx
                .query("SELECT id, name, created_at FROM tournaments", ())
                .await?;
            while let Some(row) = rows.next().await? {
                let id = tournament_id(&row.get::<String>(0)?)?;
                tournaments.entry(id).or_default().created = Some((row.get(1)?, row.get(2)?));
            }

            let mut rows = tx
                .query(
                    "SELECT tournament_id, last_seq, last_stream_seq, audited_through, audited_above
                     FROM tournament_heads",
                    (),
                )
                .await?;
            while let Some(row) = rows.next().await? {
                let t = tournaments
                    .entry(tournament_id(&row.get::<String>(0)?)?)
                    .or_default();
                t.last_seq = seq(row.get(1)?)?;
                t.last_stream_seq = seq(row.get(2)?)?;
                t.audited_through = seq(row.get(3)?)?;
                t.audited_above = seqs(&row.get::<String>(4)?)?;
            }

            let mut rows = tx
                .query(
                    "SELECT tournament_id, type, seq, ts, data FROM tournament_state",
                    (),
                )
                .await?;
            while let Some(row) = rows.next().await? {
                let t = tournaments
                    .entry(tournament_id(&row.get::<String>(0)?)?)
                    .or_default();
                t.latest.push(LatestRow {
                    kind: row.get(1)?,
                    seq: seq(row.get(2)?)?,
                    ts: row.get(3)?,
                    data: row.get(4)?,
                });
            }
            tx.commit().await?;
            Ok(Checkpoint {
                cursor,
                tournaments,
            })
        })
        .await
    }

    /// The STATE stream sequence of `tournament`'s event `seq`, if the projection has it.
    pub async fn event_position(
        &self,
        tournament: TournamentId,
        seq: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        self.position_query(
            "SELECT p.stream_seq FROM event_positions p JOIN tournament_heads h ON h.key = p.tournament
             WHERE h.tournament_id = ?1 AND p.seq = ?2",
            tournament,
            seq,
        )
        .await
    }

    /// The seq of `tournament`'s event stored at `stream_seq`, if the projection has it. Scans
    /// that tournament's positions: only a retry older than what memory keeps comes here.
    pub async fn event_seq_at(
        &self,
        tournament: TournamentId,
        stream_seq: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        self.position_query(
            "SELECT p.seq FROM event_positions p JOIN tournament_heads h ON h.key = p.tournament
             WHERE h.tournament_id = ?1 AND p.stream_seq = ?2",
            tournament,
            stream_seq,
        )
        .await
    }

    async fn position_query(
        &self,
        sql: &'static str,
        tournament: TournamentId,
        value: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        self.call(move |conn| async move {
            let mut rows = conn
                .query(sql, libsql::params![tournament.to_string(), value.0 as i64])
                .await?;
            match rows.next().await? {
                Some(row) => Ok(Some(seq(row.get(0)?)?)),
                None => Ok(None),
            }
        })
        .await
    }
}

fn tournament_id(text: &str) -> Result<TournamentId, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Damaged(format!("{text:?} is not a tournament id")))
}

fn seq(n: i64) -> Result<Seq, StoreError> {
    u64::try_from(n)
        .map(Seq)
        .map_err(|_| StoreError::Damaged(format!("{n} is not a sequence number")))
}

fn seqs(text: &str) -> Result<Vec<Seq>, StoreError> {
    text.split_ascii_whitespace()
        .map(|n| {
            n.parse().map(Seq).map_err(|_| {
                StoreError::Damaged(format!("{text:?} is not a list of sequence numbers"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ProjectionUpdate;

    #[tokio::test]
    async fn a_checkpoint_reads_back_what_the_projection_wrote() {
        let store = Store::open_in_memory().await.unwrap();
        let (a, b) = (TournamentId::new_random(), TournamentId::new_random());
        let event = |t, seq, stream_seq, kind: &str| ProjectionUpdate::Event {
            tournament: t,
            seq: Seq(seq),
            stream_seq: Seq(stream_seq),
            kind: kind.into(),
            ts: format!("ts{seq}"),
            data: format!("{{\"n\":{seq}}}"),
            idempotency_key: None,
        };
        store
            .apply_projection(vec![
                ProjectionUpdate::Created {
                    tournament: a,
                    name: "Main".into(),
                    created_at: "c".into(),
                    audit_seq: Seq(1),
                },
                event(a, 1, 1, "clock"),
                event(b, 1, 2, "clock"), // another writer's: no creation record
                event(a, 2, 3, "level"),
                event(a, 3, 4, "clock"),
                ProjectionUpdate::Audited {
                    tournament: a,
                    through: Seq(1),
                    above: vec![Seq(3)],
                    audit_seq: Seq(2),
                },
            ])
            .await
            .unwrap();
        let checkpoint = store.checkpoint().await.unwrap();
        assert_eq!(
            checkpoint.cursor,
            Cursor {
                state: Seq(4),
                audit: Seq(2)
            }
        );
        let ta = &checkpoint.tournaments[&a];
        assert_eq!(ta.created, Some(("Main".into(), "c".into())));
        assert_eq!((ta.last_seq, ta.last_stream_seq), (Seq(3), Seq(4)));
        assert_eq!(
            (ta.audited_through, &ta.audited_above[..]),
            (Seq(1), &[Seq(3)][..])
        );
        let mut latest: Vec<_> = ta.latest.iter().map(|l| (l.kind.as_str(), l.seq)).collect();
        latest.sort();
        assert_eq!(latest, [("clock", Seq(3)), ("level", Seq(2))]);
        let tb = &checkpoint.tournaments[&b];
        assert_eq!((tb.created.as_ref(), tb.last_seq), (None, Seq(1)));

        assert_eq!(store.event_position(a, Seq(2)).await.unwrap(), Some(Seq(3)));
        assert_eq!(store.event_position(a, Seq(4)).await.unwrap(), None);
        assert_eq!(store.event_seq_at(a, Seq(4)).await.unwrap(), Some(Seq(3)));
        assert_eq!(store.event_seq_at(b, Seq(4)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_damaged_row_is_an_error_not_a_guess() {
        let store = Store::open_in_memory().await.unwrap();
        store
            .call(|conn| async move {
                conn.execute(
                    "INSERT INTO tournament_heads (tournament_id, audited_above) VALUES (?1, 'x y')",
                    libsql::params![TournamentId::new_random().to_string()],
                )
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        let err = store.checkpoint().await.unwrap_err();
        assert!(matches!(err, StoreError::Damaged(_)), "{err}");
    }
}
