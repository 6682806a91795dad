//! What health and `leaf uplink status` say about the uplink.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::VenueId;
use crate::log::StreamName;

/// The central copy of one of the venue's streams, as far as leaf knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCopy {
    /// The venue stream's last seq.
    pub venue_seq: u64,
    /// The venue seq the central copy holds up to, when last heard (`None`: never heard).
    pub central_seq: Option<u64>,
    /// Messages the central copy still lacks: `venue_seq - central_seq`, or all of them
    /// when the central cluster was never heard.
    pub lacks: u64,
}

impl StreamCopy {
    pub fn new(venue_seq: u64, central_seq: Option<u64>) -> Self {
        Self {
            venue_seq,
            central_seq,
            lacks: venue_seq.saturating_sub(central_seq.unwrap_or(0)),
        }
    }

    /// The central copy holds seqs the venue does not have: the venue's stream was made
    /// anew (a wiped data dir, an older backup restored) and its new messages reuse seqs
    /// the copy already took; nats-server would skip them (nats-server#6206).
    pub fn central_ahead(&self) -> bool {
        self.central_seq.is_some_and(|c| c > self.venue_seq)
    }
}

/// The `uplink` section of health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkStatus {
    /// False when something needs a person: see `warning`. A link that is down is not one
    /// by itself: the venue works offline, and the copy catches up when it returns.
    pub ok: bool,
    pub venue_id: VenueId,
    pub central_domain: String,
    /// Whether the venue's nats-server holds its leafnode connection to the central cluster.
    pub connected: bool,
    /// When the central cluster last answered leaf (RFC 3339), `None` if never.
    pub last_contact: Option<String>,
    /// Since when the link has been in its current state (RFC 3339).
    pub since: Option<String>,
    pub streams: BTreeMap<StreamName, StreamCopy>,
    /// Times leaf asked the central cluster to restart a stalled copy.
    pub nudges: u64,
    pub warning: Option<String>,
}

impl UplinkStatus {
    pub fn new(venue_id: VenueId, central_domain: String) -> Self {
        Self {
            ok: true,
            venue_id,
            central_domain,
            connected: false,
            last_contact: None,
            since: None,
            streams: BTreeMap::new(),
            nudges: 0,
            warning: None,
        }
    }

    /// Messages the central copy lacks, over both streams.
    pub fn lacks(&self) -> u64 {
        self.streams.values().map(|s| s.lacks).sum()
    }

    /// The lines `leaf uplink status` prints.
    pub fn render(&self) -> String {
        let mut out = format!(
            "venue {} -> central domain {:?}: {}{}\n",
            self.venue_id,
            self.central_domain,
            if self.connected {
                "connected"
            } else {
                "not connected"
            },
            self.since
                .as_deref()
                .map(|s| format!(" since {s}"))
                .unwrap_or_default()
        );
        out += &format!(
            "last contact with the central cluster: {}\n",
            self.last_contact.as_deref().unwrap_or("never")
        );
        for (stream, copy) in &self.streams {
            out += &format!(
                "{:<6} venue seq {}, central copy {}, lacks {}\n",
                stream.as_str(),
                copy.venue_seq,
                copy.central_seq
                    .map_or_else(|| "unknown".to_owned(), |s| format!("up to {s}")),
                copy.lacks
            );
        }
        if let Some(warning) = &self.warning {
            out += &format!("warning: {warning}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacks_count_what_the_copy_has_not_reached() {
        assert_eq!(StreamCopy::new(10, Some(7)).lacks, 3);
        assert_eq!(StreamCopy::new(10, None).lacks, 10);
        let ahead = StreamCopy::new(5, Some(9));
        assert_eq!(ahead.lacks, 0);
        assert!(ahead.central_ahead());
        assert!(!StreamCopy::new(9, Some(9)).central_ahead());
    }

    #[test]
    fn the_status_reads_as_a_few_lines() {
        let mut status = UplinkStatus::new("east".parse().unwrap(), "central".into());
        status
            .streams
            .insert(StreamName::State, StreamCopy::new(12, Some(10)));
        status
            .streams
            .insert(StreamName::Audit, StreamCopy::new(4, None));
        let text = status.render();
        assert!(text.starts_with("venue east -> central domain \"central\": not connected\n"));
        assert!(
            text.contains("STATE  venue seq 12, central copy up to 10, lacks 2\n"),
            "{text}"
        );
        assert!(
            text.contains("AUDIT  venue seq 4, central copy unknown, lacks 4\n"),
            "{text}"
        );
        assert_eq!(status.lacks(), 6);
    }
}
