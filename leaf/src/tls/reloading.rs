//! The certificate leaf serves, swapped in when its files change.
//!
//! A venue's certificate is renewed by something else (certbot, a script, or `leaf tls
//! self-signed` run again), which replaces the files under a running leaf. leaf looks at both
//! files every [`CHECK_EVERY`] (two `stat`s), and when either changed (size, mtime, inode or
//! ctime: a renamed-in file or a retargeted symlink counts) it loads the pair again. Each TLS
//! handshake takes the certificate current at that moment, so open connections, WebSockets
//! included, keep going on the one they began with, and the next connection gets the new one.
//!
//! A pair that does not load keeps the old certificate in service: a renewal writes two files
//! one after the other, so a moment where they do not match is normal and is only retried. A
//! pair still failing at the next look is a warning in the log and in health. So is a
//! certificate within [`RENEW_WITHIN`] of its end: a box nobody looks at would otherwise
//! greet every TD with a browser error one Saturday.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::certified::{TlsError, load};

/// How often the files are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long before its end a certificate is a warning in health.
pub const RENEW_WITHIN: time::Duration = time::Duration::days(30);

/// The certificate in service, and what became of the last attempts to change it.
#[derive(Debug)]
pub struct ServedCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    status: Mutex<Status>,
}

#[derive(Debug)]
struct Status {
    /// The files as last looked at; a change of this is what triggers a load.
    seen: Option<Fingerprint>,
    loaded_at: OffsetDateTime,
    /// The end of the served certificate's validity, when it can be read.
    not_after: Option<OffsetDateTime>,
    reloads: u64,
    /// The last failed load of changed files, and whether it has been said in the log.
    failure: Option<(String, bool)>,
}

/// What health shows of TLS.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TlsHealth {
    /// `off` (plain HTTP), `ok`, or `warning`: the files changed to something leaf cannot
    /// use, so it still serves the certificate it had.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// When the certificate in service was loaded (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<String>,
    /// When the certificate in service stops being valid (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Certificates loaded since leaf started, after the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reloads: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TlsHealth {
    pub fn off() -> Self {
        Self {
            state: "off",
            cert: None,
            loaded_at: None,
            expires_at: None,
            reloads: None,
            message: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint([(u64, i64, i64, u64, i64, i64); 2]);

fn fingerprint(cert: &Path, key: &Path) -> Option<Fingerprint> {
    let one = |path: &Path| {
        let m = std::fs::metadata(path).ok()?;
        Some((
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ino(),
            m.ctime(),
            m.ctime_nsec(),
        ))
    };
    Some(Fingerprint([one(cert)?, one(key)?]))
}

impl ServedCert {
    /// Loads the pair; an error here stops leaf from starting, with the reason.
    pub fn load(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<Self>, TlsError> {
        let seen = fingerprint(cert, key);
        let certified = load(cert, key, &provider)?;
        let not_after = expiry(&certified);
        warn_if_ending(cert, not_after);
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(certified),
            status: Mutex::new(Status {
                seen,
                loaded_at: OffsetDateTime::now_utc(),
                not_after,
                reloads: 0,
                failure: None,
            }),
        }))
    }

    /// Looks at the files once, and loads them if they changed; whether a new certificate
    /// went into service.
    pub fn check(&self) -> bool {
        let now = fingerprint(&self.cert, &self.key);
        let (changed, failing) = {
            let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            (now != status.seen, status.failure.is_some())
        };
        // Files that failed are tried at every look: a write that ends without changing what
        // `stat` shows (a coarse clock, a rewrite in place) must not leave them failed for good.
        if !changed && !failing {
            return false;
        }
        // Read without the lock: health must never wait on a slow disk.
        let loaded = load(&self.cert, &self.key, &self.provider);
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.seen = now;
        match loaded {
            Ok(certified) => {
                status.not_after = expiry(&certified);
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = certified;
                status.loaded_at = OffsetDateTime::now_utc();
                status.reloads += 1;
                status.failure = None;
                tracing::info!(cert = %self.cert.display(), "loaded the changed TLS certificate; new connections get it");
                warn_if_ending(&self.cert, status.not_after);
                true
            }
            Err(e) => {
                match status.failure.as_mut() {
                    // The same files failing again: no renewal in progress, so say it, once.
                    Some((message, said)) if !changed => {
                        *message = e.to_string();
                        if !*said {
                            tracing::warn!(cert = %self.cert.display(), error = %message, "the TLS certificate files changed, but leaf cannot use them; still serving the previous certificate");
                            *said = true;
                        }
                    }
                    // Just changed: likely a renewal between its two files; looked at again.
                    _ => status.failure = Some((e.to_string(), false)),
                }
                false
            }
        }
    }

    pub fn health(&self) -> TlsHealth {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let now = OffsetDateTime::now_utc();
        let failed = status
            .failure
            .as_ref()
            .filter(|(_, said)| *said)
            .map(|(message, _)| {
                format!("{message}; still serving the certificate loaded at start or last reload")
            });
        let ending = status
            .not_after
            .filter(|end| *end - now < RENEW_WITHIN)
            .map(|end| {
                let when = crate::world::rfc3339_millis(end);
                let what = if end < now {
                    format!("the certificate ended on {when}: browsers refuse it")
                } else {
                    format!("the certificate ends on {when}")
                };
                format!("{what}; renew it (`leaf tls self-signed` again, or from your CA) and leaf loads the new files by itself")
            });
        let message = match (failed, ending) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        TlsHealth {
            state: if message.is_some() { "warning" } else { "ok" },
            cert: Some(self.cert.display().to_string()),
            loaded_at: Some(crate::world::rfc3339_millis(status.loaded_at)),
            expires_at: status.not_after.map(crate::world::rfc3339_millis),
            reloads: Some(status.reloads),
            message,
        }
    }

    /// Checks the files every [`CHECK_EVERY`] until `stop`.
    pub fn watch(self: Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let served = self.clone();
                // Two stats and, rarely, a few KB read: off the async threads all the same.
                let _ = tokio::task::spawn_blocking(move || served.check()).await;
            }
        })
    }
}

