//! The data directory: created if missing, checked for writing, and locked so that two leafs
//! never share one (they would fight over the JetStream store and the database).
//!
//! Layout: `leaf.lock` (the lock, holding the pid), `leaf.db` (+ `-wal`, `-shm`), `jwt.key`,
//! `nats/` (see `log::supervisor`).
//!
//! Everything in it is private to the user leaf runs as: the data dir holds PIN hashes (which
//! can be cracked offline), every viewer link's URL with its token, the token signing key and
//! the whole event log. The dir is 0700 and every file 0600; [`DataDir::open`] tightens what
//! an older leaf (or a copy, or a restore) left readable by others, and says so in the log.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data dir and every dir below it: the owner only.
pub const DIR_MODE: u32 = 0o700;
/// Permission bits for anyone but the owner; none may be set on anything in the data dir.
const OTHERS: u32 = 0o077;

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
        create_private_dir(path).map_err(|source| DataDirError::Create {
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
        match make_private(&root) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                data_dir = %root.display(),
                entries = n,
                "the data dir held files other users could read or write; made them private to this user"
            ),
            Err(e) => {
                return Err(DataDirError::NotWritable {
                    path: root.clone(),
                    source: e,
                });
            }
        }
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

/// Creates `path` (and missing parents) as [`DIR_MODE`]; an existing dir keeps its mode.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Takes every permission of others (group and world) off `root` and everything below it;
/// how many entries it changed. Symlinks are not followed: nothing outside is touched.
pub fn make_private(root: &Path) -> io::Result<usize> {
    let mut changed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & OTHERS != 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7700 & !OTHERS))?;
            changed += 1;
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_dir_is_private() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        let _dir = DataDir::open(&root).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("leaf.lock")) & OTHERS, 0);
    }

    #[test]
    fn open_takes_back_what_an_older_leaf_left_readable() {
        let root = tempfile::tempdir().unwrap();
        let jetstream = root.path().join("nats/jetstream/$G/streams/STATE");
        fs::create_dir_all(&jetstream).unwrap();
        let files = [
            root.path().join("leaf.db"),
            root.path().join("leaf.db-wal"),
            root.path().join("jwt.key"),
            jetstream.join("1.blk"),
        ];
        for file in &files {
            fs::write(file, b"x").unwrap();
            fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&jetstream, fs::Permissions::from_mode(0o775)).unwrap();
        // A link out of the data dir is not followed.
        let outside = tempfile::NamedTempFile::new().unwrap();
        fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("elsewhere")).unwrap();

        let _dir = DataDir::open(root.path()).unwrap();

        assert_eq!(mode(root.path()), 0o700);
        assert_eq!(mode(&jetstream), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(outside.path()), 0o644);
        assert_eq!(
            make_private(root.path()).unwrap(),
            0,
            "a second pass finds nothing"
        );
    }

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
