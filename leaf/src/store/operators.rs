//! TD accounts in the `operators` table.

use serde::Serialize;

use super::{Store, StoreError};
use crate::event::OperatorName;

/// A TD as listed; the PIN hash stays in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub name: String,
    pub role: String,
    pub created_at: String,
}

impl Store {
    /// Adds a TD with an already hashed PIN. Fails with [`StoreError::AlreadyExists`].
    pub async fn add_operator(
        &self,
        name: &OperatorName,
        pin_hash: String,
    ) -> Result<(), StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let inserted = conn
                .execute(
                    "INSERT INTO operators (name, pin_hash, role) VALUES (?1, ?2, 'td') ON CONFLICT (name) DO NOTHING",
                    libsql::params![name.clone(), pin_hash],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(format!("a TD named {name}")));
            }
            Ok(())
        })
        .await
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.call(|conn| async move {
            let mut rows = conn
                .query(
                    "SELECT name, role, created_at FROM operators ORDER BY name",
                    (),
                )
                .await?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().await? {
                out.push(Operator {
                    name: row.get(0)?,
                    role: row.get(1)?,
                    created_at: row.get(2)?,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Removes a TD; whether one was there.
    pub async fn remove_operator(&self, name: &OperatorName) -> Result<bool, StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let n = conn
                .execute(
                    "DELETE FROM operators WHERE name = ?1",
                    libsql::params![name],
                )
                .await?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn operator_pin_hash(
        &self,
        name: &OperatorName,
    ) -> Result<Option<String>, StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT pin_hash FROM operators WHERE name = ?1",
                    libsql::params![name],
                )
                .await?;
            match rows.next().await? {
                Some(row) => Ok(Some(row.get(0)?)),
                None => Ok(None),
            }
        })
        .await
    }

    pub async fn operator_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| async move {
            let mut rows = conn.query("SELECT count(*) FROM operators", ()).await?;
            let row = rows.next().await?;
            Ok(row.map(|r| r.get::<u64>(0)).transpose()?.unwrap_or(0))
        })
        .await
    }
}
