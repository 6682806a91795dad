//! The in-memory filesystem behind [`super::LazyFs`], with no FUSE in it, so its rules can be
//! tested directly.
//!
//! The model is Jepsen's LazyFS: file *data* is durable only once the file is fsynced (or
//! fdatasynced); what was written since lives in a page cache that a power cut throws away.
//! Namespace operations (create, mkdir, rename, unlink) are durable at once, as on a
//! journalling filesystem that committed them; that makes the model kinder than real
//! hardware, so any loss it shows is loss of data the program never asked to be synced.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

pub type Ino = u64;
pub const ROOT: Ino = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("directory not empty")]
    NotEmpty,
    #[error("invalid argument")]
    Invalid,
}

impl FsError {
    pub fn errno(self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::Exists => libc::EEXIST,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::Invalid => libc::EINVAL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// What `stat` shows of a node.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

/// A write or truncation that no fsync has covered yet.
#[derive(Debug, Clone)]
enum Pending {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug)]
struct File {
    /// What readers see now: the page cache.
    live: Vec<u8>,
    /// What survives a power cut.
    durable: Vec<u8>,
    /// What turns `durable` into `live`, replayed by fsync: cheaper than copying a whole
    /// message block for every synced message.
    pending: Vec<Pending>,
}

#[derive(Debug)]
enum Body {
    File(File),
    Dir(BTreeMap<OsString, Ino>),
}

#[derive(Debug)]
struct Node {
    body: Body,
    perm: u16,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Node {
    fn new(body: Body, perm: u16) -> Self {
        let now = SystemTime::now();
        Self {
            body,
            perm,
            mtime: now,
            ctime: now,
        }
    }
}

/// Counters for the suite's report: how much the harness really threw away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub syncs: u64,
    pub power_cuts: u64,
    /// Bytes of written data that power cuts discarded.
    pub dropped_bytes: u64,
}

#[derive(Debug)]
pub struct Tree {
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
    stats: Stats,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    pub fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::new(Body::Dir(BTreeMap::new()), 0o755));
        Self {
            nodes,
            next_ino: ROOT + 1,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn attr(&self, ino: Ino) -> Result<Attr, FsError> {
        let node = self.nodes.get(&ino).ok_or(FsError::NotFound)?;
        let (kind, size) = match &node.body {
            Body::File(f) => (Kind::File, f.live.len() as u64),
            Body::Dir(entries) => (Kind::Dir, entries.len() as u64),
        };
        Ok(Attr {
            ino,
            kind,
            size,
            perm: node.perm,
            mtime: node.mtime,
            ctime: node.ctime,
        })
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr, FsError> {
        let ino = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        self.attr(ino)
    }

    /// Directory entries (name, ino, kind), sorted by name.
    pub fn entries(&self, dir: Ino) -> Result<Vec<(OsString, Ino, Kind)>, FsError> {
        let entries = self.dir(dir)?;
        Ok(entries
            .iter()
            .map(|(name, ino)| {
                let kind = match self.nodes.get(ino).map(|n| &n.body) {
                    Some(Body::Dir(_)) => Kind::Dir,
                    _ => Kind::File,
                };
                (name.clone(), *ino, kind)
            })
            .collect())
    }

    pub fn create(&mut self, parent: Ino, name: &OsStr, perm: u16) -> Result<Attr, FsError> {
        let file = File {
            live: Vec::new(),
            durable: Vec::new(),
            pending: Vec::new(),
        };
        self.insert(parent, name, Node::new(Body::File(file), perm))
    }

    pub fn mkdir(&mut self, parent: Ino, name: &OsStr, perm: u16) -> Result<Attr, FsError> {
        self.insert(parent, name, Node::new(Body::Dir(BTreeMap::new()), perm))
    }

    /// Removes a file's name. The node stays, so a handle that is still open keeps working, as
    /// on a real filesystem; nothing here lives long enough for that to matter.
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let ino = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        if matches!(self.nodes.get(&ino).map(|n| &n.body), Some(Body::Dir(_))) {
            return Err(FsError::IsDir);
        }
        self.dir_mut(parent)?.remove(name);
        Ok(())
    }

    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let ino = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        if !self.dir(ino)?.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.dir_mut(parent)?.remove(name);
        self.nodes.remove(&ino);
        Ok(())
    }

