//! Reads both of leaf's streams back in full from a restarted server.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use leaf::event::Seq;
use leaf::log::{EventLog, Filter, JetStreamLog, StreamName};

use crate::HarnessError;
use crate::stream_ledger::StreamContents;

const PAGE: usize = 5_000;
/// How long a restarted server may take to load its streams.
const RECOVERY: Duration = Duration::from_secs(10);

/// Whether each of leaf's streams exists on the server at `url`. Asked with a plain client,
/// because connecting leaf's log would create a missing stream and hide its loss. Only the
/// server's "stream not found" counts as missing; other errors (JetStream still recovering
/// its store) are asked again for a while.
pub async fn streams_present(url: &str) -> Result<Vec<(StreamName, bool)>, HarnessError> {
    let js = plain_client(url).await?;
    let mut out = Vec::new();
    for name in StreamName::ALL {
        let deadline = Instant::now() + RECOVERY;
        let present = loop {
            match js.get_stream(name.as_str()).await {
                Ok(_) => break true,
                Err(e) => match e.kind() {
                    GetStreamErrorKind::JetStream(js_error)
                        if js_error.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                    {
                        break false;
                    }
                    _ if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => {
                        return Err(HarnessError::Log(format!(
                            "stream {name}: no answer within {RECOVERY:?}: {e}"
                        )));
                    }
                },
            }
        };
        out.push((name, present));
    }
    Ok(out)
}

/// Every message of both streams, with what the server says of each stream's state.
pub async fn read_streams(
    url: &str,
    log: &JetStreamLog,
) -> Result<Vec<StreamContents>, HarnessError> {
    let js = plain_client(url).await?;
    let mut out = Vec::new();
    for name in StreamName::ALL {
        let mut stream = js
            .get_stream(name.as_str())
            .await
            .map_err(|e| HarnessError::Log(format!("stream {name}: {e}")))?;
        let state = stream
            .info()
            .await
            .map_err(|e| HarnessError::Log(format!("stream {name} info: {e}")))?
            .state
            .clone();
        let mut entries = Vec::new();
        loop {
            let after = entries
                .last()
                .map_or(Seq(0), |e: &leaf::log::Entry| e.stream_seq);
            let page = log
                .read(name, Filter::All, after, PAGE)
                .await
                .map_err(|e| HarnessError::Log(format!("reading {name}: {e}")))?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        out.push(StreamContents {
            name,
            entries,
            messages: state.messages,
            first_seq: state.first_sequence,
            last_seq: state.last_sequence,
        });
    }
    Ok(out)
}

/// A JetStream context of a plain client, not leaf's log.
async fn plain_client(url: &str) -> Result<jetstream::Context, HarnessError> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| HarnessError::Log(format!("connecting to {url}: {e}")))?;
    Ok(jetstream::new(client))
}
