//! Writing a backup's big files without a writeback storm.
//!
//! Left to itself, the kernel keeps a backup's writes in memory (on a box with gigabytes of
//! RAM, all of a 700 MB backup) and writes them out in bursts: at its own writeback intervals,
//! and all at once at the final `fsync`. While a burst of hundreds of megabytes is in the
//! disk's queue, every append's `fsync` (nats-server's `sync_interval: always`) waits behind
//! it, and a TD's append takes tens of milliseconds instead of a few.
//!
//! [`Steady`] writes out each [`STEP`] as soon as it is complete (`sync_file_range`), and before
//! sending the next waits for the one before it to be on disk. So at most one step of the
//! backup is ever in the disk's queue, the backup goes at the pace the disk takes it beside
//! the appends, and the final `fsync` (still done, and still what makes the file durable) has
//! almost nothing left to do.
//!
//! A kernel or sandbox without `sync_file_range` refuses the very first call, which only
//! starts writeback; then the file is written as any other. Any error of a later call is a
//! write error of the file, and is returned: the final `fsync` would no longer see it.

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
    /// `sync_file_range` is refused here: plain writes.
    unsupported: bool,
}

impl Steady {
    pub fn new(file: File) -> Self {
        Self {
            file,
            written: 0,
            sent: 0,
            settled: 0,
            unsupported: false,
        }
    }

    /// The file, for its final `fsync`.
    pub fn into_file(self) -> File {
        self.file
    }

    /// Sends the completed step to the disk, after waiting for the one before it.
    fn send(&mut self) -> io::Result<()> {
        if self.unsupported || self.written - self.sent < STEP {
            return Ok(());
        }
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
        let first = self.sent == 0;
        match sync_range(
            &self.file,
            self.sent,
            self.written - self.sent,
            libc::SYNC_FILE_RANGE_WRITE,
        ) {
            Ok(()) => {}
            Err(e)
                if first
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP)
                    ) =>
            {
                self.unsupported = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.sent = self.written;
        Ok(())
    }
}

impl Write for Steady {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A completed step goes out before more is written, so an error here has written
        // nothing of `buf`.
        self.send()?;
        // No step grows past STEP, however big the write (BufWriter passes big ones through).
        let room = (STEP - (self.written - self.sent).min(STEP)).max(1);
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.file.write(&buf[..take])?;
        self.written += n as u64;
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
    if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
        // Written as half steps, then one write of three steps at once.
        let half = vec![7u8; (STEP / 2) as usize];
        for _ in 0..5 {
            steady.write_all(&half).unwrap();
        }
        assert_eq!(steady.written, 5 * STEP / 2);
        assert_eq!(steady.sent, 2 * STEP, "two whole steps sent");
        assert_eq!(steady.settled, STEP, "the one before the last waited for");
        let big = vec![7u8; (3 * STEP) as usize];
        assert!(
            steady.write(&big).unwrap() <= (STEP / 2) as usize,
            "no step grows past STEP"
        );
        steady.write_all(&big).unwrap();
        assert!(steady.written - steady.sent <= STEP);
        steady.into_file().sync_all().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len > 5 * STEP + STEP / 2);
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 7));
    }
}
