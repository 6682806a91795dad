//! [`Tree`] served over FUSE. Every reply uses a zero TTL and direct I/O: the kernel caches
//! neither attributes nor pages, so what nats-server reads after a power cut is exactly what
//! the tree kept, and every write and fsync reaches the tree.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::tree::{Attr, FsError, Kind, Tree};

const TTL: Duration = Duration::ZERO;

pub(super) struct Fuse {
    pub(super) tree: Arc<Mutex<Tree>>,
}

impl Fuse {
    fn tree(&self) -> MutexGuard<'_, Tree> {
        // A panic inside one FUSE call must not take the filesystem down with it.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn errno(e: FsError) -> Errno {
    Errno::from_i32(e.errno())
}

fn file_attr(attr: &Attr, req_uid: u32, req_gid: u32) -> FileAttr {
    let kind = match attr.kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    };
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: attr.mtime,
        mtime: attr.mtime,
        ctime: attr.ctime,
        crtime: attr.ctime,
        kind,
        perm: attr.perm,
        nlink: if attr.kind == Kind::Dir { 2 } else { 1 },
        uid: req_uid,
        gid: req_gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn perm(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}

impl Filesystem for Fuse {
    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.tree().lookup(parent.0, name) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a, req.uid(), req.gid()), Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.tree().attr(ino.0) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a, req.uid(), req.gid())),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut tree = self.tree();
        let result = (|| {
            if let Some(mode) = mode {
                tree.set_perm(ino.0, (mode & 0o7777) as u16)?;
            }
            if let Some(size) = size {
                tree.set_len(ino.0, size)?;
            }
            tree.attr(ino.0)
        })();
        match result {
            Ok(a) => reply.attr(&TTL, &file_attr(&a, req.uid(), req.gid())),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self.tree().mkdir(parent.0, name, perm(mode, umask)) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a, req.uid(), req.gid()), Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.tree().create(parent.0, name, perm(mode, umask)) {
            Ok(a) => reply.created(
                &TTL,
                &file_attr(&a, req.uid(), req.gid()),
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.tree().attr(ino.0) {
            Ok(a) if a.kind == Kind::Dir => reply.error(Errno::EISDIR),
            // O_TRUNC reaches us as a setattr with size 0.
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.tree().read(ino.0, offset, size) {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut tree = self.tree();
        let written = tree.write(ino.0, offset, data).and_then(|n| {
            // A file opened O_SYNC or O_DSYNC is synced by every write. With direct I/O the
            // kernel sends no fsync for it; the flag arrives with the write instead. (nats-server
            // writes a stream's meta.inf this way.)
            if flags.0 & libc::O_DSYNC != 0 {
                tree.sync(ino.0)?;
            }
            Ok(n)
        });
        match written {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(errno(e)),
        }
    }

    // close(2) is not a durability point.
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.tree().sync(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.tree().attr(ino.0) {
            Ok(a) if a.kind == Kind::Dir => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.tree().entries(ino.0) {
            Ok(entries) => entries,
            Err(e) => return reply.error(errno(e)),
        };
        // "." and ".." first; the kernel resolves ".." itself, so the inode there is unused.
        let dots = [
            (ino.0, FileType::Directory, OsStr::new(".").to_owned()),
            (ino.0, FileType::Directory, OsStr::new("..").to_owned()),
        ];
        let all = dots
            .into_iter()
            .chain(entries.into_iter().map(|(name, ino, kind)| {
                let kind = match kind {
                    Kind::File => FileType::RegularFile,
                    Kind::Dir => FileType::Directory,
                };
                (ino, kind, name)
            }));
        // `offset` is the cookie handed out with the last entry the kernel took.
        for (i, (ino, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    // Namespace changes are durable at once in this model (see the tree's docs).
    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.tree().unlink(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.tree().rmdir(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return reply.error(Errno::EINVAL);
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self
            .tree()
            .rename(parent.0, name, new_parent.0, new_name, no_replace)
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // JetStream checks free space at start: report a roomy disk.
        reply.statfs(1 << 24, 1 << 24, 1 << 24, 1 << 20, 1 << 20, 4096, 255, 4096);
    }
}
