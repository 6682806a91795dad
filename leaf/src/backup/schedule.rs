//! Scheduled backups (`--backup-dir`, `--backup-every`, `--backup-keep`): taken by the running
//! leaf into `leaf-backup-<UTC time>` directories, the oldest removed beyond the number kept,
//! and reported in health: the age and size of the last good one, and a warning when one
//! failed or none came when due.
//!
//! A backup cut short (leaf killed, the disk full) leaves only a hidden `.…partial-…`
//! directory, removed at the next start; the last good backup stays the last good one.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::format::Manifest;
use super::{PARTIAL, read_manifest};
use crate::log::JetStreamLog;
use crate::store::Store;
use crate::world::rfc3339_millis;

/// The name of every scheduled backup begins with it.
pub const PREFIX: &str = "leaf-backup-";
/// The first backup after a start, when the backup dir has none yet.
const FIRST_AFTER: Duration = Duration::from_secs(30);
/// After a failed backup, the next try comes after this or `every`, whichever is sooner.
const RETRY_AFTER: Duration = Duration::from_secs(300);

/// `--backup-every`: a whole number and a unit, `s`, `m`, `h` or `d` (`90s`, `30m`, `1h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupEvery(Duration);

impl BackupEvery {
    const MIN: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl Default for BackupEvery {
    fn default() -> Self {
        Self(Duration::from_secs(3600))
    }
}

impl FromStr for BackupEvery {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("{s:?} has no unit: write it like 30m, 1h or 2d"))?;
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{s:?}: a whole number and a unit, like 30m, 1h or 2d"))?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("{s:?}: the unit is s, m, h or d")),
        };
        let every = Duration::from_secs(n.saturating_mul(seconds));
        if !(Self::MIN..=Self::MAX).contains(&every) {
            return Err(format!("{s:?}: between 10s and 30d"));
        }
        Ok(Self(every))
    }
}

/// Where and how often.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

/// What health shows of backups.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupHealth {
    /// `off` (no `--backup-dir`), `ok`, or `warning`: the last attempt failed, or no backup
    /// came when due. Never down: leaf works without backups.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_good: Option<GoodBackup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<FailedBackup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GoodBackup {
    pub name: String,
    pub taken_at: String,
    pub age_s: u64,
    pub bytes: u64,
    pub messages: u64,
    /// How long it took, when this leaf run took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedBackup {
    pub at: String,
    pub error: String,
}

/// The scheduled backups of this leaf run, as health sees them. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Backups {
    inner: Option<Arc<Scheduled>>,
}

#[derive(Debug)]
struct Scheduled {
    schedule: Schedule,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_good: Option<Good>,
    /// The last failure, when it came after the last good backup.
    last_error: Option<(SystemTime, String)>,
}

#[derive(Debug, Clone)]
struct Good {
    name: String,
    at: SystemTime,
    manifest_bytes: u64,
    messages: u64,
    took: Option<Duration>,
}

impl Backups {
    /// No `--backup-dir`.
    pub fn off() -> Self {
        Self::default()
    }

    /// Backups on `schedule`, which [`Backups::spawn`] then takes. The backup dir is created
    /// now, so a `--backup-dir` leaf cannot write is an error at start, not at the first
    /// backup.
    pub fn scheduled(schedule: Schedule) -> Result<Self, super::BackupError> {
        crate::datadir::create_private_dir(&schedule.dir)
            .map_err(|e| super::io_error(&schedule.dir, e))?;
        let probe = schedule.dir.join(format!(".{PREFIX}write-check"));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| super::io_error(&schedule.dir, e))?;
        Ok(Self {
            inner: Some(Arc::new(Scheduled {
                schedule,
                state: Mutex::default(),
            })),
        })
    }

    pub fn health(&self) -> BackupHealth {
        let Some(scheduled) = &self.inner else {
            return BackupHealth {
                state: "off",
                dir: None,
                every_s: None,
                keep: None,
                last_good: None,
                last_error: None,
                message: None,
            };
        };
        let schedule = &scheduled.schedule;
        let state = scheduled.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        let age = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        let last_good = state.last_good.as_ref().map(|g| GoodBackup {
            name: g.name.clone(),
            taken_at: rfc3339_millis(OffsetDateTime::from(g.at)),
            age_s: age(g.at).as_secs(),
            bytes: g.manifest_bytes,
            messages: g.messages,
            took_ms: g.took.map(|t| t.as_millis() as u64),
        });
        let last_error = state.last_error.as_ref().map(|(at, error)| FailedBackup {
            at: rfc3339_millis(OffsetDateTime::from(*at)),
            error: error.clone(),
        });
        // Late: no good backup within two periods (and a first one's grace, and as long as
        // the last one took: a big log's backup can take longer than a short period).
        let late = state.last_good.as_ref().is_some_and(|g| {
            age(g.at) > 2 * schedule.every + FIRST_AFTER + g.took.unwrap_or_default()
        });
        let message = match (&last_error, late) {
            (Some(failed), _) => Some(format!(
                "the last backup failed ({}); leaf tries again within {} s",
                failed.error,
                RETRY_AFTER.min(schedule.every).as_secs()
            )),
            (None, true) => Some(format!(
                "no backup for over {} s, though one is due every {} s",
                2 * schedule.every.as_secs(),
                schedule.every.as_secs()
            )),
            (None, false) => None,
        };
        BackupHealth {
            state: if message.is_some() { "warning" } else { "ok" },
            dir: Some(schedule.dir.display().to_string()),
            every_s: Some(schedule.every.as_secs()),
            keep: Some(schedule.keep),
            last_good,
            last_error,
            message,
        }
    }

    /// Takes the backups until `stop`; nothing when off.
    pub fn spawn(
        &self,
        log: Arc<JetStreamLog>,
        data_dir: PathBuf,
        stop: CancellationToken,
    ) -> Option<JoinHandle<()>> {
        let scheduled = self.inner.clone()?;
        Some(tokio::spawn(async move {
            scheduled.run(&log, &data_dir, stop).await;
        }))
    }
}

