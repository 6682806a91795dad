//! The shared vocabulary of leaf: identifiers, positions and the events themselves, used by
//! every room.
//!
//! - [`Event`]: one event of a tournament as clients see it; [`TournamentSummary`]: one
//!   tournament as the API lists it.
//! - [`TournamentId`], [`Seq`], [`MsgId`], [`SubjectToken`], [`OperatorName`]: ids and
//!   positions.
//!
//! The ids are newtypes on purpose. A `TournamentId` can only be built from a UUID, and a
//! `SubjectToken` only from text that is safe inside a NATS subject, so a wildcard or a dot
//! from user input can never widen a subscription or a publish to another tournament.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One tournament at the venue. Every event, subject, subscription and row is scoped by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TournamentId(Uuid);

impl TournamentId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TournamentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lowercase: the only spelling that ever reaches a subject.
        self.0.as_hyphenated().fmt(f)
    }
}

impl TournamentId {
    /// The one spelling accepted: hyphenated, lowercase.
    pub const PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
}

impl utoipa::PartialSchema for TournamentId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::formatted_text(
            Self::PATTERN,
            utoipa::openapi::KnownFormat::Uuid,
            (36, 36),
            "A tournament id: a UUID, hyphenated and lowercase.",
        )
    }
}

impl utoipa::ToSchema for TournamentId {}

/// Why a piece of text is not a tournament id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tournament id (expected a UUID such as 0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11)")]
pub struct InvalidTournamentId;

impl FromStr for TournamentId {
    type Err = InvalidTournamentId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the hyphenated form: braces, `urn:uuid:` and simple forms are all valid UUIDs
        // to the uuid crate, but accepting several spellings of one id invites confusion.
        // Lowercase only, too: an uppercase spelling would be a second NATS subject for the
        // same tournament.
        if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(InvalidTournamentId);
        }
        Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| InvalidTournamentId)
    }
}

/// One token of a NATS subject that came from outside leaf (an event type, for example).
///
/// Allowed: 1 to 64 characters of `[a-z0-9_-]`. That excludes `.` (a token separator), `*`
/// and `>` (wildcards), whitespace and the empty token, so no value of this type can change
/// the shape of the subject it is put into.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SubjectToken(String);

