//! Backups: the whole of a leaf (its event log, leaf.db and token key) in a portable,
//! checksummed directory ([`format`]), taken while leaf runs ([`take`]), checked
//! ([`verify`]) and made into a new data dir ([`restore`]); by hand (`leaf backup`) or on a
//! schedule by the running leaf ([`Backups`]).

use std::path::{Path, PathBuf};

pub mod cli;
pub mod format;
mod restore;
mod schedule;
mod steady;
mod take;
pub(crate) mod verify;

pub use self::restore::{Restored, restore};
pub use self::schedule::{BackupEvery, BackupHealth, Backups, Schedule};
pub use self::take::{Taken, take};
pub use self::verify::{read_manifest, verify};

use crate::log::LogError;
use crate::store::StoreError;

/// The share of the time a backup works; it rests the rest, so the appends and displays it
/// runs beside keep the CPU and the disk they need (leaf's box has two cores). At half, the
/// appends' p99 beside a 1M-append backup was 4 to 7 times the quiet one; at a quarter, within
/// twice (README, Benchmarks).
pub const BACKUP_DUTY: f64 = 0.25;

/// The share of the time the check of a backup just taken works: it reads files still in the
/// page cache, so it costs CPU, not the disk the appends fsync to.
pub const VERIFY_DUTY: f64 = 0.5;

/// Rests in proportion to the work done since the last rest.
pub(crate) struct Pace {
    since: std::time::Instant,
    duty: f64,
}

impl Pace {
    /// Working `duty` of the time (0 to 1).
    pub fn new(duty: f64) -> Self {
        Self {
            since: std::time::Instant::now(),
            duty,
        }
    }

    /// How long to rest now, for the work done since the last call.
    pub fn rest(&mut self) -> std::time::Duration {
        let worked = self.since.elapsed();
        let rest = worked.mul_f64(1.0 / self.duty - 1.0);
        self.since = std::time::Instant::now() + rest;
        rest
    }
}

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
/// made at `to` meanwhile, by another backup or a starting leaf, is never replaced. On a
/// filesystem without `RENAME_NOREPLACE` (NFS, most FUSE ones), `to` is checked first and a
/// plain rename follows: it still never replaces a directory with anything in it.
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
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if !matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(io_error(to, error));
    }
    tracing::debug!(path = %to.display(), "no RENAME_NOREPLACE here; checking, then renaming");
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(io_error(
            to,
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    std::fs::rename(from, to).map_err(|e| io_error(to, e))
}

/// A staging directory `.<name>.partial-<pid>-<random>`, made empty and private, and owned by
/// this process for as long as this lives: an exclusive lock on its `.owner` file. A staging
/// directory whose lock can be taken has no owner left (killed, or power cut), and
/// [`reap_partials`] removes it; process ids are not trusted (a container's is 1 every run).
pub(crate) struct Staging {
    pub path: std::path::PathBuf,
    owner: std::fs::File,
}

/// The file whose lock says a staging directory is in use.
const OWNER: &str = ".owner";

impl Staging {
    pub fn create(parent: &Path, name: &str) -> Result<Self, BackupError> {
        use std::os::unix::fs::DirBuilderExt;
        reap_partials(parent);
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).map_err(|e| BackupError::Restore(e.to_string()))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = parent.join(format!(".{name}{PARTIAL}{}-{suffix}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(crate::datadir::DIR_MODE)
            .create(&path)
            .map_err(|e| io_error(&path, e))?;
        let lock_path = path.join(OWNER);
        let owner = std::fs::File::create(&lock_path).map_err(|e| io_error(&lock_path, e))?;
        if !try_lock(&owner) {
            let _ = std::fs::remove_dir_all(&path);
            return Err(BackupError::Restore(format!(
                "cannot lock {}",
                lock_path.display()
            )));
        }
        Ok(Self { path, owner })
    }

    /// Takes the owner file out, before the directory is renamed into place; the lock
    /// holds on until this is dropped.
    pub fn release_name(&self) -> Result<(), BackupError> {
        let lock_path = self.path.join(OWNER);
        let _ = &self.owner;
        std::fs::remove_file(&lock_path).map_err(|e| io_error(&lock_path, e))
    }
}

/// flock(2), exclusive, without waiting: whether it was taken.
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows for the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes staging directories (`.…partial-…`) in `dir` whose owner is gone: left by a backup
/// or restore that was killed. They hold secrets (leaf.db, the token key). One without an
/// owner file is left for a minute: its maker may be about to lock it.
pub(crate) fn reap_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_staging = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.contains(PARTIAL));
        if !is_staging || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let abandoned = match std::fs::File::open(path.join(OWNER)) {
            Ok(owner) => try_lock(&owner),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60)),
        };
        if abandoned {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a backup or restore that was cut short")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a backup or restore that was cut short")
                }
            }
        }
    }
}
