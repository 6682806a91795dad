//! The auth service: the one owner of sign-in, token checks and viewer-link issuance, so the
//! handlers that need them stay thin and the rules (same answer for unknown names and wrong
//! PINs, revocation checked on every use) live in one place.

use std::net::IpAddr;
use std::time::Duration;

use super::pin_checks::PinChecks;
use super::rights::Revisions;
use super::{AuthError, LinkId, LoginLimiter, Pin, Principal, TD_TOKEN_TTL, TokenKeys, pin};
use crate::event::{OperatorName, TournamentId};
use crate::store::{Store, ViewerLink};

/// A token and when it stops working (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires_at: u64,
}

/// A viewer link as it was issued: its token, the join URL that carries it, and that URL as a
/// QR code (SVG) for a TD to show at a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    pub id: LinkId,
    pub token: String,
    pub url: String,
    pub expires_at: u64,
    pub qr_svg: String,
}

/// Sign-in, token checks and viewer links; built once in `app`.
#[derive(Debug)]
pub struct AuthService {
    keys: TokenKeys,
    limiter: LoginLimiter,
    pin_checks: PinChecks,
    pub(super) revisions: Revisions,
    /// TD accounts and viewer links: a token is only as good as the row behind it.
    pub(super) store: Store,
}

impl AuthService {
    pub fn new(keys: TokenKeys, store: Store) -> Self {
        Self {
            keys,
            limiter: LoginLimiter::default(),
            pin_checks: PinChecks::default(),
            revisions: Revisions::default(),
            store,
        }
    }

    /// The signing key, for tests and tools that mint or read tokens themselves.
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// A TD's name and PIN for a TD token. Unknown names, malformed input and wrong PINs all
    /// answer [`AuthError::BadCredentials`], after the same work, so an answer tells a guesser
    /// nothing about which names exist. Attempts are limited per address and per name (see
    /// [`LoginLimiter`]), and PIN checks run on a small bounded pool: past it, 429 at once.
    pub async fn login(
        &self,
        name: &str,
        pin: &str,
        from: Option<IpAddr>,
    ) -> Result<Issued, AuthError> {
        let name = name.parse::<OperatorName>().ok();
        if let Err(retry) = self.limiter.attempt(from, name.as_ref()) {
            // Rounded up: a client that waits exactly this long is let through.
            let seconds = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
            return Err(AuthError::RateLimited(seconds.max(1)));
        }
        let stored = match &name {
            Some(name) => self.store.operator_credentials(name).await?,
            None => None,
        };
        let (hash, account) = stored.unzip();
        let pin = Pin::new(pin).ok();
        let matches = self
            .pin_checks
            .run(move || {
                let checked = hash.as_deref().unwrap_or_else(|| pin::decoy_hash());
                pin.is_some_and(|pin| pin.verify(checked)) && hash.is_some()
            })
            .await
            .map_err(|_| AuthError::RateLimited(1))?
            .ok_or_else(|| AuthError::Internal("the PIN check failed".into()))?;
        let (name, account) = match (name, account) {
            (Some(name), Some(account)) if matches => (name, account),
            _ => {
                // Already counted as a failure when the attempt was let through.
                tracing::info!(addr = ?from, "failed sign-in");
                return Err(AuthError::BadCredentials);
            }
        };
        self.limiter.succeeded(&name);
        // The token names the account whose PIN was checked: if that account was removed
        // meanwhile, the token is refused at its first use.
        let principal = Principal::Td {
            name: name.to_string(),
            account,
        };
        let (token, expires_at) = self.keys.issue(&principal, TD_TOKEN_TTL)?;
        tracing::info!(td = %name, "TD signed in");
        Ok(Issued { token, expires_at })
    }

    /// Who a token speaks for, checked now: its signature and expiry, and that the TD account
    /// or the viewer link behind it still exists, so `leaf td remove` and deleting a link take
    /// effect at once.
    pub async fn authorize(&self, token: &str) -> Result<Principal, AuthError> {
        Ok(self.authorize_until(token).await?.0)
    }

    /// [`AuthService::authorize`], and when the token expires (seconds since the epoch): a
    /// socket opened with it is closed then (see [`AuthService::until_rights_end`]).
    pub async fn authorize_until(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let (principal, expires_at) = self.keys.verify_until(token)?;
        if !self.still_valid(&principal).await? {
            return Err(AuthError::Revoked);
        }
        Ok((principal, expires_at))
    }

    /// Whether the TD account or the viewer link behind `principal` still exists.
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, AuthError> {
        Ok(match principal {
            Principal::Td { name, account } => {
                let name = name.parse().map_err(|_| AuthError::Malformed)?;
                self.store.operator_account(&name).await?.as_ref() == Some(account)
            }
            Principal::Viewer { link, tournament } => self
                .store
                .viewer_link(link)
                .await?
                .is_some_and(|l| l.tournament == *tournament),
            Principal::Public { .. } => true,
        })
    }

    /// A new read-only link for `tournament`, valid for `ttl`, opening the web app's display
    /// page at `origin` (`https://` and the address the TD reached leaf by). Recorded in
    /// leaf.db, so it can be revoked.
    pub async fn issue_viewer_link(
        &self,
        tournament: TournamentId,
        ttl: Duration,
        origin: &str,
        by: &Principal,
    ) -> Result<IssuedLink, AuthError> {
        let id = LinkId::new_random();
        let viewer = Principal::Viewer {
            link: id.to_string(),
            tournament,
        };
        let (token, expires_at) = self.keys.issue(&viewer, ttl)?;
        let url = format!("{origin}/display/{tournament}?token={token}");
        // Before the link is stored: a link nobody could be shown must not exist.
        let qr_svg = crate::qr::svg(&url).map_err(|e| AuthError::Internal(e.to_string()))?;
        let link = ViewerLink {
            id: id.to_string(),
            tournament,
            url: url.clone(),
            expires_at,
        };
        self.store.add_viewer_link(&link, &by.actor()).await?;
        tracing::info!(%tournament, link = %id, "viewer link created");
        Ok(IssuedLink {
            id,
            token,
            url,
            expires_at,
            qr_svg,
        })
    }

    /// Deletes a viewer link; its token stops working at once. `false` if there was none.
    pub async fn revoke_viewer_link(
        &self,
        tournament: TournamentId,
        link: &str,
        by: &Principal,
    ) -> Result<bool, AuthError> {
        let removed = self.store.remove_viewer_link(tournament, link).await?;
        if removed {
            // Its open sockets close now, not at their next reconnect.
            self.revisions.bump();
            tracing::info!(%tournament, link = %link, td = %by.actor(), "viewer link revoked");
        }
        Ok(removed)
    }

    /// Tournament `tournament`'s viewer link `link`, if it exists.
    pub async fn viewer_link(
        &self,
        tournament: TournamentId,
        link: &str,
    ) -> Result<Option<ViewerLink>, AuthError> {
        Ok(self
            .store
            .viewer_link(link)
            .await?
            .filter(|l| l.tournament == tournament))
    }
}
