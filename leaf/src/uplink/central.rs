//! The venue's two streams on the central cluster: what they are, made so idempotently,
//! and what they hold.
//!
//! Each is a copy of one of the venue's streams and nothing else: no subjects of its own
//! (one listening on `tournament.>` would also catch live traffic crossing the link and
//! store it twice), one source reaching the venue's stream through the venue's domain, and
//! a subject transform that puts the venue into every subject. The copy keeps the venue's
//! `Nats-Msg-Id`s (which carry the venue id) and deduplicates on them, and every message
//! says where it came from in `Nats-Stream-Source`: `<stream>:<hash> <origin seq> …`.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::VenueId;
use crate::log::StreamName;

/// Replicas of each central stream: a central cluster of three survives one node down.
pub const REPLICAS: usize = 3;

/// The header nats-server stamps on every sourced message.
const STREAM_SOURCE: &str = "Nats-Stream-Source";

/// How long one request to the central cluster may take.
pub const CENTRAL_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error("the central cluster does not answer ({0})")]
    Unreachable(String),
    #[error("central stream {0} does not exist")]
    Missing(String),
    #[error("central stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
}

/// The central copy of `stream` of `venue`.
pub fn desired(venue: &VenueId, stream: StreamName, replicas: usize) -> stream::Config {
    stream::Config {
        name: venue.central_stream(stream),
        subjects: Vec::new(),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        // None: the copy is the venue's log as it is, already deduplicated there, and a
        // message stored twice at the venue (an audit record repaired after a long outage,
        // say) is stored twice here too. The copy takes each venue message once by its
        // origin seq, which sourcing tracks (and since 2.12.8 keeps across reconnects).
        duplicate_window: Duration::ZERO,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        sources: Some(vec![source(venue, stream)]),
        ..Default::default()
    }
}

fn source(venue: &VenueId, stream: StreamName) -> stream::Source {
    stream::Source {
        name: stream.as_str().to_owned(),
        external: Some(stream::External {
            api_prefix: format!("$JS.{}.API", venue.domain()),
            delivery_prefix: None,
        }),
        subject_transforms: vec![stream::SubjectTransform {
            source: "tournament.>".to_owned(),
            destination: format!("{}.tournament.>", venue.central_subject_prefix()),
        }],
        ..Default::default()
    }
}

/// Whether two sources take the same messages the same way (what the server compares).
fn same_source(a: &stream::Source, b: &stream::Source) -> bool {
    let api = |s: &stream::Source| s.external.as_ref().map(|e| e.api_prefix.clone());
    let transforms = |s: &stream::Source| {
        s.subject_transforms
            .iter()
            .map(|t| (t.source.clone(), t.destination.clone()))
            .collect::<Vec<_>>()
    };
    a.name == b.name
        && api(a) == api(b)
        && transforms(a) == transforms(b)
        && a.filter_subject.as_deref().unwrap_or("") == b.filter_subject.as_deref().unwrap_or("")
}

/// What was done to make the stream as it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    Updated,
    AsItWas,
}

/// Creates the central stream, or brings an existing one to [`desired`]. Never deletes or
/// purges: a central copy that cannot be brought there is an error to show. Also gives when
/// the copy was created (unix ns; the same on every replica, kept across leader changes):
/// a copy deleted and made again is told by it.
pub async fn ensure(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
    replicas: usize,
) -> Result<(Ensured, i128), CentralError> {
    let want = desired(venue, stream, replicas);
    let name = want.name.clone();
    let stream_err = |reason: String| CentralError::Stream {
        stream: name.clone(),
        reason,
    };
    let (existing, created) = match central.get_stream(&name).await {
        Ok(mut found) => {
            let info = found
                .info()
                .await
                .map_err(|e| stream_err(format!("cannot read its info: {e}")))?;
            (info.config.clone(), info.created.unix_timestamp_nanos())
        }
        Err(e) => {
            use jetstream::context::GetStreamErrorKind;
            match e.kind() {
                GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    let made = central
                        .create_stream(want)
                        .await
                        .map_err(|e| stream_err(format!("cannot create it: {e}")))?;
                    let created = made.cached_info().created.unix_timestamp_nanos();
                    return Ok((Ensured::Created, created));
                }
                _ => return Err(CentralError::Unreachable(e.to_string())),
            }
        }
    };
    let sources = existing.sources.clone().unwrap_or_default();
    let want_sources = want.sources.clone().unwrap_or_default();
    let same = sources.len() == want_sources.len()
        && sources
            .iter()
            .zip(&want_sources)
            .all(|(a, b)| same_source(a, b))
        && existing.subjects.is_empty()
        && existing.duplicate_window == want.duplicate_window
        && existing.num_replicas == want.num_replicas
        && existing.allow_direct;
    if same {
        return Ok((Ensured::AsItWas, created));
    }
    if !existing.subjects.is_empty() {
        return Err(stream_err(format!(
            "it listens on subjects {:?}: a copy with subjects of its own would also store live traffic; leaf changes no such stream, remove its subjects by hand",
            existing.subjects
        )));
    }
    let updated = stream::Config {
        sources: want.sources,
        duplicate_window: want.duplicate_window,
        num_replicas: want.num_replicas,
        allow_direct: true,
        ..existing
    };
    central
        .update_stream(updated)
        .await
        .map_err(|e| stream_err(format!("cannot update it: {e}")))?;
    Ok((Ensured::Updated, created))
}

