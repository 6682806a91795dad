//! What the running uplink keeps in the data dir: its status, for `leaf uplink status`, and
//! the verdict that a central copy diverged from this venue's streams, which must outlive a
//! restart (nothing seen later clears it: the copy stays wrong until a person replaces it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Target, UplinkStatus};
use crate::log::StreamName;

/// The status: rewritten when the link, `ok`, the warning or whether the copies have caught
/// up change, else at most every [`STATUS_EVERY`] (its seqs move with every append).
pub const STATUS: &str = "uplink-status.json";
/// Copies that hold other messages than the venue's, one a line: `<venue id> <central domain>
/// <stream> <the copy's creation time, unix ns>`, so a verdict about one copy never sticks to
/// another (a venue id corrected, a venue moved to another central cluster, a copy deleted
/// and made again).
pub const DIVERGED: &str = "uplink-diverged";
/// How often a status that changed only in its times is written again.
const STATUS_EVERY: Duration = Duration::from_secs(1);

pub struct Files {
    status: PathBuf,
    diverged: PathBuf,
    /// What was last written, without its times, and when.
    written: Option<(String, Instant)>,
    /// Whether the last write failed: said once in the log, not at every look.
    failing: bool,
}

impl Files {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            status: data_dir.join(STATUS),
            diverged: data_dir.join(DIVERGED),
            written: None,
            failing: false,
        }
    }

    /// The copies of `target` found diverged before, by this run or an earlier one, each with
    /// the creation time of the copy the verdict is about. A file that cannot be read is
    /// logged and read as none: the verdict is found again by the next compare.
    pub fn diverged(&self, target: &Target) -> Vec<Verdict> {
        let lines = match self.verdicts() {
            Ok(lines) => lines,
            Err(e) => {
                tracing::warn!(path = %self.diverged.display(), error = %e, "cannot read the uplink's diverged verdicts");
                return Vec::new();
            }
        };
        lines
            .iter()
            .filter_map(|line| {
                let mut words = line.split(' ');
                let of_target = words.next() == Some(target.venue.as_str())
                    && words.next() == Some(target.central_domain.as_str());
                if !of_target {
                    return None;
                }
                let stream = words.next().and_then(StreamName::parse)?;
                let copy_created = words.next()?.parse().ok()?;
                Some(Verdict {
                    stream,
                    copy_created,
                })
            })
            .collect()
    }

    pub fn keep_diverged(&self, target: &Target, verdict: Verdict) -> std::io::Result<()> {
        let line = verdict_line(target, verdict);
        let mut lines = self.verdicts()?;
        if lines.contains(&line) {
            return Ok(());
        }
        lines.push(line);
        self.write_verdicts(&lines)
    }

    /// The copy was made anew on the central side: the verdicts about `stream`'s copies of
    /// `target` are void.
    pub fn drop_diverged(&self, target: &Target, stream: StreamName) -> std::io::Result<()> {
        let prefix = format!(
            "{} {} {} ",
            target.venue,
            target.central_domain,
            stream.as_str()
        );
        let lines = self.verdicts()?;
        if !lines.iter().any(|l| l.starts_with(&prefix)) {
            return Ok(());
        }
        let kept: Vec<String> = lines
            .into_iter()
            .filter(|l| !l.starts_with(&prefix))
            .collect();
        self.write_verdicts(&kept)
    }

    /// Every verdict line, of every target. A file that exists but cannot be read is an
    /// error, never read as empty: writing then would lose the verdicts it holds.
    fn verdicts(&self) -> std::io::Result<Vec<String>> {
        let text = match std::fs::read_to_string(&self.diverged) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }

    fn write_verdicts(&self, lines: &[String]) -> std::io::Result<()> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        write_atomically(&self.diverged, text.as_bytes(), true)
    }

    /// Writes the status when it changed in what a person acts on, or is [`STATUS_EVERY`]
    /// old. A status that cannot be written is only a stale `leaf uplink status`: logged,
    /// not fatal.
    pub fn write_status(&mut self, status: &UplinkStatus) {
        // What a person acts on, and whether the copies have caught up.
        let caught_up = status.streams.values().all(|copy| copy.lacks == 0);
        let key = format!(
            "{} {} {:?} {caught_up}",
            status.connected, status.ok, status.warning
        );
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
        .and_then(|text| write_atomically(&self.status, &text, false));
        match written {
            Ok(()) => {
                self.written = Some((key, Instant::now()));
                self.failing = false;
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(path = %self.status.display(), error = %e, "cannot write the uplink status: leaf uplink status shows an old one");
                }
                self.failing = true;
            }
        }
    }
}

