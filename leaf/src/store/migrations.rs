//! Versioned SQL migrations, embedded in the binary and applied at startup.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with its row in
//! `schema_migrations`, so a crash leaves either all of it or none. A database that records a
//! migration this binary does not know was written by a newer leaf: startup stops before
//! touching it, since an older leaf cannot know what the newer schema means.

use libsql::Connection;

use super::StoreError;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// In order; never edit one that has shipped, add a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tournaments",
        sql: include_str!("migrations/0001_tournaments.sql"),
    },
    Migration {
        version: 2,
        name: "operators",
        sql: include_str!("migrations/0002_operators.sql"),
    },
    Migration {
        version: 3,
        name: "viewer_links",
        sql: include_str!("migrations/0003_viewer_links.sql"),
    },
    Migration {
        version: 4,
        name: "projection",
        sql: include_str!("migrations/0004_projection.sql"),
    },
    Migration {
        version: 5,
        name: "operator_accounts",
        sql: include_str!("migrations/0005_operator_accounts.sql"),
    },
    Migration {
        version: 6,
        name: "checkpoint",
        sql: include_str!("migrations/0006_checkpoint.sql"),
    },
];

/// Applies what is missing; returns the versions applied now.
pub async fn apply(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )",
        (),
    )
    .await?;
    let applied = applied(conn).await?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some((version, name)) = applied.iter().find(|(v, _)| *v > known) {
        return Err(StoreError::NewerSchema {
            found: *version,
            name: name.clone(),
            known,
        });
    }
    for (version, name) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if m.name == name => {}
            _ => {
                return Err(StoreError::UnknownMigration {
                    version: *version,
                    name: name.clone(),
                });
            }
        }
    }
    let mut now = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
    {
        let tx = conn
            .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
            .await?;
        // Another process (`leaf td add` beside a running leaf) may have applied it since we
        // looked; the write lock we now hold makes this second look final.
        let mut rows = tx
            .query(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                libsql::params![m.version],
            )
            .await?;
        let done = rows.next().await?.is_some();
        drop(rows);
        if done {
            tx.rollback().await?;
            continue;
        }
        tx.execute_batch(m.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            libsql::params![m.version, m.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        now.push(m.version);
    }
    Ok(now)
}

async fn applied(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut rows = conn
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            (),
        )
        .await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push((row.get::<i64>(0)?, row.get::<String>(1)?));
    }
    Ok(out)
}