impl SubjectToken {
    pub const MAX_LEN: usize = 64;
    pub const PATTERN: &str = "^[a-z0-9_-]{1,64}$";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SubjectToken {
    /// A token read back from a subject the log stored, as it is. The log may hold messages
    /// that other writers put there, with tokens a TD could not send (uppercase, `a*b`, a
    /// non-breaking space: nats-server refuses only a token that is exactly `*` or `>` and
    /// ASCII whitespace); every one of them is an event of its tournament and must be read,
    /// or the tournament's seqs would skip it and its append guard would never match again.
    /// Only for reading: leaf never publishes to a subject built from one.
    pub(crate) fn from_stored(token: &str) -> Self {
        Self(token.to_owned())
    }
}

impl fmt::Display for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a piece of text cannot be a subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSubjectToken {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {got}", max = SubjectToken::MAX_LEN)]
    TooLong { got: usize },
    #[error("may only contain a-z, 0-9, '_' and '-', found {0:?}")]
    BadChar(char),
}

impl FromStr for SubjectToken {
    type Err = InvalidSubjectToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidSubjectToken::Empty);
        }
        let chars = s.chars().count();
        if chars > Self::MAX_LEN {
            return Err(InvalidSubjectToken::TooLong { got: chars });
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        {
            return Err(InvalidSubjectToken::BadChar(bad));
        }
        Ok(Self(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for SubjectToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for SubjectToken {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(
            Self::PATTERN,
            (1, Self::MAX_LEN),
            "One NATS subject token: 1 to 64 of a-z, 0-9, '_' and '-'.",
        )
    }
}

impl utoipa::ToSchema for SubjectToken {}

/// A tournament's name as a TD gives it: 1 to [`Self::MAX_LEN`] characters, no control
/// characters, not only spaces. Kept without the spaces around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TournamentName(String);

impl TournamentName {
    pub const MAX_LEN: usize = 200;
    /// Any characters but controls (Unicode `Cc`), and at least one that is neither a control
    /// nor white space (Unicode `White_Space`, what `str::trim` removes). Spelled out rather
    /// than with `\s`, whose meaning differs between regex dialects.
    pub const PATTERN: &str = concat!(
        "^[^\\u0000-\\u001f\\u007f-\\u009f]*",
        "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        "[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    );

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tournament name is 1 to 200 characters, not only spaces, with no control characters")]
pub struct InvalidTournamentName;

impl FromStr for TournamentName {
    type Err = InvalidTournamentName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The length counts what the TD sent, spaces included, as the schema's maxLength does.
        let ok = s.chars().count() <= Self::MAX_LEN
            && !s.chars().any(char::is_control)
            && !s.trim().is_empty();
        if ok {
            Ok(Self(s.trim().to_owned()))
        } else {
            Err(InvalidTournamentName)
        }
    }
}

impl<'de> Deserialize<'de> for TournamentName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for TournamentName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text(
            Self::PATTERN,
            (1, Self::MAX_LEN),
            "1 to 200 characters, not only spaces, no control characters; stored without \
             the spaces around it.",
        )
    }
}

impl utoipa::ToSchema for TournamentName {}

/// A position in an event log. Sequences start at 1; 0 (the default) means "nothing yet".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// Before the first: nothing yet.
    pub const ZERO: Seq = Seq(0);

    /// The position right after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }

    /// The position right before this one (`ZERO` stays `ZERO`).
    pub fn prev(self) -> Seq {
        Seq(self.0.saturating_sub(1))
    }

    /// How many positions `self` is past `earlier`; 0 when it is not past it.
    pub fn since(self, earlier: Seq) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A publisher-chosen id that makes a publish idempotent within the log's duplicate window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsgId(String);

impl MsgId {
    /// Longest id accepted. JetStream has no hard limit, but the id travels in a header on
    /// every message and is kept in the dedupe table, so it is kept short.
    pub const MAX_LEN: usize = 128;

    pub fn new(id: impl Into<String>) -> Result<Self, InvalidMsgId> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(InvalidMsgId);
        }
        // Header values must be visible ASCII: a CR or LF would end the header early.
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidMsgId);
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message id must be 1 to 128 visible ASCII characters")]
pub struct InvalidMsgId;

/// A Tournament Director's sign-in name: 1 to 64 of `[A-Za-z0-9_.-]`, starting with a letter
/// or digit, so it is safe in logs, audit records and a shell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OperatorName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a TD name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")]
pub struct InvalidOperatorName;

impl OperatorName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OperatorName {
    type Err = InvalidOperatorName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidOperatorName)
        }
    }
}