    /// rename(2): replaces a file at the target, refuses to put a directory over a file or a
    /// non-empty directory.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), FsError> {
        let ino = *self.dir(parent)?.get(name).ok_or(FsError::NotFound)?;
        self.dir(new_parent)?;
        if let Some(&existing) = self.dir(new_parent)?.get(new_name) {
            if existing == ino {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            let moving_dir = matches!(self.nodes[&ino].body, Body::Dir(_));
            match (
                &self.nodes.get(&existing).ok_or(FsError::NotFound)?.body,
                moving_dir,
            ) {
                (Body::Dir(_), false) => return Err(FsError::IsDir),
                (Body::Dir(entries), true) if !entries.is_empty() => {
                    return Err(FsError::NotEmpty);
                }
                (Body::File(_), true) => return Err(FsError::NotDir),
                _ => {}
            }
        }
        self.dir_mut(parent)?.remove(name);
        self.dir_mut(new_parent)?.insert(new_name.to_owned(), ino);
        Ok(())
    }

    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<&[u8], FsError> {
        let data = &self.file(ino)?.live;
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        Ok(&data[start..end])
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<u32, FsError> {
        let offset = usize::try_from(offset).map_err(|_| FsError::Invalid)?;
        let node = self.nodes.get_mut(&ino).ok_or(FsError::NotFound)?;
        let Body::File(file) = &mut node.body else {
            return Err(FsError::IsDir);
        };
        write_at(&mut file.live, offset, data);
        file.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        node.mtime = SystemTime::now();
        self.stats.writes += 1;
        Ok(data.len() as u32)
    }

    pub fn set_len(&mut self, ino: Ino, len: u64) -> Result<(), FsError> {
        let len = usize::try_from(len).map_err(|_| FsError::Invalid)?;
        let node = self.nodes.get_mut(&ino).ok_or(FsError::NotFound)?;
        let Body::File(file) = &mut node.body else {
            return Err(FsError::IsDir);
        };
        file.live.resize(len, 0);
        file.pending.push(Pending::SetLen(len));
        node.mtime = SystemTime::now();
        Ok(())
    }

    pub fn set_perm(&mut self, ino: Ino, perm: u16) -> Result<(), FsError> {
        let node = self.nodes.get_mut(&ino).ok_or(FsError::NotFound)?;
        node.perm = perm;
        node.ctime = SystemTime::now();
        Ok(())
    }

    /// fsync(2) and fdatasync(2): the file's data so far survives a power cut.
    pub fn sync(&mut self, ino: Ino) -> Result<(), FsError> {
        let node = self.nodes.get_mut(&ino).ok_or(FsError::NotFound)?;
        if let Body::File(file) = &mut node.body {
            for op in file.pending.drain(..) {
                match op {
                    Pending::Write { offset, data } => write_at(&mut file.durable, offset, &data),
                    Pending::SetLen(len) => file.durable.resize(len, 0),
                }
            }
        }
        self.stats.syncs += 1;
        Ok(())
    }

    /// The power goes out: every file falls back to what was last synced.
    pub fn power_cut(&mut self) {
        self.stats.power_cuts += 1;
        for node in self.nodes.values_mut() {
            if let Body::File(file) = &mut node.body {
                let dropped: usize = file
                    .pending
                    .drain(..)
                    .map(|op| match op {
                        Pending::Write { data, .. } => data.len(),
                        Pending::SetLen(_) => 0,
                    })
                    .sum();
                self.stats.dropped_bytes += dropped as u64;
                file.live.clone_from(&file.durable);
            }
        }
    }

    fn insert(&mut self, parent: Ino, name: &OsStr, node: Node) -> Result<Attr, FsError> {
        if name.is_empty() || name == "." || name == ".." {
            return Err(FsError::Invalid);
        }
        if self.dir(parent)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        self.dir_mut(parent)?.insert(name.to_owned(), ino);
        self.attr(ino)
    }

    fn dir(&self, ino: Ino) -> Result<&BTreeMap<OsString, Ino>, FsError> {
        match &self.nodes.get(&ino).ok_or(FsError::NotFound)?.body {
            Body::Dir(entries) => Ok(entries),
            Body::File(_) => Err(FsError::NotDir),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut BTreeMap<OsString, Ino>, FsError> {
        match &mut self.nodes.get_mut(&ino).ok_or(FsError::NotFound)?.body {
            Body::Dir(entries) => Ok(entries),
            Body::File(_) => Err(FsError::NotDir),
        }
    }

    fn file(&self, ino: Ino) -> Result<&File, FsError> {
        match &self.nodes.get(&ino).ok_or(FsError::NotFound)?.body {
            Body::File(file) => Ok(file),
            Body::Dir(_) => Err(FsError::IsDir),
        }
    }
}

/// pwrite(2) into a buffer: extends with zeros past the end.
fn write_at(buf: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(data);
}

#[cfg(test)]
mod tests;
