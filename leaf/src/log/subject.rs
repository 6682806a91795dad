//! NATS subjects and the streams that hold them: built here, parsed here, filtered here.
//!
//! Subjects are built only from typed parts ([`TournamentId`], [`SubjectToken`]), so their
//! shape is fixed: exactly one tournament, never a wildcard. This is the first line of
//! tournament isolation.

use std::fmt;

use serde::Serialize;

use crate::event::{SubjectToken, TournamentId};

/// The streams leaf keeps. Both are created at startup, see [`super::jetstream`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
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

impl Subject {
    /// The subject of a stored message, the inverse of `Display`; `None` for any other shape
    /// (a message some other writer put under a malformed tournament id, for example).
    pub fn parse(subject: &str) -> Option<Self> {
        let mut parts = subject.split('.');
        let parsed = match (parts.next()?, parts.next()?, parts.next()?, parts.next()) {
            ("tournament", id, "audit", None) => Subject::Audit(id.parse().ok()?),
            ("tournament", id, "state", Some(token)) => {
                Subject::State(id.parse().ok()?, SubjectToken::from_stored(token))
            }
            _ => return None,
        };
        parts.next().is_none().then_some(parsed)
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

/// Which messages of a stream a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Tournament(TournamentId),
}

impl Filter {
    /// The NATS subject filter within `stream`.
    pub fn subject(self, stream: StreamName) -> String {
        match (self, stream) {
            (Filter::All, s) => s.filter().to_owned(),
            (Filter::Tournament(t), StreamName::Audit) => Subject::Audit(t).to_string(),
            (Filter::Tournament(t), StreamName::State) => format!("tournament.{t}.state.*"),
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
    fn parse_reads_back_exactly_what_display_writes() {
        let t: TournamentId = "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11".parse().unwrap();
        for subject in [
            Subject::Audit(t),
            Subject::State(t, "clock".parse().unwrap()),
        ] {
            assert_eq!(Subject::parse(&subject.to_string()), Some(subject));
        }
        // Another writer's token that a TD could not have sent is still one event type: NATS
        // stores all of these, and skipping one would shift every later seq.
        for token in [
            "Clock",
            "a*b",
            "x>y",
            "non\u{a0}breaking",
            "tab\u{b}vertical",
        ] {
            let subject = format!("tournament.{t}.state.{token}");
            let parsed = Subject::parse(&subject).unwrap_or_else(|| panic!("{subject:?}"));
            assert_eq!(parsed.to_string(), subject);
        }
        for bad in [
            String::new(),
            format!("tournament.{t}"),
            format!("tournament.{t}.state"),
            format!("tournament.{t}.state.a.b"),
            format!("tournament.{t}.audit.x"),
            format!("tournament.{t}.other"),
            "tournament.not-a-uuid.audit".to_owned(),
            format!("other.{t}.audit"),
        ] {
            assert_eq!(Subject::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tournament_filters_select_one_tournament() {
        let t: TournamentId = "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11".parse().unwrap();
        let audit = Filter::Tournament(t).subject(StreamName::Audit);
        let state = Filter::Tournament(t).subject(StreamName::State);
        assert!(filter_matches(&audit, &Subject::Audit(t).to_string()));
        let clock = Subject::State(t, "clock".parse().unwrap()).to_string();
        assert!(filter_matches(&state, &clock));
        assert_eq!(
            Filter::All.subject(StreamName::State),
            "tournament.*.state.*"
        );
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
