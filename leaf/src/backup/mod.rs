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

/// The directory `path` is in: `.` for a bare name.
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path`'s last component, which leaf names its staging directory after; UTF-8, since the
/// path also goes to SQLite.
pub(crate) fn name_of(path: &Path) -> Result<&str, BackupError> {
    path.to_str()
        .and(path.file_name())
        .and_then(|n| n.to_str())
        .filter(|n| *n != "." && *n != "..")
        .ok_or_else(|| BackupError::BadPath(path.to_owned()))
}

/// Renames `from` to `to` unless `to` exists (then `Err` with `AlreadyExists`): a directory
/// made at `to` meanwhile, by another backup or a starting leaf, is never replaced.
pub(crate) fn rename_new(from: &Path, to: &Path) -> Result<(), BackupError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| BackupError::BadPath(p.to_owned()))
    };
    let (from_c, to_c) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths, resolved from the working directory.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io_error(to, std::io::Error::last_os_error()))
    }
}

/// Removes staging directories `.<name>.partial-<pid>` in `dir` whose process is gone: left
/// by a backup or restore that was killed. They hold secrets (leaf.db, the token key).
pub(crate) fn reap_partials(dir: &Path, name: &str) {
    let prefix = format!(".{name}{PARTIAL}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill(2) with signal 0 only asks whether the process exists.
        let alive = pid == std::process::id() as i32
            || unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
