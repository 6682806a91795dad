//! The data directory: created if missing, checked for writing, and locked so that two leafs
//! never share one (they would fight over the JetStream store and the database).
//!
//! Layout: `leaf.lock` (the lock, holding the pid), `leaf.db` (+ `-wal`, `-shm`), `jwt.key`,
//! `nats/` (see `log::supervisor`).
//!
//! Everything in it is private to the user leaf runs as: the data dir holds PIN hashes (which
//! can be cracked offline), every viewer link's URL with its token, the token signing key and
//! the whole event log. The dir is 0700 and leaf creates its files 0600; [`DataDir::open`]
//! takes group and world permissions off what an older leaf (or a copy, or a restore) left
//! open among leaf's own entries ([`OWN_ENTRIES`]), and says so in the log. Nothing else in
//! the dir is touched: a data dir may be a mount point, or a folder with other things in it.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data dir and every dir below it: the owner only.
pub const DIR_MODE: u32 = 0o700;
/// Permission bits for anyone but the owner; none may be set on anything in the data dir.
const OTHERS: u32 = 0o077;
/// What leaf keeps in the data dir: all of it, and nothing else, is made private at start.
pub const OWN_ENTRIES: &[&str] = &[
    "leaf.lock",
    "leaf.db",
    "leaf.db-wal",
    "leaf.db-shm",
    "jwt.key",
    "nats",
];

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
    #[error(
        "the data dir {path} belongs to {owner}, but this is root: files root made there would lock leaf out of them; run it as that user (sudo -u {owner} leaf ...)"
    )]
    OtherOwner { path: PathBuf, owner: String },
}

/// Refuses to work as root on a data dir another user owns (the `leaf` user of the package):
/// a `leaf td add` run by root would leave a root-owned `leaf.db-wal` that the service then
/// cannot open. A missing data dir is fine; it will be root's own.
pub fn check_owner(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    if euid != 0 || meta.uid() == 0 {
        return Ok(());
    }
    Err(DataDirError::OtherOwner {
        path: path.to_path_buf(),
        owner: user_name(meta.uid()).unwrap_or_else(|| format!("'#{}'", meta.uid())),
    })
}

/// The login name of `uid`, from the user database.
fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwuid_r.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and the buffer's length is passed with it.
    let status = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    name.to_str().ok().map(str::to_string)
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
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| DataDirError::NotWritable {
                path: root.clone(),
                source,
            })?;
        if !take_lock(&lock) {
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
        // The root first: once it is 0700, nothing below it is reachable by other users, so
        // a failure below is worth a warning, not a refusal to start.
        let private = make_private_entry(&root).map_err(|source| DataDirError::NotWritable {
            path: root.clone(),
            source,
        })?;
        let mut changed = usize::from(private);
        for entry in OWN_ENTRIES {
            changed += make_private(&root.join(entry));
        }
        if changed > 0 {
            tracing::warn!(
                data_dir = %root.display(),
                entries = changed,
                "the data dir held files other users could read or write; made them private to this user"
            );
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

/// How long a held lock is waited for before another leaf is taken to hold it. A lock can be
/// held for a moment by no leaf at all: a child being started (by this process or another in
/// it, nats-server) holds copies of the parent's descriptors between fork and exec, so a leaf
/// restarted in the same process can find its old lock still held for microseconds.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes the exclusive lock on `lock`, waiting up to [`LOCK_PATIENCE`]; whether it was taken.
fn take_lock(lock: &File) -> bool {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        // SAFETY: flock on a file descriptor we own for the duration of the call.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
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
/// how many entries it changed. Symlinks are not followed: nothing outside is touched. An
/// entry that cannot be changed (another user's, a filesystem without modes) or that vanished
/// is skipped with a warning naming it: by then the data dir itself is private.
pub fn make_private(root: &Path) -> usize {
    let mut changed = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        match make_private_entry(&path) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot make this entry of the data dir private");
                continue;
            }
        }
        let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            match fs::read_dir(&path) {
                Ok(entries) => pending.extend(entries.flatten().map(|e| e.path())),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot look into this dir of the data dir")
                }
            }
        }
    }
    changed
}

/// Takes group and world permissions off one entry (not through a symlink); whether it had
/// any. A filesystem that ignores modes is an error here, not a change.
fn make_private_entry(path: &Path) -> io::Result<bool> {
    let meta = fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() || mode & OTHERS == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7700 & !OTHERS))?;
    if fs::symlink_metadata(path)?.permissions().mode() & OTHERS != 0 {
        return Err(io::Error::other(
            "its filesystem keeps permissions for other users",
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_on_another_users_data_dir() {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return; // only root can make the case, and only root is checked
        }
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        assert!(
            check_owner(&root).is_ok(),
            "a missing dir becomes root's own"
        );
        fs::create_dir(&root).unwrap();
        assert!(check_owner(&root).is_ok(), "root's own dir");
        std::os::unix::fs::chown(&root, Some(65534), Some(65534)).unwrap();
        let err = check_owner(&root).unwrap_err().to_string();
        assert!(err.contains("sudo -u"), "{err}");
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_dir_is_private_from_the_start() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        let _dir = DataDir::open(&root).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("leaf.lock")), 0o600);
        // Nothing was left for the tightening to do (it would have warned on every install).
        assert_eq!(make_private(&root), 0);
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
        // A link out of the data dir is not followed; what is not leaf's is not touched.
        let outside = tempfile::NamedTempFile::new().unwrap();
        fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("nats/elsewhere")).unwrap();
        let not_leafs = root.path().join("notes.txt");
        fs::write(&not_leafs, b"x").unwrap();
        fs::set_permissions(&not_leafs, fs::Permissions::from_mode(0o644)).unwrap();

        let _dir = DataDir::open(root.path()).unwrap();

        assert_eq!(mode(root.path()), 0o700);
        assert_eq!(mode(&jetstream), 0o700);
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(outside.path()), 0o644);
        assert_eq!(mode(&not_leafs), 0o644);
        let again: usize = OWN_ENTRIES
            .iter()
            .map(|e| make_private(&root.path().join(e)))
            .sum();
        assert_eq!(again, 0, "a second pass finds nothing");
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
