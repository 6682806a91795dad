//! LazyFS: a FUSE filesystem for the power-loss suite. It keeps written data in memory until
//! the writer fsyncs it and, on [`LazyFs::power_cut`], throws away everything that was not
//! synced — the method of Jepsen's LazyFS, which found that nats-server with its default
//! `sync_interval` loses acknowledged writes on power failure. A plain kill -9 cannot show
//! that, because the OS page cache outlives the process; this can.
//!
//! [`tree`] holds the rules and is tested without FUSE; [`fuse`] serves it to the kernel.

mod fuse;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::{BackgroundSession, Config, MountOption, SessionACL};

use self::fuse::Fuse;
pub use self::tree::Stats;
use self::tree::Tree;
use crate::HarnessError;

/// A mounted LazyFS. Dropping it unmounts.
pub struct LazyFs {
    tree: Arc<Mutex<Tree>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl LazyFs {
    /// Mounts an empty LazyFS at `mountpoint` (created if missing).
    pub fn mount(mountpoint: &Path) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(mountpoint)
            .map_err(|e| HarnessError::Fuse(format!("{}: {e}", mountpoint.display())))?;
        if !Path::new("/dev/fuse").exists() {
            return Err(HarnessError::Fuse(
                "/dev/fuse is missing: the power-loss suite needs FUSE (a kernel with fuse, and \
                 `apt-get install fuse3`)"
                    .into(),
            ));
        }
        let tree = Arc::new(Mutex::new(Tree::new()));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("leaf-lazyfs".into()),
            MountOption::Subtype("lazyfs".into()),
            MountOption::RW,
            MountOption::DefaultPermissions,
        ];
        // The Docker engine, not this process, opens the mount for the container.
        config.acl = SessionACL::All;
        // One thread: FUSE requests are applied in the order the kernel sent them.
        config.n_threads = Some(1);
        let session = fuser::spawn_mount(Fuse { tree: tree.clone() }, mountpoint, &config)
            .map_err(|e| {
                HarnessError::Fuse(format!("mounting at {}: {e}", mountpoint.display()))
            })?;
        Ok(Self {
            tree,
            mountpoint: mountpoint.to_owned(),
            session: Some(session),
        })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Everything written since the last fsync of each file is gone, as after a power cut.
    /// Call it only once the writer is dead.
    pub fn power_cut(&self) {
        self.tree
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .power_cut();
    }

    pub fn stats(&self) -> Stats {
        self.tree.lock().unwrap_or_else(|e| e.into_inner()).stats()
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Some(session) = self.session.take()
            && let Err(e) = session.umount_and_join()
        {
            eprintln!("lazyfs: unmounting {}: {e}", self.mountpoint.display());
        }
    }
}
