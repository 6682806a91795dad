//! How the venue's server signs in to the central cluster, read from `--uplink-credentials`.
//!
//! A file, never a flag value: a secret on the command line is readable by every local user
//! in `/proc`. Its contents say what it is: a `.creds` file (a user JWT and its seed, what
//! a NATS operator hands out) stays a file the server reads; an nkey seed or a
//! `user:password` / token line goes into the server's config file, which is 0600.

use std::path::{Path, PathBuf};

/// What the remote entry of the server's config carries.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteAuth {
    /// Nothing beyond what the URLs carry.
    None,
    /// A NATS credentials file (JWT and seed), named in the config as `credentials`.
    CredsFile(PathBuf),
    /// An nkey seed (`SU…`), written into the config as `nkey`.
    Nkey(String),
    /// Put into every URL's user info. A token is sent as a user without a password, which
    /// nats-server also takes as a token.
    User {
        user: String,
        password: String,
    },
    Token(String),
}

impl std::fmt::Debug for RemoteAuth {
    /// Never the secrets: they must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::CredsFile(path) => f.debug_tuple("CredsFile").field(path).finish(),
            Self::Nkey(_) => f.write_str("Nkey(…)"),
            Self::User { user, .. } => f
                .debug_struct("User")
                .field("user", user)
                .finish_non_exhaustive(),
            Self::Token(_) => f.write_str("Token(…)"),
        }
    }
}

/// Why a credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the credentials {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the credentials {path} {why}")]
    Unusable { path: PathBuf, why: &'static str },
}

/// A creds file is small; anything bigger was named by mistake.
const MAX_BYTES: u64 = 64 * 1024;

impl RemoteAuth {
    pub fn read(path: &Path) -> Result<Self, CredentialsError> {
        let read_error = |source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        };
        let unusable = |why| CredentialsError::Unusable {
            path: path.to_owned(),
            why,
        };
        let metadata = std::fs::metadata(path).map_err(read_error)?;
        if !metadata.is_file() {
            return Err(unusable("is not a regular file"));
        }
        if metadata.len() > MAX_BYTES {
            return Err(unusable("is larger than 64 KiB: not a credentials file"));
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Self::parse(&text, path).map_err(unusable)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, &'static str> {
        if text.contains("-----BEGIN NATS USER JWT-----") {
            if !text.contains("-----BEGIN USER NKEY SEED-----") {
                return Err("holds a JWT but no user seed");
            }
            // nats-server reads it itself, at every connect: an absolute path survives the
            // server running from another directory.
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            return Ok(Self::CredsFile(absolute));
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let [line] = lines.as_slice() else {
            return Err(
                "must be a .creds file, an nkey seed, or one line of user:password or a token",
            );
        };
        if !line.chars().all(|c| c.is_ascii_graphic()) {
            return Err("holds spaces or characters other than visible ASCII");
        }
        if line.starts_with("SU") && line.len() == 58 {
            return Ok(Self::Nkey((*line).to_owned()));
        }
        match line.split_once(':') {
            Some(("", _)) => Err("has an empty user before ':'"),
            Some((_, "")) => Err("has an empty password after ':'"),
            Some((user, password)) => Ok(Self::User {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
            None => Ok(Self::Token((*line).to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RemoteAuth, &'static str> {
        RemoteAuth::parse(text, Path::new("/etc/leaf/uplink.creds"))
    }

    #[test]
    fn each_kind_is_told_by_its_contents() {
        let creds = "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAM\n------END USER NKEY SEED------\n";
        assert_eq!(
            parse(creds),
            Ok(RemoteAuth::CredsFile("/etc/leaf/uplink.creds".into()))
        );
        let seed = format!("SU{}", "A".repeat(56));
        assert_eq!(parse(&format!("{seed}\n")), Ok(RemoteAuth::Nkey(seed)));
        assert_eq!(
            parse("venue-1:s3cret:with:colons\n"),
            Ok(RemoteAuth::User {
                user: "venue-1".into(),
                password: "s3cret:with:colons".into()
            })
        );
        assert_eq!(parse("  tok3n \n"), Ok(RemoteAuth::Token("tok3n".into())));
    }

    #[test]
    fn anything_else_is_refused_with_what_it_should_be() {
        for text in [
            "",
            "\n\n",
            "a\nb\n",
            "user:",
            ":password",
            "has space",
            "-----BEGIN NATS USER JWT-----\neyJ0\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let shown = format!(
            "{:?} {:?} {:?}",
            RemoteAuth::Token("tok3n".into()),
            RemoteAuth::Nkey("SUseed".into()),
            RemoteAuth::User {
                user: "u".into(),
                password: "pw9".into()
            }
        );
        assert!(!shown.contains("tok3n") && !shown.contains("SUseed") && !shown.contains("pw9"));
    }

    #[test]
    fn a_directory_or_a_huge_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RemoteAuth::read(dir.path()).is_err());
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70_000]).unwrap();
        let err = RemoteAuth::read(&big).unwrap_err().to_string();
        assert!(err.contains("64 KiB"), "{err}");
    }
}