impl Scheduled {
    async fn run(&self, log: &JetStreamLog, data_dir: &Path, stop: CancellationToken) {
        let dir = self.schedule.dir.clone();
        let found = tokio::task::spawn_blocking(move || {
            super::reap_partials(&dir);
            newest_backup(&dir)
        })
        .await
        .ok()
        .flatten();
        let mut next = match &found {
            Some(good) => good.at + self.schedule.every,
            None => SystemTime::now() + FIRST_AFTER.min(self.schedule.every),
        };
        self.lock().last_good = found;
        loop {
            let wait = next
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let attempt = tokio::select! {
                () = stop.cancelled() => return,
                attempt = self.take_one(log, data_dir) => attempt,
            };
            next = match attempt {
                Ok(good) => {
                    tracing::info!(
                        name = %good.name,
                        bytes = good.manifest_bytes,
                        messages = good.messages,
                        ms = good.took.map(|t| t.as_millis() as u64),
                        "backup taken"
                    );
                    let at = good.at;
                    let good_took = good.took.unwrap_or_default();
                    {
                        let mut state = self.lock();
                        state.last_good = Some(good);
                        state.last_error = None;
                    }
                    let took = good_took;
                    self.remove_old().await;
                    // Never back to back: after a backup longer than the period, leaf rests
                    // as long as it took, so appends run beside a backup at most half the time.
                    (at + self.schedule.every).max(SystemTime::now() + took)
                }
                Err(e) => {
                    tracing::warn!(error = %e, dir = %self.schedule.dir.display(), "backup failed");
                    self.lock().last_error = Some((SystemTime::now(), e.to_string()));
                    SystemTime::now() + RETRY_AFTER.min(self.schedule.every)
                }
            };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn take_one(
        &self,
        log: &JetStreamLog,
        data_dir: &Path,
    ) -> Result<Good, super::BackupError> {
        let at = SystemTime::now();
        let stamp = OffsetDateTime::from(at);
        let name = format!(
            "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            stamp.year(),
            u8::from(stamp.month()),
            stamp.day(),
            stamp.hour(),
            stamp.minute(),
            stamp.second()
        );
        // Its own connection to leaf.db: leaf's queries never wait behind the copy.
        let store = Store::open(&data_dir.join(super::format::DATABASE)).await?;
        let taken = super::take(
            log,
            &store,
            data_dir,
            &self.schedule.dir.join(&name),
            rfc3339_millis(stamp),
        )
        .await;
        store.close().await;
        let taken = taken?;
        Ok(Good {
            name,
            at,
            manifest_bytes: taken.manifest.bytes(),
            messages: taken.manifest.messages(),
            took: Some(taken.took),
        })
    }

    /// Beyond the newest `keep`, scheduled backups go, oldest first. Only directories named
    /// and made as leaf's backups are touched.
    async fn remove_old(&self) {
        let dir = self.schedule.dir.clone();
        let keep = self.schedule.keep;
        let _ = tokio::task::spawn_blocking(move || {
            let mut names = backup_names(&dir);
            names.sort();
            let excess = names.len().saturating_sub(keep);
            for name in names.into_iter().take(excess) {
                let path = dir.join(&name);
                if read_manifest(&path).is_err() {
                    continue;
                }
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => tracing::info!(%name, "removed an old backup"),
                    Err(e) => tracing::warn!(%name, error = %e, "cannot remove an old backup"),
                }
            }
        })
        .await;
    }
}

/// Names of the scheduled backups in `dir`, in no order.
fn backup_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(PREFIX) && !name.contains(PARTIAL))
        .collect()
}

/// The newest backup in `dir` whose manifest reads (its files are checked by a restore).
fn newest_backup(dir: &Path) -> Option<Good> {
    let mut names = backup_names(dir);
    names.sort();
    names.into_iter().rev().find_map(|name| {
        let manifest = read_manifest(&dir.join(&name)).ok()?;
        Some(Good {
            at: taken_at(&manifest)?,
            name,
            manifest_bytes: manifest.bytes(),
            messages: manifest.messages(),
            took: None,
        })
    })
}

fn taken_at(manifest: &Manifest) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(
        &manifest.taken_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(SystemTime::from(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_with_their_unit_and_within_bounds() {
        for (text, seconds) in [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172_800)] {
            assert_eq!(
                text.parse::<BackupEvery>().unwrap().duration(),
                Duration::from_secs(seconds)
            );
        }
        for bad in [
            "",
            "1",
            "h",
            "5s",
            "31d",
            "1.5h",
            "-1h",
            "1w",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<BackupEvery>().is_err(), "{bad:?}");
        }
    }
}
