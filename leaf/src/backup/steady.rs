//! Writing a backup's big files without a writeback storm.
//!
//! Left to itself, the kernel keeps a backup's writes in memory (on a box with gigabytes of
//! RAM, all of a 700 MB backup) and writes them out in bursts: at its own writeback intervals,
//! and all at once at the final `fsync`. While a burst of hundreds of megabytes is in the
//! disk's queue, every append's `fsync` (nats-server's `sync_interval: always`) waits behind
//! it, and a TD's append takes tens of milliseconds instead of a few.
//!
//! [`Steady`] writes out each [`STEP`] as soon as it is complete (`sync_file_range`), and before
//! going on waits for the step before it to be on disk. So at most two steps of the backup are
//! ever in the disk's queue, the backup goes at the pace the disk takes it beside the appends,
//! and the final `fsync` has almost nothing left to do.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// How much is written before it is sent to the disk.
pub const STEP: u64 = 256 << 10;

/// A file written out step by step as it grows.
pub struct Steady {
    file: File,
    written: u64,
    /// Everything before this has been sent to the disk.
    sent: u64,
    /// Everything before this is on the disk.
    settled: u64,
}

impl Steady {
    pub fn new(file: File) -> Self {
        Self {
            file,
            written: 0,
            sent: 0,
            settled: 0,
        }
    }

    /// The file, for its final `fsync`.
    pub fn into_file(self) -> File {
        self.file
    }

    fn send(&mut self) -> io::Result<()> {
        // The step before last: wait until it is on disk, so the queue never grows.
        if self.sent > self.settled {
            sync_range(
                &self.file,
                self.settled,
                self.sent - self.settled,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )?;
            self.settled = self.sent;
        }
        // The step just completed: start writing it, without waiting.
        sync_range(
            &self.file,
            self.sent,
            self.written - self.sent,
            libc::SYNC_FILE_RANGE_WRITE,
        )?;
        self.sent = self.written;
        Ok(())
    }
}

impl Write for Steady {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.sent >= STEP {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn sync_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(()); // past 8 EiB: the final fsync covers it
    };
    // SAFETY: sync_file_range(2) on a descriptor this `File` owns; it reads no memory of ours.
    let done = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if done == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // A filesystem without it (some network and FUSE ones): the final fsync does the work.
        Some(libc::ENOSYS | libc::EINVAL | libc::ESPIPE | libc::EOPNOTSUPP) => Ok(()),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_written_is_in_the_file_and_sent_step_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut steady = Steady::new(File::create(&path).unwrap());
        let half = vec![7u8; (STEP / 2) as usize];
        for _ in 0..5 {
            steady.write_all(&half).unwrap();
        }
        assert_eq!(steady.written, 5 * STEP / 2);
        assert_eq!(steady.sent, 2 * STEP, "two whole steps sent");
        assert_eq!(steady.settled, STEP, "the one before the last waited for");
        steady.into_file().sync_all().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5 * STEP / 2);
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 7));
    }
}