/// The newest (or oldest) message of a central copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Newest {
    /// The venue stream seq it was copied from; 0 when the copy is empty.
    pub origin: u64,
    pub payload: bytes::Bytes,
    /// When the copy was created (unix ns): a copy deleted and made again between two looks
    /// is another copy.
    pub copy_created: i128,
}

/// The venue stream seq of the newest message in the central copy (0 when it is empty):
/// how far the copy has come.
pub async fn copied_up_to(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
) -> Result<u64, CentralError> {
    Ok(newest(central, venue, stream).await?.origin)
}

/// The oldest message of the central copy, with the venue seq it came from: the venue's
/// message at that seq must be the same one for as long as both exist.
pub async fn oldest(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
) -> Result<Newest, CentralError> {
    one_end(central, venue, stream, End::Oldest).await
}

/// The newest message of the central copy, with the venue seq it came from.
pub async fn newest(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
) -> Result<Newest, CentralError> {
    one_end(central, venue, stream, End::Newest).await
}

enum End {
    Oldest,
    Newest,
}

async fn one_end(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
    end: End,
) -> Result<Newest, CentralError> {
    let name = venue.central_stream(stream);
    let stream_err = |reason: String| CentralError::Stream {
        stream: name.clone(),
        reason,
    };
    let mut handle = central.get_stream(&name).await.map_err(|e| {
        use jetstream::context::GetStreamErrorKind;
        match e.kind() {
            GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                CentralError::Missing(name.clone())
            }
            _ => CentralError::Unreachable(e.to_string()),
        }
    })?;
    let info = handle
        .info()
        .await
        .map_err(|e| stream_err(format!("cannot read its info: {e}")))?;
    let (state, copy_created) = (info.state.clone(), info.created.unix_timestamp_nanos());
    if state.messages == 0 {
        return Ok(Newest {
            copy_created,
            ..Newest::default()
        });
    }
    let last = match end {
        End::Oldest => state.first_sequence,
        End::Newest => state.last_sequence,
    };
    let message = handle
        .get_raw_message(last)
        .await
        .map_err(|e| stream_err(format!("cannot read its message {last}: {e}")))?;
    let origin = message
        .headers
        .get_last(STREAM_SOURCE)
        .and_then(|value| origin_seq(value.as_str()))
        .ok_or_else(|| stream_err(format!("its message {last} says no {STREAM_SOURCE}")))?;
    Ok(Newest {
        origin,
        payload: message.payload,
        copy_created,
    })
}

/// The origin seq in a `Nats-Stream-Source` value: `<stream>:<hash> <seq> <filters> …`
/// (2.15 adds a field at the end, so only the first two are read).
fn origin_seq(value: &str) -> Option<u64> {
    value.split(' ').nth(1)?.parse().ok()
}

/// Asks the central cluster to elect a new leader for the stream: the new leader sets its
/// sources up again at once, where the old one may be waiting out a retry back-off of up to
/// two minutes after the link went down.
pub async fn nudge(
    central: &jetstream::Context,
    venue: &VenueId,
    stream: StreamName,
) -> Result<(), CentralError> {
    let name = venue.central_stream(stream);
    #[derive(serde::Deserialize)]
    struct SteppedDown {
        #[serde(default)]
        success: bool,
    }
    let answer: jetstream::response::Response<SteppedDown> = central
        .request(format!("STREAM.LEADER.STEPDOWN.{name}"), &())
        .await
        .map_err(|e| CentralError::Unreachable(e.to_string()))?;
    match answer {
        jetstream::response::Response::Ok(SteppedDown { success: true }) => Ok(()),
        jetstream::response::Response::Ok(_) => Err(CentralError::Stream {
            stream: name,
            reason: "the leader did not step down".into(),
        }),
        jetstream::response::Response::Err { error } => Err(CentralError::Stream {
            stream: name,
            reason: format!("step-down refused: {error}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_has_no_subjects_and_one_transformed_source_through_the_venue_domain() {
        let venue: VenueId = "east".parse().unwrap();
        let config = desired(&venue, StreamName::State, REPLICAS);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["name"], "VENUE_east_STATE");
        assert!(json.get("subjects").is_none(), "{json}");
        assert_eq!(json["num_replicas"], 3);
        // Zero is left out: no window, so the server keeps none for a stream with sources.
        assert!(json.get("duplicate_window").is_none(), "{json}");
        let source = &json["sources"][0];
        assert_eq!(source["name"], "STATE");
        assert_eq!(source["external"]["api"], "$JS.venue-east.API");
        assert_eq!(
            source["subject_transforms"],
            serde_json::json!([{"src": "tournament.>", "dest": "venue.east.tournament.>"}])
        );
    }

    #[test]
    fn the_origin_seq_is_the_second_field() {
        assert_eq!(
            origin_seq(
                "STATE:Ab12Cd34 1234 tournament.> venue.v1.tournament.> tournament.t9.state.x"
            ),
            Some(1234)
        );
        assert_eq!(origin_seq("STATE:Ab12Cd34 77 a b c extra"), Some(77));
        assert_eq!(origin_seq("STATE"), None);
        assert_eq!(origin_seq("STATE:x y"), None);
    }

    #[test]
    fn sources_compare_by_what_they_take() {
        let venue: VenueId = "east".parse().unwrap();
        let a = source(&venue, StreamName::State);
        assert!(same_source(&a, &a.clone()));
        let other: VenueId = "west".parse().unwrap();
        assert!(!same_source(&a, &source(&other, StreamName::State)));
        assert!(!same_source(&a, &source(&venue, StreamName::Audit)));
    }
}
