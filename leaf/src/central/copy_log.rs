//! One venue's log as the central cluster holds it: the read side of [`EventLog`] over the
//! venue's copies `VENUE_<id>_STATE` and `VENUE_<id>_AUDIT`, whose subjects are the venue's
//! own under `venue.<id>.`. Each copy sources its venue stream from seq 1 and keeps every
//! message once, so its seqs are the venue's: a display resumes here with the seq it saw.
//!
//! Nothing is written to a copy from here, ever: a publish is refused. The copies are the
//! venue's to write, through its uplink.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::cluster::Cluster;
use crate::event::Seq;
use crate::log::{
    Ack, Entry, EntryStream, EventLog, Filter, LogError, LogHealth, PublishOptions, StreamName,
    Subject,
};
use crate::uplink::VenueId;

/// One health probe must not hold up `/api/v1/health`.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The copies of one venue, read through the reader's two connections.
pub struct CopyLog {
    venue: VenueId,
    /// `venue.<id>.`: what every subject of the copies starts with, and the venue's own
    /// subject follows.
    prefix: String,
    cluster: Cluster,
}

impl CopyLog {
    pub fn new(venue: VenueId, cluster: Cluster) -> Self {
        Self {
            prefix: format!("{}.", venue.central_subject_prefix()),
            venue,
            cluster,
        }
    }

    /// The copy's subject filter for the venue's `filter` on `stream`.
    fn filter(&self, stream: StreamName, filter: Filter) -> String {
        format!("{}{}", self.prefix, filter.subject(stream))
    }

    /// A message of the copy under the venue's own subject, as the venue stored it.
    fn as_stored_at_the_venue(&self, entry: Entry) -> Result<Entry, LogError> {
        match entry.subject.strip_prefix(&self.prefix) {
            Some(subject) => Ok(Entry {
                subject: subject.to_owned(),
                ..entry
            }),
            None => Err(LogError::Other(format!(
                "{} in the copy of venue {}: not one of its subjects",
                entry.subject, self.venue
            ))),
        }
    }
}

impl EventLog for CopyLog {
    fn publish(
        &self,
        _subject: Subject,
        _payload: Bytes,
        _options: PublishOptions,
    ) -> BoxFuture<'_, Result<Ack, LogError>> {
        Box::pin(async move {
            Err(LogError::Other(format!(
                "the central reader only reads: venue {}'s copy is written by the venue",
                self.venue
            )))
        })
    }

    fn read(
        &self,
        stream: StreamName,
        filter: Filter,
        after: Seq,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Entry>, LogError>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            crate::log::read_page(
                self.cluster.reads(),
                &self.venue.central_stream(stream),
                self.filter(stream, filter),
                after,
                limit,
            )
            .await?
            .into_iter()
            .map(|entry| self.as_stored_at_the_venue(entry))
            .collect()
        })
    }

    fn tail(&self, stream: StreamName, after: Seq) -> BoxFuture<'_, Result<EntryStream, LogError>> {
        Box::pin(async move {
            let copy = CopyLog::new(self.venue.clone(), self.cluster.clone());
            let tail = crate::log::tail(
                self.cluster.jetstream(),
                &self.venue.central_stream(stream),
                self.filter(stream, Filter::All),
                after,
            )
            .await?;
            Ok(tail
                .map(move |next| next.and_then(|entry| copy.as_stored_at_the_venue(entry)))
                .boxed())
        })
    }

    fn last_seq(&self, stream: StreamName) -> BoxFuture<'_, Result<Seq, LogError>> {
        Box::pin(async move {
            let name = self.venue.central_stream(stream);
            let handle = self
                .cluster
                .jetstream()
                .get_stream(&name)
                .await
                .map_err(|e| LogError::Unavailable(format!("stream {name}: {e}")))?;
            Ok(Seq(handle.cached_info().state.last_sequence))
        })
    }

    fn health(&self) -> BoxFuture<'_, LogHealth> {
        Box::pin(async move {
            let mut health = LogHealth {
                ok: false,
                server_version: Some(self.cluster.server_version()),
                // The central cluster's own: not this reader's to see.
                sync_interval: None,
                streams: Vec::new(),
                restarts: None,
                consumers: None,
                error: None,
            };
            for stream in StreamName::ALL {
                let name = self.venue.central_stream(stream);
                let found = tokio::time::timeout(
                    HEALTH_TIMEOUT,
                    self.cluster.jetstream().get_stream(&name),
                )
                .await;
                match found {
                    Ok(Ok(handle)) => {
                        *health.consumers.get_or_insert(0) +=
                            handle.cached_info().state.consumer_count as u64;
                        health.streams.push(name);
                    }
                    Ok(Err(e)) => health.error = Some(format!("stream {name}: {e}")),
                    Err(_) => health.error = Some(format!("stream {name}: no answer in time")),
                }
            }
            health.ok = health.error.is_none() && health.streams.len() == StreamName::ALL.len();
            health
        })
    }
}
