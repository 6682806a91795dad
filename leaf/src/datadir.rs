//! The data directory: created if missing, checked for writing, and locked so that two leafs
//! never share one (they would fight over the JetStream store and the database).
//!
//! Layout: `leaf.lock` (the lock, holding the pid), `leaf.db` (+ `-wal`, `-shm`), `nats/`
//! (see `log::supervisor`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create the data dir {path}: {source}; choose a writable --data-dir")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "the data dir {path} is not writable ({source}); choose a writable --data-dir or fix its permissions"
    )]
    NotWritable { path: PathBuf, source: io::Error },
    #[error(
        "another leaf is already running on {path}{holder}; stop it or choose another --data-dir"
    )]
    InUse { path: PathBuf, holder: String },
}

/// An open, locked data dir. The lock is released when this is dropped (or leaf dies).
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        fs::create_dir_all(path).map_err(|source| DataDirError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let root = path.canonicalize().map_err(|source| DataDirError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let lock_path = root.join("leaf.lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|source| DataDirError::NotWritable {
                path: root.clone(),
                source,
            })?;
        // SAFETY: flock on a file descriptor we own for the duration of the call.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = fs::read_to_string(&lock_path)
                .ok()
                .map(|pid| pid.trim().to_owned())
                .filter(|pid| !pid.is_empty())
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            return Err(DataDirError::InUse { path: root, holder });
        }
        let write_pid = |lock: &mut File| -> io::Result<()> {
            lock.set_len(0)?;
            lock.write_all(std::process::id().to_string().as_bytes())?;
            lock.sync_all()
        };
        write_pid(&mut lock).map_err(|source| DataDirError::NotWritable {
            path: root.clone(),
            source,
        })?;
        Ok(Self { root, _lock: lock })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("leaf.db")
    }

    pub fn nats(&self) -> PathBuf {
        self.root.join("nats")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let err = DataDir::open(dir.path()).unwrap_err();
        assert!(matches!(err, DataDirError::InUse { .. }), "{err}");
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }

    #[test]
    fn an_uncreatable_dir_says_so() {
        let err = DataDir::open(Path::new("/proc/leaf-test-nope")).unwrap_err();
        assert!(matches!(err, DataDirError::Create { .. }), "{err}");
        assert!(err.to_string().contains("--data-dir"), "{err}");
    }
}