/// A central copy found holding other messages than the venue's at the same seqs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub stream: StreamName,
    /// When the copy was created (unix ns): a copy made again later is another copy.
    pub copy_created: i128,
}

fn verdict_line(target: &Target, verdict: Verdict) -> String {
    format!(
        "{} {} {} {}",
        target.venue,
        target.central_domain,
        verdict.stream.as_str(),
        verdict.copy_created
    )
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

/// Writes `path` whole or not at all (0600), through a temporary beside it. `sync`: the file
/// must survive a power cut whole (a verdict, the box name). The status is rewritten every
/// second; an fsync each time would only compete with the appends' own.
pub(super) fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
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
    if sync {
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if sync && let Some(dir) = path.parent() {
        // The rename itself reaches the disk only with its directory.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplink::status::StreamCopy;

    fn target(venue: &str, domain: &str) -> Target {
        Target {
            venue: venue.parse().unwrap(),
            central_domain: domain.into(),
            replicas: 3,
        }
    }

    #[test]
    fn a_diverged_verdict_is_kept_once_read_back_for_its_copy_only_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::in_data_dir(dir.path());
        let east = target("east", "central");
        let state = Verdict {
            stream: StreamName::State,
            copy_created: 1_764_000_000_123_456_789,
        };
        let audit = Verdict {
            stream: StreamName::Audit,
            copy_created: 7,
        };
        assert!(files.diverged(&east).is_empty());
        files.keep_diverged(&east, state).unwrap();
        files.keep_diverged(&east, state).unwrap();
        files.keep_diverged(&east, audit).unwrap();
        let again = Files::in_data_dir(dir.path());
        assert_eq!(again.diverged(&east), [state, audit]);
        assert!(again.diverged(&target("easst", "central")).is_empty());
        assert!(again.diverged(&target("east", "league")).is_empty());
        again.drop_diverged(&east, StreamName::State).unwrap();
        assert_eq!(again.diverged(&east), [audit]);
    }

    #[test]
    fn lines_leaf_did_not_write_are_skipped_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIVERGED);
        std::fs::write(
            &path,
            "east central STATE\n\ngarbage\neast central NOPE 5\neast central AUDIT x\neast central AUDIT 9\n",
        )
        .unwrap();
        let files = Files::in_data_dir(dir.path());
        let east = target("east", "central");
        assert_eq!(
            files.diverged(&east),
            [Verdict {
                stream: StreamName::Audit,
                copy_created: 9
            }]
        );
        files.drop_diverged(&east, StreamName::Audit).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "east central STATE\ngarbage\neast central NOPE 5\n"
        );
    }

    #[test]
    fn a_verdict_file_that_cannot_be_read_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIVERGED);
        // Not UTF-8: leaf did not write it, and must not replace it with less.
        std::fs::write(&path, b"east central STATE 1\n\xff\n").unwrap();
        let files = Files::in_data_dir(dir.path());
        let east = target("east", "central");
        assert!(files.diverged(&east).is_empty());
        let verdict = Verdict {
            stream: StreamName::Audit,
            copy_created: 2,
        };
        assert!(files.keep_diverged(&east, verdict).is_err());
        assert!(files.drop_diverged(&east, StreamName::State).is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"east central STATE 1\n\xff\n"
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
        // Within a second, only what a person acts on is written at once.
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
        // A copy that catches up is written at once too: "lacks 0" is what a person waits for.
        status
            .streams
            .insert(StreamName::Audit, StreamCopy::new(12, Some(10)));
        files.write_status(&status);
        status
            .streams
            .insert(StreamName::Audit, StreamCopy::new(12, Some(12)));
        files.write_status(&status);
        let read: StatusFile =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(STATUS)).unwrap())
                .unwrap();
        assert_eq!(read.status["streams"]["AUDIT"]["lacks"], 0);
    }
}
