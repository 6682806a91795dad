//! The id of a viewer link, as it appears in `…/viewer-links/{link}`.

use std::fmt;
use std::str::FromStr;

/// 32 lowercase hex digits: a UUID in its simple form, which is how leaf makes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct LinkId(String);

impl LinkId {
    pub const LEN: usize = 32;
    pub const PATTERN: &str = "^[0-9a-f]{32}$";

    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a viewer link id (expected 32 lowercase hex digits)")]
pub struct InvalidLinkId;

impl FromStr for LinkId {
    type Err = InvalidLinkId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidLinkId)
        }
    }
}

impl utoipa::PartialSchema for LinkId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(
            Self::PATTERN,
            (Self::LEN, Self::LEN),
            "A viewer link id: 32 lowercase hex digits.",
        )
    }
}

impl utoipa::ToSchema for LinkId {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn fresh_ids_are_valid() {
        let id = LinkId::new_random();
        assert_eq!(id.as_str().parse::<LinkId>(), Ok(id));
    }

    proptest! {
        #[test]
        fn the_published_pattern_is_what_the_parser_accepts(
            s in prop_oneof![any::<String>(), "[0-9a-fA-G]{30,34}", "[0-9a-fA-F]{32}", "[0-9a-f]{32}"]
        ) {
            prop_assert!(crate::schema::agrees_with_pattern(
                LinkId::PATTERN, &s, |s| s.parse::<LinkId>().is_ok()
            ));
        }
    }
}
