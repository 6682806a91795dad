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
    /// Adds a TD with an already hashed PIN, as a new account; returns the account's id (see
    /// [`Store::operator_account`]). Fails with [`StoreError::AlreadyExists`].
    pub async fn add_operator(
        &self,
        name: &OperatorName,
        pin_hash: String,
    ) -> Result<String, StoreError> {
        let account = uuid::Uuid::new_v4().simple().to_string();
        self.add_operator_account(name, pin_hash, account.clone())
            .await?;
        Ok(account)
    }

    /// Adds a TD with a given account id, as a restore of leaf.db would bring it back (the
    /// simulation does, at every start of its leaf).
    pub async fn add_operator_account(
        &self,
        name: &OperatorName,
        pin_hash: String,
        account: String,
    ) -> Result<(), StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let inserted = conn
                .execute(
                    "INSERT INTO operators (name, pin_hash, role, account) VALUES (?1, ?2, 'td', ?3) ON CONFLICT (name) DO NOTHING",
                    libsql::params![name.clone(), pin_hash, account],
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

    /// What a sign-in to `name` is checked against: the PIN hash and the account it belongs
    /// to, read together so a token is never issued to an account whose PIN was not checked.
    pub async fn operator_credentials(
        &self,
        name: &OperatorName,
    ) -> Result<Option<(String, String)>, StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT pin_hash, account FROM operators WHERE name = ?1",
                    libsql::params![name],
                )
                .await?;
            match rows.next().await? {
                Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
                None => Ok(None),
            }
        })
        .await
    }

    /// The id of the account that now holds `name`, if any. A TD token names the account it
    /// was issued to: removing a TD and adding the name again makes a new account, and the old
    /// tokens no longer match.
    pub async fn operator_account(
        &self,
        name: &OperatorName,
    ) -> Result<Option<String>, StoreError> {
        let name = name.as_str().to_owned();
        self.call(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT account FROM operators WHERE name = ?1",
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
