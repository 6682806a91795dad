//! Backups: the whole of a leaf (its event log, leaf.db and token key) in a portable,
//! checksummed directory ([`format`]), taken while leaf runs ([`take`]), checked
//! ([`verify`]) and made into a new data dir ([`restore`]); by hand (`leaf backup`) or on a
//! schedule by the running leaf ([`Backups`]).

use std::path::{Path, PathBuf};

pub mod cli;
pub mod format;
mod restore;
mod schedule;
mod take;
mod verify;

pub use self::restore::{Restored, restore};
pub use self::schedule::{BackupEvery, BackupHealth, Backups, Schedule};
pub use self::take::{Taken, take};
pub use self::verify::{read_manifest, verify};

use crate::log::LogError;
use crate::store::StoreError;

/// In the name of a backup or data dir being written: never taken for a whole one.
pub const PARTIAL: &str = ".partial-";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; a backup goes into a new directory")]
    Exists(PathBuf),
    #[error("{0} is not empty; restore into a new or empty directory")]
    NotEmpty(PathBuf),
    #[error("{0} does not exist; create it first")]
    NoParent(PathBuf),
    #[error("{0} cannot be a backup's or a data dir's path")]
    BadPath(PathBuf),
    #[error("{0} is not a leaf backup (no manifest.json of one)")]
    NotABackup(PathBuf),
    #[error(
        "the backup is in format version {found}; this leaf reads version {supported} and older: restore it with a newer leaf"
    )]
    NewerFormat { found: u32, supported: u32 },
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the event log: {0}")]
    Log(#[from] LogError),
    #[error("leaf.db: {0}")]
    Store(#[from] StoreError),
    #[error("restoring: {0}")]
    Restore(String),
    #[error("the backup was interrupted")]
    Interrupted,
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// fsync of a directory: the names in it (a new file, a rename) are on disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}