/// Says in the log when a certificate just loaded is near its end (health says it too).
fn warn_if_ending(cert: &Path, not_after: Option<OffsetDateTime>) {
    if let Some(end) = not_after
        && end - OffsetDateTime::now_utc() < RENEW_WITHIN
    {
        tracing::warn!(cert = %cert.display(), ends = %crate::world::rfc3339_millis(end), "the TLS certificate is at or near its end: renew it (`leaf tls self-signed` again, or from your CA)");
    }
}

/// The end of validity of the served (first) certificate of the chain.
fn expiry(certified: &CertifiedKey) -> Option<OffsetDateTime> {
    let first = certified.cert.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(first).ok()?;
    Some(parsed.validity().not_after.to_datetime())
}

impl ResolvesServerCert for ServedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for localhost, valid until `now + days`, in `dir`.
    fn pair(dir: &Path, days: i64) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn a_certificate_near_its_end_is_a_warning_with_the_date() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), 400);
        let served = ServedCert::load(&cert, &key, crate::tls::provider()).unwrap();
        let health = served.health();
        assert_eq!(health.state, "ok", "{health:?}");
        assert!(health.expires_at.is_some());

        let (cert, key) = pair(dir.path(), 10);
        assert!(served.check(), "the changed pair was loaded");
        let health = served.health();
        assert_eq!(health.state, "warning");
        let message = health.message.unwrap();
        assert!(message.contains("ends on"), "{message}");
        assert_eq!(health.reloads, Some(1));
        drop((cert, key));
    }

    #[test]
    fn a_pair_that_stops_loading_keeps_the_old_one_and_warns_once_it_stays_so() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), 400);
        let served = ServedCert::load(&cert, &key, crate::tls::provider()).unwrap();
        let before = served.current.read().unwrap().clone();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(!served.check());
        // The first failed look is a renewal in progress, not yet a warning.
        assert_eq!(served.health().state, "ok");
        assert!(!served.check());
        let health = served.health();
        assert_eq!(health.state, "warning");
        assert!(health.message.unwrap().contains("key.pem"));
        assert!(Arc::ptr_eq(&before, &served.current.read().unwrap()));
    }
}
