//! What the running uplink keeps in the data dir: its status, for `leaf uplink status`, and
//! the verdict that a central copy diverged from this venue's streams, which must outlive a
//! restart (nothing seen later clears it: the copy stays wrong until a person replaces it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::UplinkStatus;
use crate::log::StreamName;

/// The status, rewritten as it changes (at most every [`STATUS_EVERY`] for its timestamps).
pub const STATUS: &str = "uplink-status.json";
/// One stream name a line: copies that hold other messages than the venue's.
pub const DIVERGED: &str = "uplink-diverged";
/// How often a status that changed only in its times is written again.
const STATUS_EVERY: Duration = Duration::from_secs(5);

pub struct Files {
    status: PathBuf,
    diverged: PathBuf,
    /// What was last written, without its times, and when.
    written: Option<(String, Instant)>,
}

impl Files {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            status: data_dir.join(STATUS),
            diverged: data_dir.join(DIVERGED),
            written: None,
        }
    }

    /// The streams found diverged before, by this run or an earlier one.
    pub fn diverged(&self) -> Vec<StreamName> {
        std::fs::read_to_string(&self.diverged)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| StreamName::parse(line.trim()))
            .collect()
    }

    pub fn keep_diverged(&self, stream: StreamName) -> std::io::Result<()> {
        let mut streams = self.diverged();
        if streams.contains(&stream) {
            return Ok(());
        }
        streams.push(stream);
        let text: String = streams
            .iter()
            .map(|s| format!("{}\n", s.as_str()))
            .collect();
        write_atomically(&self.diverged, text.as_bytes())
    }

    /// Writes the status when it changed, or its times are [`STATUS_EVERY`] old. A status
    /// that cannot be written is only a stale `leaf uplink status`: logged, not fatal.
    pub fn write_status(&mut self, status: &UplinkStatus) {
        let timeless = UplinkStatus {
            last_contact: None,
            ..status.clone()
        };
        let key = serde_json::to_string(&timeless).unwrap_or_default();
        let fresh = self
            .written
            .as_ref()
            .is_some_and(|(k, at)| *k == key && at.elapsed() < STATUS_EVERY);
        if fresh {
            return;
        }
        let written = serde_json::to_vec_pretty(&Written {
            written_at: crate::world::rfc3339_millis(time::OffsetDateTime::now_utc()),
            status,
        })
        .map_err(std::io::Error::other)
        .and_then(|text| write_atomically(&self.status, &text));
        match written {
            Ok(()) => self.written = Some((key, Instant::now())),
            Err(e) => {
                tracing::debug!(path = %self.status.display(), error = %e, "cannot write the uplink status")
            }
        }
    }
}

#[derive(serde::Serialize)]
struct Written<'a> {
    written_at: String,
    status: &'a UplinkStatus,
}

/// The status a running leaf wrote, and when it wrote it.
#[derive(Debug, serde::Deserialize)]
pub struct StatusFile {
    pub written_at: String,
    pub status: serde_json::Value,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diverged_verdict_is_kept_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::in_data_dir(dir.path());
        assert!(files.diverged().is_empty());
        files.keep_diverged(StreamName::State).unwrap();
        files.keep_diverged(StreamName::State).unwrap();
        files.keep_diverged(StreamName::Audit).unwrap();
        assert_eq!(
            Files::in_data_dir(dir.path()).diverged(),
            [StreamName::State, StreamName::Audit]
        );
    }

    #[test]
    fn the_status_is_written_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::in_data_dir(dir.path());
        let mut status = UplinkStatus::new("east".parse().unwrap(), "central".into());
        files.write_status(&status);
        let first = std::fs::read_to_string(dir.path().join(STATUS)).unwrap();
        status.last_contact = Some("later".into());
        files.write_status(&status);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(STATUS)).unwrap(),
            first
        );
        status.connected = true;
        files.write_status(&status);
        let read: StatusFile =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(STATUS)).unwrap())
                .unwrap();
        assert_eq!(read.status["connected"], true);
    }
}
