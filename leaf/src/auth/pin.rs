//! PINs: validated on the way in, stored only as argon2id hashes.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A PIN or password as typed. Never logged; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Pin(String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPin {
    #[error("a PIN must have at least {min} characters", min = Pin::MIN_LEN)]
    TooShort,
    #[error("a PIN must have at most {max} characters", max = Pin::MAX_LEN)]
    TooLong,
    #[error("a PIN must not contain control characters or start or end with whitespace")]
    BadChars,
}

impl Pin {
    pub const MIN_LEN: usize = 6;
    /// argon2 takes any length; a cap keeps a hostile login body from costing more than a PIN.
    pub const MAX_LEN: usize = 128;

    pub fn new(pin: &str) -> Result<Self, InvalidPin> {
        let len = pin.chars().count();
        if len < Self::MIN_LEN {
            return Err(InvalidPin::TooShort);
        }
        if len > Self::MAX_LEN {
            return Err(InvalidPin::TooLong);
        }
        if pin.chars().any(char::is_control) || pin.trim() != pin {
            return Err(InvalidPin::BadChars);
        }
        Ok(Self(pin.to_owned()))
    }

    /// An argon2id PHC string (algorithm, parameters, salt and hash in one). Slow on purpose:
    /// call it off the async workers.
    pub fn hash(&self) -> Result<String, String> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    }

    /// Whether this PIN matches a stored hash. A malformed stored hash never matches.
    pub fn verify(&self, stored: &str) -> bool {
        PasswordHash::new(stored)
            .map(|hash| {
                Argon2::default()
                    .verify_password(self.0.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// A real hash of a PIN nobody knows: checking an unknown name against it costs the same time
/// as checking a known one, so response times do not reveal which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        Pin(uuid::Uuid::new_v4().to_string())
            .hash()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_validated() {
        assert_eq!(Pin::new("12345").unwrap_err(), InvalidPin::TooShort);
        assert_eq!(Pin::new("12").unwrap_err(), InvalidPin::TooShort);
        assert!(Pin::new("482193").is_ok());
        assert!(Pin::new("correct horse").is_ok());
        assert_eq!(Pin::new(" 482193").unwrap_err(), InvalidPin::BadChars);
        assert_eq!(Pin::new("4821\n93").unwrap_err(), InvalidPin::BadChars);
        assert_eq!(Pin::new(&"9".repeat(129)).unwrap_err(), InvalidPin::TooLong);
    }

    #[test]
    fn a_hash_verifies_its_pin_only() {
        let pin = Pin::new("482193").unwrap();
        let hash = pin.hash().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("482193"));
        assert!(pin.verify(&hash));
        assert!(!Pin::new("482194").unwrap().verify(&hash));
        assert!(!pin.verify("not a hash"));
        assert!(!pin.verify(decoy_hash()));
    }

    #[test]
    fn debug_never_shows_the_pin() {
        assert!(!format!("{:?}", Pin::new("482193").unwrap()).contains("482193"));
    }
}
