//! The nats-server a release leaf carries inside it (feature `bundled-nats-server`), so the
//! binary alone is a complete install: no Python, no checkout, no `.tools/`.
//!
//! The build checked the bytes against `ci/nats-server.pin`. At start they are written as
//! `nats/bin/nats-server-<version>` in the data dir (0700, fsynced, renamed into place), unless
//! a file with the same SHA-256 is already there, and older versions beside it are removed.
//! A file there with other bytes (a torn write, a disk error, someone's edit) is replaced.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The embedded server, when this binary has one.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    pub version: &'static str,
    sha256: &'static str,
    bytes: &'static [u8],
}

#[cfg(feature = "bundled-nats-server")]
pub fn bundled() -> Option<Bundled> {
    Some(Bundled {
        version: env!("LEAF_BUNDLED_NATS_VERSION"),
        sha256: env!("LEAF_BUNDLED_NATS_SHA256"),
        bytes: include_bytes!(env!("LEAF_BUNDLED_NATS_SERVER")),
    })
}

#[cfg(not(feature = "bundled-nats-server"))]
pub fn bundled() -> Option<Bundled> {
    None
}

const PREFIX: &str = "nats-server-";

impl Bundled {
    /// Writes the server into `dir` (created 0700 if missing) unless it is already there
    /// intact; its path.
    pub fn install(&self, dir: &Path) -> io::Result<PathBuf> {
        crate::datadir::create_private_dir(dir)?;
        let path = dir.join(format!("{PREFIX}{}", self.version));
        // Old versions go first: on a nearly full disk their room may be what the new needs.
        self.remove_other_versions(dir, &path);
        if !self.is_intact(&path)? {
            self.write(dir, &path)?;
        }
        Ok(path)
    }

    fn is_intact(&self, path: &Path) -> io::Result<bool> {
        // A link is never taken for the server, whatever it points at; it is replaced.
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_file() => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        match fs::read(path) {
            Ok(bytes) => Ok(hex(&Sha256::digest(&bytes)) == self.sha256),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn write(&self, dir: &Path, path: &Path) -> io::Result<()> {
        let temporary = dir.join(format!(
            ".{PREFIX}{}.{}.tmp",
            self.version,
            std::process::id()
        ));
        let written = (|| {
            // A leftover of a start that died is removed, never written through.
            match fs::remove_file(&temporary) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o700)
                .open(&temporary)?;
            file.write_all(self.bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, path)?;
            fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Servers of other versions (an older leaf's) and temporary files of a start that died;
    /// best effort, since a leftover only costs disk.
    fn remove_other_versions(&self, dir: &Path, keep: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let ours = name.starts_with(PREFIX) || name.starts_with(&format!(".{PREFIX}"));
            if ours && entry.path() != keep {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %entry.path().display(), "removed an old nats-server")
                    }
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an old nats-server")
                    }
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> Bundled {
        const BYTES: &[u8] = b"#!/bin/sh\necho 'nats-server: v2.12.4'\n";
        // A pin that does not match BYTES; `with_real_hash` gives the one that does.
        Bundled {
            version: "2.12.4",
            sha256: "be7e3dd7e1f8d5b2e8cbe7c1f5f0fb0e2e3f74f5d3a1b4d2f9bd85a6fb8d7a39",
            bytes: BYTES,
        }
    }

    fn with_real_hash(mut b: Bundled) -> Bundled {
        let hash: &'static str = Box::leak(hex(&Sha256::digest(b.bytes)).into_boxed_str());
        b.sha256 = hash;
        b
    }

    #[test]
    fn installs_once_replaces_damage_and_removes_old_versions() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("nats-server-2.11.0"), b"old").unwrap();
        fs::write(bin.join(".nats-server-2.12.4.999.tmp"), b"torn").unwrap();
        fs::write(bin.join("notes.txt"), b"someone else's").unwrap();
        let bundled = with_real_hash(fake());

        let path = bundled.install(&bin).unwrap();
        assert_eq!(path, bin.join("nats-server-2.12.4"));
        assert_eq!(fs::read(&path).unwrap(), bundled.bytes);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let mut left: Vec<_> = fs::read_dir(&bin)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["nats-server-2.12.4", "notes.txt"]);

        // An intact copy is kept as it is; a damaged one is written again.
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        bundled.install(&bin).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
        fs::write(&path, b"damaged").unwrap();
        bundled.install(&bin).unwrap();
        assert_eq!(fs::read(&path).unwrap(), bundled.bytes);
    }

    #[test]
    fn a_wrong_pin_never_counts_as_intact() {
        let dir = tempfile::tempdir().unwrap();
        let bundled = fake();
        let path = dir.path().join("nats-server-2.12.4");
        fs::write(&path, bundled.bytes).unwrap();
        assert!(!bundled.is_intact(&path).unwrap());
        assert!(!bundled.is_intact(&dir.path().join("missing")).unwrap());
    }

    #[test]
    fn an_unwritable_dir_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"").unwrap();
        assert!(with_real_hash(fake()).install(&file.join("bin")).is_err());
    }
}
