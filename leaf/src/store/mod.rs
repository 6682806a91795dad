//! LibSQL: leaf's derived state (tournaments, projections), one local file `<data-dir>/leaf.db`.
//!
//! The event log is the truth and this database is rebuilt from it, which sets the trade-offs:
//! - `journal_mode=WAL`: readers never block the writer, and a crash never corrupts the file.
//! - `synchronous=NORMAL`: in WAL mode this is safe against a crash of leaf; a power cut may
//!   lose the last few commits, which the projection then replays from the log. `FULL` would
//!   add an fsync per commit to protect data the log already protects.
//! - `foreign_keys=ON` on the connection (SQLite's default is off), verified by reading back.
//! - `busy_timeout=5s`: SQLite's default of 0 turns any contention (a backup tool, a second
//!   connection) into an immediate "database is locked".
//!
//! libsql's local calls are synchronous underneath, so they would stall a tokio worker. All
//! database work on a file runs on one dedicated thread ([`worker`]), one job at a time: it is
//! also the single writer, and it keeps the database far from the broadcast hot path.

mod checkpoint;
mod migrations;
mod operators;
mod projection;
mod viewer_links;
mod worker;

use std::future::Future;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use std::time::Duration;

use libsql::Connection;
use serde::Serialize;

pub use self::checkpoint::{Checkpoint, LatestRow, TournamentCheckpoint};
pub use self::migrations::MIGRATIONS;
pub use self::operators::Operator;
pub use self::projection::{Cursor, ProjectionDump, ProjectionUpdate, TournamentRow};
pub use self::viewer_links::ViewerLink;
use self::worker::Worker;

/// One health probe must not hold up `/api/v1/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {path}: {reason}. leaf has not changed the file; if it is damaged, \
         move it aside and start again (leaf creates a new one)"
    )]
    Open { path: PathBuf, reason: String },
    #[error(
        "the database was written by a newer leaf (it has migration {found} \"{name}\", this leaf knows up to {known}); \
         leaf will not touch it: run the newer leaf, or start with another --data-dir"
    )]
    NewerSchema {
        found: i64,
        name: String,
        known: i64,
    },
    #[error("the database records migration {version} \"{name}\", which this leaf does not know")]
    UnknownMigration { version: i64, name: String },
    #[error("the database reports journal_mode={0}, but leaf needs wal")]
    NotWal(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("the database is closed")]
    Closed,
    #[error("the database is overloaded: too many requests are waiting")]
    Busy,
    #[error("a database job panicked")]
    Panicked,
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("database: {0}")]
    Sql(#[from] libsql::Error),
    #[error("the projection in the database is damaged: {0}")]
    Damaged(String),
}

/// What the health endpoint shows for the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    pub ok: bool,
    pub journal_mode: Option<String>,
    pub foreign_keys: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A handle to the database thread. Cheap to clone; every clone talks to the same thread.
#[derive(Debug, Clone)]
pub struct Store {
    worker: Worker,
}

impl Store {
    /// Opens (creating if needed) the file, configures it and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        // Created 0600 before SQLite sees it: SQLite gives the WAL and shared-memory files the
        // mode of the database file, and the database holds PIN hashes and viewer tokens.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let worker = Worker::thread(path.to_path_buf()).await?;
        Ok(Self { worker })
    }

    /// A private in-memory database whose jobs run on the caller's task, for tests and the
    /// simulation (where it outlives a crash of the host when the plan says leaf.db does).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let worker = Worker::inline().await?;
        Ok(Self { worker })
    }

    /// Runs `f` on the database thread and returns its result.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        self.worker.call(f).await
    }

    pub async fn health(&self) -> StoreHealth {
        let probe = self.call(|conn| async move {
            let mut rows = conn.query("SELECT 1", ()).await?;
            rows.next().await?;
            let journal_mode = pragma(&conn, "journal_mode").await?;
            let foreign_keys = pragma(&conn, "foreign_keys").await? == "1";
            Ok((journal_mode, foreign_keys))
        });
        match tokio::time::timeout(HEALTH_TIMEOUT, probe).await {
            Ok(Ok((journal_mode, foreign_keys))) => StoreHealth {
                ok: foreign_keys && (journal_mode == "wal" || self.worker.in_memory()),
                journal_mode: Some(journal_mode),
                foreign_keys,
                error: None,
            },
            Ok(Err(e)) => StoreHealth::failed(e.to_string()),
            Err(_) => StoreHealth::failed(StoreError::TimedOut(HEALTH_TIMEOUT).to_string()),
        }
    }

    /// A consistent copy of the whole database into the new file `path` (`VACUUM INTO`),
    /// made while others read and write it: for backups.
    pub async fn vacuum_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path.to_string_lossy().into_owned();
        self.call(move |conn| async move {
            conn.execute("VACUUM INTO ?1", libsql::params![target])
                .await?;
            Ok(())
        })
        .await
    }

    /// SQLite's `PRAGMA data_version`: it changes whenever another connection (another
    /// process, such as `leaf td remove`) commits to the database, and not for leaf's own.
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        self.call(|conn| async move {
            let mut rows = conn.query("PRAGMA data_version", ()).await?;
            let row = rows.next().await?;
            Ok(row.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
        })
        .await
    }

    /// Finishes the job in progress and closes the database. Later calls get [`StoreError::Closed`].
    pub async fn close(&self) {
        self.worker.close().await;
    }
}

impl StoreHealth {
    fn failed(error: String) -> Self {
        Self {
            ok: false,
            journal_mode: None,
            foreign_keys: false,
            error: Some(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    File,
    Memory,
}

/// Reads one PRAGMA value as text. PRAGMAs that return rows must go through `query`:
/// libsql's `execute` fails on them.
async fn pragma(conn: &Connection, name: &str) -> Result<String, StoreError> {
    let mut rows = conn.query(&format!("PRAGMA {name}"), ()).await?;
    let row = rows.next().await?.ok_or_else(|| {
        StoreError::Sql(libsql::Error::Misuse(format!(
            "PRAGMA {name} returned no row"
        )))
    })?;
    Ok(match row.get_value(0)? {
        libsql::Value::Text(s) => s,
        libsql::Value::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

/// Sets the connection up as the module doc describes and checks that it took.
async fn configure(conn: &Connection, location: Location) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut rows = conn.query("PRAGMA journal_mode=WAL", ()).await?;
    let mode = match rows.next().await? {
        Some(row) => row.get::<String>(0)?,
        None => String::new(),
    };
    drop(rows);
    if location == Location::File && !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal(mode));
    }
    conn.execute("PRAGMA synchronous=NORMAL", ()).await?;
    conn.execute("PRAGMA foreign_keys=ON", ()).await?;
    if pragma(conn, "foreign_keys").await? != "1" {
        return Err(StoreError::Sql(libsql::Error::Misuse(
            "PRAGMA foreign_keys=ON did not take effect".into(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
