//! The check of a central copy against its venue's stream: every message of the venue, in
//! order, once, under the venue's own subjects, with the venue's bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use crate::HarnessError;

/// One stored message, as the check needs it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: u64,
    pub subject: String,
    /// The venue seq it was copied from (`Nats-Stream-Source`), for a central copy.
    pub origin: Option<u64>,
    pub payload: bytes::Bytes,
}

/// Every message of `stream`, in order.
pub async fn read_all(js: &jetstream::Context, stream: &str) -> Result<Vec<Stored>, HarnessError> {
    let err =
        |what: &str, e: &dyn std::fmt::Display| HarnessError::Log(format!("{stream}: {what}: {e}"));
    let mut handle = js.get_stream(stream).await.map_err(|e| err("get", &e))?;
    let last = handle
        .info()
        .await
        .map_err(|e| err("info", &e))?
        .state
        .last_sequence;
    let mut out = Vec::new();
    if last == 0 {
        return Ok(out);
    }
    let ordered = handle
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| err("consumer", &e))?;
    let mut messages = ordered.messages().await.map_err(|e| err("messages", &e))?;
    while out.last().is_none_or(|m: &Stored| m.seq < last) {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| err("read", &"nothing for 10 s"))?
            .ok_or_else(|| err("read", &"the consumer ended"))?
            .map_err(|e| err("read", &e))?;
        let info = message.info().map_err(|e| err("info", &e))?;
        let origin = message
            .headers
            .as_ref()
            .and_then(|h| h.get_last("Nats-Stream-Source"))
            .and_then(|v| v.as_str().split(' ').nth(1)?.parse().ok());
        out.push(Stored {
            seq: info.stream_sequence,
            subject: message.subject.to_string(),
            origin,
            payload: message.payload.clone(),
        });
    }
    Ok(out)
}

/// What one central copy holds against its venue's stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyCheck {
    pub venue: usize,
    pub central: usize,
    /// Venue messages the copy does not have.
    pub lost: usize,
    /// Venue messages the copy has more than once.
    pub duplicated: usize,
    /// Copy messages that are not the venue's: another subject prefix, other bytes, no
    /// origin, or out of order.
    pub leaked: usize,
}

/// Compares a central copy with its venue's stream; `prefix` is `venue.<id>.`. The copy
/// must be read before the venue's stream: a venue still appending is then ahead of it, and
/// what it has not copied yet (past the newest origin in the copy) is not counted lost.
pub fn compare(venue: &[Stored], central: &[Stored], prefix: &str) -> CopyCheck {
    let by_seq: BTreeMap<u64, &Stored> = venue.iter().map(|m| (m.seq, m)).collect();
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut check = CopyCheck {
        venue: venue.len(),
        central: central.len(),
        ..Default::default()
    };
    let mut previous = 0;
    for copy in central {
        let Some(origin) = copy.origin else {
            check.leaked += 1;
            continue;
        };
        *seen.entry(origin).or_default() += 1;
        let theirs = by_seq.get(&origin);
        let same = theirs.is_some_and(|v| {
            copy.subject.strip_prefix(prefix) == Some(v.subject.as_str())
                && copy.payload == v.payload
        });
        if !same || origin <= previous && seen[&origin] == 1 {
            check.leaked += 1;
        }
        previous = previous.max(origin);
    }
    check.duplicated = seen.values().filter(|n| **n > 1).count();
    let horizon = seen.keys().next_back().copied().unwrap_or(0);
    check.lost = venue
        .iter()
        .filter(|m| m.seq <= horizon && !seen.contains_key(&m.seq))
        .count();
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue(seq: u64) -> Stored {
        Stored {
            seq,
            subject: format!("tournament.t.state.{seq}"),
            origin: None,
            payload: bytes::Bytes::from(seq.to_string()),
        }
    }

    fn copy(seq: u64, origin: u64) -> Stored {
        Stored {
            seq,
            subject: format!("venue.v.tournament.t.state.{origin}"),
            origin: Some(origin),
            payload: bytes::Bytes::from(origin.to_string()),
        }
    }

    #[test]
    fn the_check_finds_every_kind_of_wrong_copy() {
        let venue: Vec<Stored> = (1..=4).map(venue).collect();
        let whole: Vec<Stored> = (1..=4).map(|s| copy(s, s)).collect();
        assert_eq!(
            compare(&venue, &whole, "venue.v."),
            CopyCheck {
                venue: 4,
                central: 4,
                ..Default::default()
            }
        );
        let missing = vec![copy(1, 1), copy(2, 2), copy(3, 4)];
        assert_eq!(compare(&venue, &missing, "venue.v.").lost, 1);
        let not_yet = vec![copy(1, 1), copy(2, 2)];
        assert_eq!(compare(&venue, &not_yet, "venue.v.").lost, 0);
        let twice = vec![copy(1, 1), copy(2, 2), copy(3, 2), copy(4, 3), copy(5, 4)];
        assert_eq!(compare(&venue, &twice, "venue.v.").duplicated, 1);
        let mut elsewhere = whole.clone();
        elsewhere[2].subject = "venue.w.tournament.t.state.3".into();
        assert_eq!(compare(&venue, &elsewhere, "venue.v.").leaked, 1);
        let mut other_bytes = whole.clone();
        other_bytes[0].payload = bytes::Bytes::from_static(b"x");
        assert_eq!(compare(&venue, &other_bytes, "venue.v.").leaked, 1);
        let swapped = vec![copy(1, 2), copy(2, 1), copy(3, 3), copy(4, 4)];
        assert_eq!(compare(&venue, &swapped, "venue.v.").leaked, 1);
    }
}
