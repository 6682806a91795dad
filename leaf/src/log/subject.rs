//! NATS subjects and the streams that hold them.
//!
//! Subjects are built only from typed parts ([`TournamentId`], [`SubjectToken`]), so their
//! shape is fixed: exactly one tournament, never a wildcard. This is the first line of
//! tournament isolation.

use std::fmt;

use serde::Serialize;

use crate::event::{SubjectToken, TournamentId};

/// The streams leaf keeps. Both are created at startup, see [`super::jetstream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum StreamName {
    #[serde(rename = "AUDIT")]
    Audit,
    #[serde(rename = "STATE")]
    State,
}

impl StreamName {
    pub const ALL: [StreamName; 2] = [StreamName::Audit, StreamName::State];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Audit => "AUDIT",
            StreamName::State => "STATE",
        }
    }

    /// The subject filter the stream is created with.
    pub fn filter(self) -> &'static str {
        match self {
            StreamName::Audit => "tournament.*.audit",
            StreamName::State => "tournament.*.state.*",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concrete subject to publish to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `tournament.{id}.audit`: who did what, when.
    Audit(TournamentId),
    /// `tournament.{id}.state.{token}`: the events that make up a tournament's state.
    State(TournamentId, SubjectToken),
}

impl Subject {
    pub fn tournament(&self) -> TournamentId {
        match self {
            Subject::Audit(t) | Subject::State(t, _) => *t,
        }
    }

    pub fn stream(&self) -> StreamName {
        match self {
            Subject::Audit(_) => StreamName::Audit,
            Subject::State(..) => StreamName::State,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Audit(t) => write!(f, "tournament.{t}.audit"),
            Subject::State(t, token) => write!(f, "tournament.{t}.state.{token}"),
        }
    }
}

/// Whether a NATS subject filter (with `*` and `>` wildcards) matches a concrete subject.
/// Used by the memory log to route like JetStream does.
pub(crate) fn filter_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn tournament() -> impl Strategy<Value = TournamentId> {
        any::<u128>().prop_map(|n| TournamentId::from_uuid(Uuid::from_u128(n)))
    }

    #[test]
    fn subjects_have_the_documented_shape() {
        let t: TournamentId = "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11".parse().unwrap();
        assert_eq!(
            Subject::Audit(t).to_string(),
            "tournament.0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11.audit"
        );
        let s = Subject::State(t, "clock".parse().unwrap());
        assert_eq!(
            s.to_string(),
            "tournament.0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11.state.clock"
        );
        assert_eq!(s.stream(), StreamName::State);
    }

    #[test]
    fn filters_match_like_nats() {
        assert!(filter_matches("tournament.*.audit", "tournament.x.audit"));
        assert!(!filter_matches(
            "tournament.*.audit",
            "tournament.x.y.audit"
        ));
        assert!(filter_matches("tournament.>", "tournament.x.y"));
        assert!(!filter_matches("tournament.>", "tournament"));
        assert!(!filter_matches(
            "tournament.*.state.*",
            "tournament.x.state"
        ));
    }

    proptest! {
        // Whatever text arrives as an event type, a subject built from it is either
        // rejected or lands in exactly one tournament of exactly one stream.
        #[test]
        fn a_subject_never_escapes_its_tournament(t in tournament(), raw in any::<String>(), audit in any::<bool>()) {
            let subject = if audit {
                Subject::Audit(t)
            } else {
                match raw.parse::<SubjectToken>() {
                    Ok(token) => Subject::State(t, token),
                    Err(_) => return Ok(()),
                }
            };
            let text = subject.to_string();
            let tokens: Vec<&str> = text.split('.').collect();
            prop_assert_eq!(tokens[1], t.to_string());
            prop_assert!(!text.contains('*') && !text.contains('>') && !text.contains(char::is_whitespace));
            prop_assert!(tokens.iter().all(|t| !t.is_empty()));
            for stream in StreamName::ALL {
                prop_assert_eq!(filter_matches(stream.filter(), &text), stream == subject.stream());
            }
            // And no other tournament's filter matches it.
            let other = format!("tournament.{}.>", Uuid::from_u128(t.as_uuid().as_u128() ^ 1));
            prop_assert!(!filter_matches(&other, &text));
        }

        #[test]
        fn arbitrary_state_tokens_keep_four_tokens(t in tournament(), token in "[a-z0-9_-]{1,64}") {
            let subject = Subject::State(t, token.parse().unwrap());
            prop_assert_eq!(subject.to_string().split('.').count(), 4);
        }
    }
}
