//! The read flood: [`RATE`] `GET …/events?since=0&limit=1000` a second with the viewer token,
//! each a ~14 MB page of the large tournament, sent at that rate whatever leaf answers, each
//! answer read to its end. At most [`IN_FLIGHT`] at once: past that a request is not sent
//! (and counted), so the tool's own sockets stay bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::tally::{Source, Tally};

pub const RATE: u32 = 1_000;
/// Requests go out in batches this often: a 1 ms timer would cost more than it shows.
const BATCH_EVERY: Duration = Duration::from_millis(10);
/// Two seconds' worth.
pub const IN_FLIGHT: usize = 2_000;
/// Headers and the whole body within this, or the request counts as `timeout`.
const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(url: String, viewer: String, stop: CancellationToken) -> anyhow::Result<Source> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()?;
    let answers = Tally::default();
    let bytes = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let per_batch = (RATE as u128 * BATCH_EVERY.as_millis() / 1000) as usize;
    let mut requests = JoinSet::new();
    let mut batches = tokio::time::interval(BATCH_EVERY);
    while stop.run_until_cancelled(batches.tick()).await.is_some() {
        while requests.try_join_next().is_some() {}
        for _ in 0..per_batch {
            let Ok(permit) = gate.clone().try_acquire_owned() else {
                answers.add(format!("not sent ({IN_FLIGHT} in flight)"));
                continue;
            };
            let request = http.get(&url).bearer_auth(&viewer);
            let (answers, bytes) = (answers.clone(), bytes.clone());
            requests.spawn(async move {
                answers.add(get(request, &bytes).await);
                drop(permit);
            });
        }
    }
    let abandoned = requests.len();
    requests.shutdown().await;
    Ok(Source {
        name: format!("{RATE} GET …/events?since=0&limit=1000 a second"),
        answers,
        detail: format!(
            "{:.1} GB read; {abandoned} still in flight at the end",
            bytes.load(Ordering::Relaxed) as f64 / 1e9
        ),
    })
}

/// One request, its body read and thrown away; the answer's kind.
async fn get(request: reqwest::RequestBuilder, bytes: &AtomicU64) -> String {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return failure(&e),
    };
    let status = response.status().as_u16().to_string();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => return status,
            Err(e) => return format!("{status} then {}", failure(&e)),
        }
    }
}

fn failure(e: &reqwest::Error) -> String {
    if e.is_timeout() { "timeout" } else { "error" }.to_owned()
}