/// One event of a tournament, as clients see it: in the API's event pages and, wrapped, in
/// the WebSocket `event` message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// The tournament's own count: 1, 2, 3, … with no gaps.
    #[schema(value_type = u64)]
    pub seq: Seq,
    pub ts: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One tournament as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TournamentSummary {
    pub id: TournamentId,
    pub name: String,
    pub created_at: String,
    /// The seq of its newest event; 0 before the first.
    #[schema(value_type = u64)]
    pub last_seq: Seq,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn operator_names_are_plain() {
        assert!("alice".parse::<OperatorName>().is_ok());
        assert!("td-2.night_shift".parse::<OperatorName>().is_ok());
        for bad in ["", "-alice", "al ice", "alice\n", "ålice", &"a".repeat(65)] {
            assert!(bad.parse::<OperatorName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tournament_id_accepts_only_the_hyphenated_uuid() {
        let id = "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11";
        assert_eq!(id.parse::<TournamentId>().unwrap().to_string(), id);
        for bad in [
            "",
            "*",
            ">",
            "a.b",
            "%2A",
            "..%2F",
            "0b9d6f3e5c1a4c399a571f3f0e2c7d11",
            "{0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11}",
            "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d1g",
            "0B9D6F3E-5C1A-4C39-9A57-1F3F0E2C7D11",
        ] {
            assert!(bad.parse::<TournamentId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn subject_token_errors_name_the_problem() {
        assert_eq!("".parse::<SubjectToken>(), Err(InvalidSubjectToken::Empty));
        assert_eq!(
            "a.b".parse::<SubjectToken>(),
            Err(InvalidSubjectToken::BadChar('.'))
        );
        assert_eq!(
            "x".repeat(65).parse::<SubjectToken>(),
            Err(InvalidSubjectToken::TooLong { got: 65 })
        );
        assert!("x".repeat(64).parse::<SubjectToken>().is_ok());
        assert!("level_up-2".parse::<SubjectToken>().is_ok());
    }

    #[test]
    fn seq_steps() {
        assert_eq!(Seq::ZERO.next(), Seq(1));
        assert_eq!(Seq::ZERO.prev(), Seq::ZERO);
        assert_eq!(Seq(5).since(Seq(2)), 3);
        assert_eq!(Seq(2).since(Seq(5)), 0);
    }

    #[test]
    fn msg_id_rejects_header_breaking_text() {
        assert!(MsgId::new("ok-123").is_ok());
        assert!(MsgId::new("").is_err());
        assert!(MsgId::new("a\r\nNats-Expected-Stream: X").is_err());
        assert!(MsgId::new("a b").is_err());
        assert!(MsgId::new("x".repeat(129)).is_err());
    }

    proptest! {
        #[test]
        fn any_accepted_token_is_one_plain_subject_token(s in any::<String>()) {
            if let Ok(token) = s.parse::<SubjectToken>() {
                let t = token.as_str();
                prop_assert!(!t.is_empty() && t.len() <= 64);
                prop_assert!(!t.contains(['.', '*', '>']));
                prop_assert!(!t.chars().any(char::is_whitespace));
            }
        }

        // The published patterns say what the parsers accept, over plain text, text from the
        // patterns' own alphabets and the characters at their edges.
        #[test]
        fn the_published_patterns_are_what_the_parsers_accept(
            s in prop_oneof![
                any::<String>(),
                "[a-f0-9-]{30,40}",
                // Well-formed UUIDs, in either case: only lowercase ones are ids.
                "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                "[a-z0-9_.A-Z -]{0,70}",
                "[ \t\u{85}\u{a0}\u{2000}\u{3000}a\u{7f}\u{9f}\u{1f}é]{0,5}",
                ".{195,205}",
            ]
        ) {
            use crate::schema::agrees_with_pattern;
            prop_assert!(agrees_with_pattern(TournamentId::PATTERN, &s, |s| s.parse::<TournamentId>().is_ok()));
            prop_assert!(agrees_with_pattern(SubjectToken::PATTERN, &s, |s| s.parse::<SubjectToken>().is_ok()));
            let name_fits = |s: &str| s.parse::<TournamentName>().is_ok();
            let len = s.chars().count();
            prop_assert_eq!(
                regex::Regex::new(TournamentName::PATTERN).unwrap().is_match(&s) && (1..=TournamentName::MAX_LEN).contains(&len),
                name_fits(&s),
                "{:?}", s
            );
        }

        #[test]
        fn tokens_from_the_allowed_alphabet_are_accepted(s in "[a-z0-9_-]{1,64}") {
            let token: SubjectToken = s.parse().unwrap();
            prop_assert_eq!(token.as_str(), s.as_str());
        }

        #[test]
        fn a_token_with_any_forbidden_char_is_rejected(
            prefix in "[a-z0-9_-]{0,20}",
            bad in prop::sample::select(vec!['.', '*', '>', ' ', '\t', '\n', 'A', 'Z', '/', '\\', '\0', 'é']),
            suffix in "[a-z0-9_-]{0,20}",
        ) {
            let s = format!("{prefix}{bad}{suffix}");
            prop_assert!(s.parse::<SubjectToken>().is_err());
        }
    }
}
