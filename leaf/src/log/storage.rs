//! How full the event log's store is: its size limit (the `--max-store` flag), what it holds,
//! the disk under it, and what health says of the three.
//!
//! nats-server refuses a publish past `max_file_store` ("insufficient resources") or on a full
//! disk ("no space left on device"), and in some of its write paths it then stops JetStream
//! altogether. None of it may surprise a venue: health warns from [`WARN_PERCENT`] of the
//! limit, or when the disk has less room than the limit still allows, and an append refused
//! for space is [`crate::log::LogError::StorageFull`], never a generic failure.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use super::EventLog;

/// Health warns from this share of the limit used.
pub const WARN_PERCENT: u64 = 80;
/// Below this much free disk, appends are expected to fail: the store counts as full.
pub const DISK_RESERVE: u64 = 16 * MIB;
/// Bytes one append takes in the store (its event and its audit record), measured by
/// `make load SCENARIO=history`; for the estimates in health and the flag's help.
pub const BYTES_PER_APPEND: u64 = 610;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// The store's size limit, nats-server's `max_file_store`: at least 1 MiB and at most what
/// nats-server reads (a signed 64-bit count), written with an optional unit (`KB`, `MB`,
/// `GB`, `TB`: powers of 1024, as in nats-server's own `1GB`). leaf writes the bytes into the
/// server's config, so no unit reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimit(u64);

impl StoreLimit {
    pub const DEFAULT: StoreLimit = StoreLimit(GIB);
    const MIN: u64 = MIB;
    const MAX: u64 = i64::MAX as u64;

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The default, or `bytes` if larger (up to the most nats-server reads).
    pub fn at_least(bytes: u64) -> Self {
        Self(bytes.clamp(Self::DEFAULT.0, Self::MAX))
    }
}

impl Default for StoreLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for StoreLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (unit, size) in [("TB", TIB), ("GB", GIB), ("MB", MIB), ("KB", KIB)] {
            if self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for StoreLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let number: u64 = number.parse().map_err(|_| {
            format!("{s:?} is not a size: write a whole number with KB, MB, GB or TB, like 1GB")
        })?;
        let unit = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => KIB,
            "M" | "MB" | "MIB" => MIB,
            "G" | "GB" | "GIB" => GIB,
            "T" | "TB" | "TIB" => TIB,
            other => return Err(format!("{other:?} is not a unit: use KB, MB, GB or TB")),
        };
        let bytes = number
            .checked_mul(unit)
            .ok_or_else(|| format!("{s:?} is too large"))?;
        if bytes < Self::MIN {
            return Err(format!("{s:?} is below the smallest store, 1MB"));
        }
        if bytes > Self::MAX {
            return Err(format!("{s:?} is more than nats-server can take"));
        }
        Ok(Self(bytes))
    }
}

/// Free and total bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a path with a NUL byte"))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid C string and `stat` is writable memory of the right type;
    // statvfs fills it or fails.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let block = stat.f_frsize;
    Ok((
        stat.f_bavail.saturating_mul(block),
        stat.f_blocks.saturating_mul(block),
    ))
}

/// Where the log's store is and how large it may grow: what health measures against.
#[derive(Debug, Clone, Default)]
pub struct StoreSpace {
    pub limit: StoreLimit,
    /// The store's folder, whose filesystem's free space counts; `None` where there is no
    /// such folder (an external server, the in-memory logs of tests).
    pub dir: Option<PathBuf>,
}

impl StoreSpace {
    /// Measures the store and the disk now.
    pub async fn health(&self, log: &dyn EventLog) -> StorageHealth {
        let room = log.room().await;
        let disk = self.dir.as_deref().and_then(|dir| disk_space(dir).ok());
        StorageHealth::assess(self.limit, room.used_bytes, disk, room.refusing)
    }
}

/// What health says of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageState {
    Ok,
    /// From [`WARN_PERCENT`] of the limit or of the disk: appends still work; make room.
    Warning,
    /// Appends are refused (507 `storage_full`); reads and displays still work.
    Full,
}

