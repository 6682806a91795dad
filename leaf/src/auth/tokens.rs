//! Signed tokens (JWT, HS256): who is asking, and for what.
//!
//! The signing key is 32 random bytes made at the first start into `<data-dir>/jwt.key`
//! (mode 0600) and never logged, so tokens survive restarts of leaf and only this box can
//! mint them. Verification accepts HS256 alone: a token with `alg: none` or any other
//! algorithm is rejected before its claims are read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthError, Principal};
use crate::event::TournamentId;

const KEY_LEN: usize = 32;

/// What a token may do. The claims carry it; [`Principal`] is what handlers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A Tournament Director: every mutation, every tournament.
    Td,
    /// A display or phone: read-only, exactly one tournament.
    Viewer,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The TD's name, or the viewer link's id.
    sub: String,
    role: Role,
    /// The one tournament a viewer may read; absent for a TD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<TournamentId>,
    /// A TD's account id; absent for a viewer (and in tokens from before accounts had ids,
    /// which are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acct: Option<String>,
    iat: u64,
    exp: u64,
}

/// Mints and checks tokens with this box's key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Reads the key file, or makes it if it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match fs::read(path) {
            Ok(secret) if secret.len() >= KEY_LEN => {
                // A copied or restored key may have lost its mode; tighten it.
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
                Ok(Self::from_secret(&secret))
            }
            Ok(_) => Err(format!(
                "{} is shorter than {KEY_LEN} bytes; move it aside and leaf makes a new one (signed-in TDs sign in again)",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; KEY_LEN];
                getrandom::fill(&mut secret)
                    .map_err(|e| format!("no randomness for the signing key: {e}"))?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                file.write_all(&secret)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(Self::from_secret(&secret))
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// A key for tests and the simulation.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `principal`, valid for `ttl`; and when it expires (seconds since the epoch).
    pub fn issue(&self, principal: &Principal, ttl: Duration) -> Result<(String, u64), AuthError> {
        let now = unix_now();
        let exp = now + ttl.as_secs();
        let (sub, role, tid, acct) = match principal {
            Principal::Td { name, account } => {
                (name.clone(), Role::Td, None, Some(account.clone()))
            }
            Principal::Viewer { link, tournament } => {
                (link.clone(), Role::Viewer, Some(*tournament), None)
            }
            // Nobody needs one: the central reader reads without a token.
            Principal::Public { .. } => return Err(AuthError::Forbidden),
        };
        let claims = Claims {
            sub,
            role,
            tid,
            acct,
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok((token, exp))
    }

    /// Who a token speaks for, if it is well-formed, signed with this key and not expired.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// [`TokenKeys::verify`], and when the token expires (seconds since the epoch).
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a TD's token ends when it says it ends.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    _ => AuthError::Malformed,
                }
            })?;
        let claims = data.claims;
        let exp = claims.exp;
        let principal = match (claims.role, claims.tid, claims.acct) {
            (Role::Td, None, Some(account)) => Ok(Principal::Td {
                name: claims.sub,
                account,
            }),
            // Issued before TD accounts had ids: the account it names cannot be told apart
            // from a later one of the same name.
            (Role::Td, None, None) => Err(AuthError::Revoked),
            (Role::Viewer, Some(tournament), None) => Ok(Principal::Viewer {
                link: claims.sub,
                tournament,
            }),
            // A well-signed token with an impossible shape: treat as forged.
            _ => Err(AuthError::Malformed),
        }?;
        Ok((principal, exp))
    }
}

/// Seconds since the Unix epoch, by the system clock (as tokens count them).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_td_token_round_trips() {
        let td = Principal::Td {
            name: "alice".into(),
            account: "a1".into(),
        };
        let (token, exp) = keys().issue(&td, Duration::from_secs(60)).unwrap();
        assert!(exp > unix_now());
        assert_eq!(keys().verify(&token).unwrap(), td);
    }

    #[test]
    fn a_td_token_from_before_account_ids_is_refused() {
        let now = unix_now();
        let claims = Claims {
            sub: "alice".into(),
            role: Role::Td,
            tid: None,
            acct: None,
            iat: now,
            exp: now + 60,
        };
        let keys = keys();
        let old =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(matches!(keys.verify(&old), Err(AuthError::Revoked)));
    }

    #[test]
    fn a_viewer_token_keeps_its_tournament() {
        let viewer = Principal::Viewer {
            link: "l1".into(),
            tournament: TournamentId::new_random(),
        };
        let (token, _) = keys().issue(&viewer, Duration::from_secs(60)).unwrap();
        assert_eq!(keys().verify(&token).unwrap(), viewer);
    }

    #[test]
    fn forged_expired_and_alg_none_tokens_are_rejected() {
        let td = Principal::Td {
            name: "alice".into(),
            account: "a1".into(),
        };
        let (token, _) = keys().issue(&td, Duration::from_secs(60)).unwrap();
        let other = TokenKeys::from_secret(b"another key, another box, 32 byte");
        assert!(matches!(
            other.verify(&token).unwrap_err(),
            AuthError::BadSignature
        ));

        let (old, _) = keys().issue(&td, Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(matches!(
            keys().verify(&old).unwrap_err(),
            AuthError::Expired
        ));

        let payload = token.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(keys().verify(&format!("{none_header}.{payload}.")).is_err());
        assert!(matches!(
            keys().verify("garbage").unwrap_err(),
            AuthError::Malformed
        ));
        assert!(matches!(
            keys().verify("").unwrap_err(),
            AuthError::Malformed
        ));
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.key");
        let first = TokenKeys::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let td = Principal::Td {
            name: "alice".into(),
            account: "a1".into(),
        };
        let (token, _) = first.issue(&td, Duration::from_secs(60)).unwrap();
        let again = TokenKeys::load_or_create(&path).unwrap();
        assert_eq!(
            again.verify(&token).unwrap(),
            td,
            "a restart must keep tokens valid"
        );
    }
}
