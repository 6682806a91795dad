//! When rights end: a viewer link deleted, a TD removed (by `leaf td remove`, from another
//! process), a token expired. A WebSocket is held to the rights it was opened with: it is
//! closed within about a second of them ending ([`AuthService::until_rights_end`]), not left
//! to receive events until it happens to reconnect.
//!
//! Changes are noticed without asking leaf.db about every socket all the time. A revocation
//! through leaf itself bumps a revision at once; one made in leaf.db by another process is
//! noticed by polling SQLite's `data_version` every [`OUTSIDE_CHANGES_EVERY`]. On each new
//! revision every open socket asks whether its principal still holds; the first to ask looks
//! it up and the others with the same principal wait for that one answer, so a change costs
//! one query per principal, not one per socket. A lookup that fails is tried again a second
//! later, not left until the next change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OnceCell, watch};

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
    /// (revision, principal → its answer, once looked up) for the latest revision.
    checked: Mutex<(u64, Answers)>,
}

/// Per principal, its one lookup at a revision.
type Answers = HashMap<String, Arc<OnceCell<bool>>>;

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
        Principal::Public { .. } => "public".to_owned(),
    }
}

/// How long a socket waits to ask again when leaf.db could not answer whether its rights
/// hold.
const RECHECK_AFTER_ERROR: Duration = Duration::from_secs(1);

impl AuthService {
    /// The changes to everyone's rights, to take *before* a token is checked: a change
    /// between the check and [`AuthService::until_rights_end`] is then not missed.
    pub fn rights_changes(&self) -> watch::Receiver<u64> {
        self.revisions.current.subscribe()
    }

    /// Resolves when `principal`'s rights end: revoked, or its token (valid until
    /// `expires_at`, seconds since the epoch) expired. Never, while they hold. `changes`
    /// comes from [`AuthService::rights_changes`], taken before the token was checked.
    pub async fn until_rights_end(
        &self,
        principal: &Principal,
        expires_at: u64,
        mut changes: watch::Receiver<u64>,
    ) -> RightsEnd {
        let left = Duration::from_secs(expires_at.saturating_sub(unix_now()));
        let expiry = tokio::time::Instant::now() + left;
        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(expiry) => return RightsEnd::Expired,
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The service is gone (leaf is stopping): only expiry is left.
                        tokio::time::sleep_until(expiry).await;
                        return RightsEnd::Expired;
                    }
                }
            }
            loop {
                let revision = *changes.borrow_and_update();
                match self.still_valid_at(principal, revision).await {
                    Ok(true) => break,
                    Ok(false) => return RightsEnd::Revoked,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?RECHECK_AFTER_ERROR, "cannot check a socket's rights in leaf.db");
                        tokio::select! {
                            biased;
                            () = tokio::time::sleep_until(expiry) => return RightsEnd::Expired,
                            () = tokio::time::sleep(RECHECK_AFTER_ERROR) => {}
                        }
                    }
                }
            }
        }
    }

    /// [`AuthService::still_valid`], looked up once per principal per revision: concurrent
    /// askers of the same principal share the one lookup. A failed lookup is not kept.
    async fn still_valid_at(
        &self,
        principal: &Principal,
        revision: u64,
    ) -> Result<bool, AuthError> {
        let cell = {
            let mut checked = self
                .revisions
                .checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if checked.0 != revision {
                *checked = (revision, HashMap::new());
            }
            checked.1.entry(key(principal)).or_default().clone()
        };
        cell.get_or_try_init(|| self.still_valid(principal))
            .await
            .copied()
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
