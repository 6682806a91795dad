//! A venue's id, and every name it gives the venue on the central cluster.
//!
//! The id is the one thing two venues must not share: it names the venue's JetStream domain,
//! its streams on the central cluster and the subjects its events take there. Its alphabet
//! keeps each of those one token: no `.` (a subject separator), no wildcard, no whitespace,
//! and no `_`, so `VENUE_<id>_STATE` reads back into exactly one id.

use std::fmt;
use std::str::FromStr;

use crate::log::StreamName;

/// 1 to [`VenueId::MAX_LEN`] of `a-z`, `0-9` and `-`, starting with a letter or a digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct VenueId(String);

impl VenueId {
    pub const MAX_LEN: usize = 32;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream domain of the venue's own server: its API is `$JS.<domain>.API` from the
    /// central cluster, which is how the central streams reach the venue's.
    pub fn domain(&self) -> String {
        format!("venue-{}", self.0)
    }

    /// The central cluster's copy of one of the venue's streams.
    pub fn central_stream(&self, stream: StreamName) -> String {
        format!("VENUE_{}_{}", self.0, stream.as_str())
    }

    /// The venue's events on the central cluster: `venue.<id>.tournament.…`.
    pub fn central_subject_prefix(&self) -> String {
        format!("venue.{}", self.0)
    }

    /// The id back from a central stream's name, with the stream it copies.
    pub fn from_central_stream(name: &str) -> Option<(Self, StreamName)> {
        let rest = name.strip_prefix("VENUE_")?;
        let (id, stream) = rest.rsplit_once('_')?;
        Some((id.parse().ok()?, StreamName::parse(stream)?))
    }
}

impl fmt::Display for VenueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a piece of text cannot be a venue id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVenueId {
    #[error("a venue id must not be empty")]
    Empty,
    #[error("a venue id is at most {max} characters, got {got}", max = VenueId::MAX_LEN)]
    TooLong { got: usize },
    #[error("a venue id may only hold a-z, 0-9 and '-', found {0:?}")]
    BadChar(char),
    #[error("a venue id starts with a letter or a digit")]
    LeadingDash,
}

impl FromStr for VenueId {
    type Err = InvalidVenueId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidVenueId::Empty);
        }
        let chars = s.chars().count();
        if chars > Self::MAX_LEN {
            return Err(InvalidVenueId::TooLong { got: chars });
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(InvalidVenueId::BadChar(bad));
        }
        if s.starts_with('-') {
            return Err(InvalidVenueId::LeadingDash);
        }
        Ok(Self(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for VenueId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_one_token_each() {
        let id: VenueId = "riverside-2".parse().unwrap();
        assert_eq!(id.domain(), "venue-riverside-2");
        assert_eq!(
            id.central_stream(StreamName::State),
            "VENUE_riverside-2_STATE"
        );
        assert_eq!(id.central_subject_prefix(), "venue.riverside-2");
        assert_eq!(
            VenueId::from_central_stream("VENUE_riverside-2_AUDIT"),
            Some((id, StreamName::Audit))
        );
        assert_eq!(VenueId::from_central_stream("VENUE_a_b_STATE"), None);
        assert_eq!(VenueId::from_central_stream("OTHER"), None);
    }

    #[test]
    fn anything_that_could_change_a_subject_or_name_is_refused() {
        for (text, why) in [
            ("", InvalidVenueId::Empty),
            ("a.b", InvalidVenueId::BadChar('.')),
            ("a*", InvalidVenueId::BadChar('*')),
            ("a>", InvalidVenueId::BadChar('>')),
            ("a b", InvalidVenueId::BadChar(' ')),
            ("a_b", InvalidVenueId::BadChar('_')),
            ("Main", InvalidVenueId::BadChar('M')),
            ("-x", InvalidVenueId::LeadingDash),
        ] {
            assert_eq!(text.parse::<VenueId>(), Err(why), "{text:?}");
        }
        assert_eq!(
            "x".repeat(33).parse::<VenueId>(),
            Err(InvalidVenueId::TooLong { got: 33 })
        );
        assert!("x".repeat(32).parse::<VenueId>().is_ok());
    }
}
