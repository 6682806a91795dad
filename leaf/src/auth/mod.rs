//! Who may do what: TD accounts with PINs, signed tokens, viewer links, login rate limits.
//!
//! - [`AuthService`] (`service`): sign-in, token checks and viewer-link issuance; the only
//!   door handlers use.
//! - [`pin`]: PIN rules and argon2id hashing.
//! - `tokens`: the signing key and the JWTs it mints and checks.
//! - [`limiter`]: sign-in attempts per client address and per name.
//! - [`pin_checks`]: the bounded pool that runs argon2 for sign-ins.
//! - `link_id`: the id of a viewer link.
//! - `rights`: when a token's rights end (revoked, expired), for the sockets opened with it.
//!
//! A verified token becomes a [`Principal`]: a TD (every mutation, every tournament) or a
//! viewer (read-only, exactly one tournament). On the central reader, which serves venues'
//! copies to anyone, every caller is the tokenless [`Principal::Public`]. Handlers ask the
//! principal, never the token.

pub mod limiter;
mod link_id;
pub mod pin;
pub mod pin_checks;
mod rights;
mod service;
mod tokens;

pub use self::limiter::LoginLimiter;
pub use self::link_id::{InvalidLinkId, LinkId};
pub use self::pin::{InvalidPin, Pin};
pub use self::rights::{OUTSIDE_CHANGES_EVERY, RightsEnd};
pub use self::service::{AuthService, Issued, IssuedLink};
pub use self::tokens::{Role, TokenKeys, unix_now};
use crate::event::TournamentId;
use crate::store::StoreError;

/// How long a TD's sign-in lasts: a long tournament night.
pub const TD_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(16 * 3600);
/// How long a viewer link works: a tournament weekend.
pub const VIEWER_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A TD account: its name, and the id of the account (a name removed and added again is
    /// another account, whose tokens the old ones are not).
    Td { name: String, account: String },
    Viewer {
        link: String,
        tournament: TournamentId,
    },
    /// Anyone, on the central reader (see [`crate::central`]): reads every tournament of the
    /// venue copies it serves, writes nothing. No token is ever issued for it. `from` is the
    /// client's address, whose share of the read budget its reads take.
    Public { from: Option<std::net::IpAddr> },
}

impl Principal {
    pub fn is_td(&self) -> bool {
        matches!(self, Principal::Td { .. })
    }

    /// Whether this principal may read `tournament`.
    pub fn may_read(&self, tournament: TournamentId) -> bool {
        match self {
            Principal::Td { .. } | Principal::Public { .. } => true,
            Principal::Viewer { tournament: t, .. } => *t == tournament,
        }
    }

    /// Whether this principal may read every tournament, and list them.
    pub fn may_read_all(&self) -> bool {
        matches!(self, Principal::Td { .. } | Principal::Public { .. })
    }

    /// The name recorded in audit records.
    pub fn actor(&self) -> String {
        match self {
            Principal::Td { name, .. } => format!("td:{name}"),
            Principal::Viewer { link, .. } => format!("viewer:{link}"),
            Principal::Public { from: Some(ip) } => format!("public:{ip}"),
            Principal::Public { from: None } => "public".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token: sign in and send it as `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has expired: sign in again")]
    Expired,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("this token may not do that")]
    Forbidden,
    #[error("this token was revoked: its TD account or viewer link no longer exists")]
    Revoked,
    #[error("unknown name or wrong PIN")]
    BadCredentials,
    #[error("too many sign-in attempts; retry in {0} s")]
    RateLimited(u64),
    /// The accounts and links in leaf.db could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("auth: {0}")]
    Internal(String),
}
