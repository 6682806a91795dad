//! When rights end: a viewer link deleted, a TD removed (by `leaf td remove`, from another
//! process), a token expired. A WebSocket is held to the rights it was opened with: it is
//! closed within about a second of them ending ([`AuthService::until_rights_end`]), not left
//! to receive events until it happens to reconnect.
//!
//! Changes are noticed without asking leaf.db about every socket all the time. A revocation
//! through leaf itself bumps a revision at once; one made in leaf.db by another process is
//! noticed by polling SQLite's `data_version` every [`OUTSIDE_CHANGES_EVERY`]. On each new
//! revision every open socket asks whether its principal still holds, and the answer is
//! looked up once per principal, not once per socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{AuthError, AuthService, Principal, unix_now};
use crate::store::StoreError;

/// How often leaf looks for changes that `leaf td` made to leaf.db from outside: the longest
/// a removed TD's open sockets may go on.
pub const OUTSIDE_CHANGES_EVERY: Duration = Duration::from_millis(500);

/// Why a socket's rights ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightsEnd {
    /// Its TD account or viewer link no longer exists.
    Revoked,
    /// Its token expired.
    Expired,
}

/// The revision of everyone's rights, and what was found at the current one.
#[derive(Debug)]
pub(super) struct Revisions {
    current: watch::Sender<u64>,
    /// (revision, principal → still valid) for the latest revision looked at.
    checked: Mutex<(u64, HashMap<String, bool>)>,
}

impl Default for Revisions {
    fn default() -> Self {
        Self {
            current: watch::Sender::new(0),
            checked: Mutex::new((0, HashMap::new())),
        }
    }
}

impl Revisions {
    /// Someone's rights may have ended: every open socket checks its own.
    pub(super) fn bump(&self) {
        self.current.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// One key per principal for the cache: what [`AuthService::still_valid`] depends on.
fn key(principal: &Principal) -> String {
    match principal {
        Principal::Td { name, account } => format!("td:{name}:{account}"),
        Principal::Viewer { link, tournament } => format!("viewer:{link}:{tournament}"),
    }
}

impl AuthService {
    /// Resolves when `principal`'s rights end: revoked, or its token (valid until
    /// `expires_at`, seconds since the epoch) expired. Never, while they hold.
    pub async fn until_rights_end(&self, principal: &Principal, expires_at: u64) -> RightsEnd {
        let left = Duration::from_secs(expires_at.saturating_sub(unix_now()));
        let expiry = tokio::time::Instant::now() + left;
        let mut revisions = self.revisions.current.subscribe();
        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(expiry) => return RightsEnd::Expired,
                changed = revisions.changed() => {
                    if changed.is_err() {
                        // The service is gone (leaf is stopping): only expiry is left.
                        tokio::time::sleep_until(expiry).await;
                        return RightsEnd::Expired;
                    }
                    let revision = *revisions.borrow_and_update();
                    // A database that cannot answer revokes nobody: the next revision asks
                    // again.
                    if let Ok(false) = self.still_valid_at(principal, revision).await {
                        return RightsEnd::Revoked;
                    }
                }
            }
        }
    }

    /// [`AuthService::still_valid`], looked up once per principal per revision.
    async fn still_valid_at(
        &self,
        principal: &Principal,
        revision: u64,
    ) -> Result<bool, AuthError> {
        let key = key(principal);
        {
            let checked = self
                .revisions
                .checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if checked.0 == revision
                && let Some(valid) = checked.1.get(&key)
            {
                return Ok(*valid);
            }
        }
        let valid = self.still_valid(principal).await?;
        let mut checked = self
            .revisions
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if checked.0 != revision {
            *checked = (revision, HashMap::new());
        }
        checked.1.insert(key, valid);
        Ok(valid)
    }

    /// Polls leaf.db for changes made by another process (`leaf td remove`), bumping the
    /// revision when there are any, until the service is dropped or the database closed.
    pub fn watch_outside_changes(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                let Some(service) = service.upgrade() else {
                    return;
                };
                // Read at once, then every interval: a change made after leaf started is
                // never taken for the starting point.
                match service.store.data_version().await {
                    Ok(version) => {
                        if seen.is_some_and(|seen| seen != version) {
                            tracing::debug!(
                                "leaf.db was changed by another process; checking open sockets' rights"
                            );
                            service.revisions.bump();
                        }
                        seen = Some(version);
                    }
                    Err(StoreError::Closed) => return,
                    Err(e) => tracing::warn!(error = %e, "cannot look for changes to leaf.db"),
                }
                drop(service);
                tokio::time::sleep(OUTSIDE_CHANGES_EVERY).await;
            }
        });
    }
}
