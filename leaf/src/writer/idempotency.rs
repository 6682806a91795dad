//! The `Idempotency-Key` a TD's client may send with an append.

use std::fmt;
use std::str::FromStr;

/// 1 to [`Self::MAX_LEN`] visible ASCII characters. It travels inside a JetStream message id
/// (`<tournament>:<key>`), a header that a CR, LF or space would break.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 64;
    pub const PATTERN: &str = "^[!-~]{1,64}$";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key: 1 to 64 visible ASCII characters")]
pub struct InvalidIdempotencyKey;

impl FromStr for IdempotencyKey {
    type Err = InvalidIdempotencyKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if (1..=Self::MAX_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidIdempotencyKey)
        }
    }
}

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(
            Self::PATTERN,
            (1, Self::MAX_LEN),
            "1 to 64 visible ASCII characters. A retry with the same key returns the first \
             answer instead of appending again.",
        )
    }
}

impl utoipa::ToSchema for IdempotencyKey {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_published_pattern_is_what_the_parser_accepts(
            s in prop_oneof![any::<String>(), "[ -~\\t\\u{80}é]{0,70}"]
        ) {
            prop_assert!(crate::schema::agrees_with_pattern(
                IdempotencyKey::PATTERN, &s, |s| s.parse::<IdempotencyKey>().is_ok()
            ));
        }
    }
}