/// The store's use against its limit, and the disk's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageHealth {
    pub ok: bool,
    pub state: StorageState,
    /// Bytes the event log's streams hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// `--max-store`.
    pub limit_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_percent: Option<u64>,
    /// About how many more appends fit, at [`BYTES_PER_APPEND`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appends_left: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_total_bytes: Option<u64>,
    /// Why the state is what it is, for the TD console's banner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StorageHealth {
    /// Classifies what was measured. `refusing`: the log refused an append for space and
    /// none has succeeded since.
    pub fn assess(
        limit: StoreLimit,
        used: Option<u64>,
        disk: Option<(u64, u64)>,
        refusing: bool,
    ) -> Self {
        let limit_bytes = limit.bytes();
        let used_percent = used.map(|u| u.saturating_mul(100) / limit_bytes.max(1));
        let room_in_limit = used.map(|u| limit_bytes.saturating_sub(u));
        let room_on_disk = disk.map(|(free, _)| free.saturating_sub(DISK_RESERVE));
        let room = match (room_in_limit, room_on_disk) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The disk would fill before the store reaches its limit.
        let disk_short = matches!(
            (room_on_disk, room_in_limit),
            (Some(disk), Some(limit)) if disk < limit
        );
        let (state, message) = if refusing
            || room_in_limit.is_some_and(|r| r < BYTES_PER_APPEND)
            || disk.is_some_and(|(free, _)| free < DISK_RESERVE)
        {
            (
                StorageState::Full,
                Some("the event log is full: new events are refused; free disk space or start leaf with a larger --max-store".to_owned()),
            )
        } else if used_percent.is_some_and(|p| p >= WARN_PERCENT) {
            (
                StorageState::Warning,
                Some(format!(
                    "the event log is {}% full ({} of {limit}); raise --max-store or move old history off this box",
                    used_percent.unwrap_or_default(),
                    human(used.unwrap_or_default()),
                )),
            )
        } else if disk_short {
            (
                StorageState::Warning,
                Some(format!(
                    "the disk has room for only {} of the event log's remaining {}; free disk space",
                    human(room_on_disk.unwrap_or_default()),
                    human(room_in_limit.unwrap_or_default()),
                )),
            )
        } else {
            (StorageState::Ok, None)
        };
        Self {
            ok: state != StorageState::Full,
            state,
            used_bytes: used,
            limit_bytes,
            used_percent,
            appends_left: room.map(|r| r / BYTES_PER_APPEND),
            disk_free_bytes: disk.map(|(free, _)| free),
            disk_total_bytes: disk.map(|(_, total)| total),
            message,
        }
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= GIB => format!("{:.1} GB", b as f64 / GIB as f64),
        b => format!("{:.0} MB", b as f64 / MIB as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_like_nats_server_writes_them() {
        assert_eq!("1GB".parse::<StoreLimit>().unwrap().bytes(), GIB);
        assert_eq!(" 512mb ".parse::<StoreLimit>().unwrap().bytes(), 512 * MIB);
        assert_eq!("2 TB".parse::<StoreLimit>().unwrap().bytes(), 2 * TIB);
        assert_eq!("1048576".parse::<StoreLimit>().unwrap().bytes(), MIB);
        for bad in [
            "",
            "GB",
            "1.5GB",
            "-1GB",
            "1PB",
            "10KB",
            "99999999999TB",
            "1 G B",
            "9000000TB",
        ] {
            assert!(bad.parse::<StoreLimit>().is_err(), "{bad:?}");
        }
        assert_eq!(StoreLimit::DEFAULT.to_string(), "1GB");
        assert_eq!(
            "1536MB".parse::<StoreLimit>().unwrap().to_string(),
            "1536MB"
        );
    }

    #[test]
    fn health_warns_from_80_percent_and_is_full_when_appends_cannot_fit() {
        let limit: StoreLimit = "100MB".parse().unwrap();
        let disk = Some((100 * GIB, 200 * GIB));
        let at = |used: u64| StorageHealth::assess(limit, Some(used), disk, false);
        assert_eq!(at(79 * MIB).state, StorageState::Ok);
        assert_eq!(at(79 * MIB).appends_left, Some(21 * MIB / BYTES_PER_APPEND));
        let warning = at(80 * MIB);
        assert_eq!((warning.state, warning.ok), (StorageState::Warning, true));
        assert!(warning.message.unwrap().contains("80%"));
        let full = at(100 * MIB - 10);
        assert_eq!((full.state, full.ok), (StorageState::Full, false));

        let refused = StorageHealth::assess(limit, Some(MIB), disk, true);
        assert_eq!(refused.state, StorageState::Full, "the log said so");

        let small_disk = StorageHealth::assess(limit, Some(MIB), Some((10 * MIB, GIB)), false);
        assert_eq!(small_disk.state, StorageState::Full);
        let busy_disk = StorageHealth::assess(limit, Some(MIB), Some((50 * MIB, 10 * GIB)), false);
        assert_eq!(busy_disk.state, StorageState::Warning);
        assert!(busy_disk.message.unwrap().contains("34 MB"));
        assert_eq!(busy_disk.appends_left, Some(34 * MIB / BYTES_PER_APPEND));
        let big_full_disk = StorageHealth::assess(limit, Some(MIB), Some((GIB, 100 * GIB)), false);
        assert_eq!(
            big_full_disk.state,
            StorageState::Ok,
            "99% used, but room for the limit"
        );

        let unknown = StorageHealth::assess(limit, None, None, false);
        assert_eq!(
            (unknown.state, unknown.appends_left),
            (StorageState::Ok, None)
        );
    }

    #[test]
    fn the_disk_under_a_path_is_measured() {
        let (free, total) = disk_space(Path::new("/")).unwrap();
        assert!(total > 0 && free <= total);
        assert!(disk_space(Path::new("/no/such/dir")).is_err());
    }
}
