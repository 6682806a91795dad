//! Viewer join links in the `viewer_links` table.

use super::{Store, StoreError};
use crate::event::TournamentId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerLink {
    pub id: String,
    pub tournament: TournamentId,
    pub url: String,
    pub expires_at: u64,
}

impl Store {
    pub async fn add_viewer_link(
        &self,
        link: &ViewerLink,
        created_by: &str,
    ) -> Result<(), StoreError> {
        let (id, t, url, exp, by) = (
            link.id.clone(),
            link.tournament.to_string(),
            link.url.clone(),
            link.expires_at as i64,
            created_by.to_owned(),
        );
        self.call(move |conn| async move {
            conn.execute(
                "INSERT INTO viewer_links (id, tournament_id, url, expires_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                libsql::params![id, t, url, exp, by],
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Deletes a link; whether it was there. Its token stops working at once.
    pub async fn remove_viewer_link(
        &self,
        tournament: TournamentId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| async move {
            let n = conn
                .execute(
                    "DELETE FROM viewer_links WHERE id = ?1 AND tournament_id = ?2",
                    libsql::params![id, tournament.to_string()],
                )
                .await?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn viewer_link(&self, id: &str) -> Result<Option<ViewerLink>, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT id, tournament_id, url, expires_at FROM viewer_links WHERE id = ?1",
                    libsql::params![id],
                )
                .await?;
            let Some(row) = rows.next().await? else {
                return Ok(None);
            };
            let tournament: String = row.get(1)?;
            Ok(tournament.parse().ok().map(|tournament| ViewerLink {
                id: row.get(0).unwrap_or_default(),
                tournament,
                url: row.get(2).unwrap_or_default(),
                expires_at: row.get::<i64>(3).unwrap_or_default().max(0) as u64,
            }))
        })
        .await
    }
}
