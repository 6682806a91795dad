//! A small filesystem of the suite's own (a tmpfs with a size), for filling a disk without
//! touching the machine's: what a venue box does when its disk runs out. Needs root, as the
//! other suites need Docker and FUSE.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::HarnessError;

/// A mounted tmpfs; dropping it unmounts.
pub struct SmallDisk {
    mountpoint: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes` at `mountpoint` (created if missing).
    pub fn mount(mountpoint: &Path, megabytes: u64) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(mountpoint)
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", mountpoint.display())))?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0700"),
                "tmpfs",
            ])
            .arg(mountpoint)
            .output()
            .map_err(|e| HarnessError::Setup(format!("mount: {e}")))?;
        if !out.status.success() {
            return Err(HarnessError::Setup(format!(
                "mounting a {megabytes} MB tmpfs at {} failed (the disk-full suite needs root): {}",
                mountpoint.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Self {
            mountpoint: mountpoint.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Writes `name` until the filesystem is full (ENOSPC); the bytes it took.
    pub fn fill(&self, name: &str) -> Result<u64, HarnessError> {
        let path = self.mountpoint.join(name);
        let mut file = std::fs::File::create(&path)
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", path.display())))?;
        let chunk = vec![0xA5u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(HarnessError::Setup(format!("{}: {e}", path.display()))),
            }
        }
        Ok(written)
    }

    /// Removes what [`SmallDisk::fill`] wrote.
    pub fn free(&self, name: &str) -> Result<(), HarnessError> {
        let path = self.mountpoint.join(name);
        std::fs::remove_file(&path)
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", path.display())))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there must not keep the mount forever.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
    }
}
