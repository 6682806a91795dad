//! The workload itself, the same for both systems: connect every client (a bounded number at
//! a time), let each report the appends it receives, drive appends at the scenario's rate,
//! and gather the figures. A system supplies only how to connect a client, how a client
//! reads, and how to append.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, watch};

use super::figures::{Figures, rss_bytes};
use super::scenario::{Kind, Scenario};
use super::sent::SentTimes;

/// Connects in flight at once: enough to be quick, few enough not to overflow accept queues.
const CONNECTS_IN_FLIGHT: usize = 128;
/// After the last append, for its event to reach the last clients.
const TAIL: Duration = Duration::from_millis(500);

/// One connected client of the system under test.
pub trait Client: Send + 'static {
    /// The append numbers (`n`) in the next frame; `None` once the connection is gone.
    fn receive(&mut self) -> impl Future<Output = Option<Vec<usize>>> + Send;
}

pub async fn run<C, Connect, Connecting, Append, Appending>(
    system: &'static str,
    scenario: &Scenario,
    server_pid: u32,
    connect: Connect,
    append: Append,
) -> anyhow::Result<Figures>
where
    C: Client,
    Connect: Fn(usize) -> Connecting,
    Connecting: Future<Output = anyhow::Result<C>> + Send + 'static,
    Append: Fn(usize) -> Appending,
    Appending: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut figures = Figures::new(system, scenario.clients);
    let rss_before = rss_bytes(server_pid);
    let gate = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let begun = Instant::now();
    let connecting: Vec<_> = (0..scenario.clients)
        .map(|i| {
            let gate = gate.clone();
            let client = connect(i);
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                client.await
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(scenario.clients);
    for task in connecting {
        clients.push(task.await??);
    }
    figures.connect_all = begun.elapsed();
    if let (Some(before), Some(after)) = (rss_before, rss_bytes(server_pid)) {
        figures.rss_per_client = Some(after.saturating_sub(before) / scenario.clients as u64);
    }

    let sent = Arc::new(SentTimes::new(scenario.appends() + 1));
    let drops = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(read(client, sent.clone(), drops.clone(), stopped.clone())))
        .collect();

    let run_begun = Instant::now();
    match scenario.kind {
        Kind::Live => {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / scenario.rate.max(1));
            let mut appends = Vec::with_capacity(scenario.appends());
            for n in 1..=scenario.appends() {
                tick.tick().await;
                sent.mark(n);
                appends.push(tokio::spawn(append(n)));
            }
            for append in appends {
                append.await??;
            }
            tokio::time::sleep(TAIL).await;
        }
        Kind::Idle => tokio::time::sleep(scenario.duration).await,
    }
    figures.elapsed = run_begun.elapsed();
    let _ = stop.send(true);
    for reader in readers {
        let hist = reader.await?;
        figures.deliveries += hist.len();
        figures.latency.add(&hist)?;
    }
    figures.drops = drops.load(Ordering::Relaxed);
    Ok(figures)
}

/// One client's share of the histogram: the age of every append it received.
async fn read<C: Client>(
    mut client: C,
    sent: Arc<SentTimes>,
    drops: Arc<AtomicU64>,
    mut stopped: watch::Receiver<bool>,
) -> Histogram<u64> {
    let mut hist = Figures::histogram();
    loop {
        let received = tokio::select! {
            _ = stopped.changed() => break,
            received = client.receive() => received,
        };
        let Some(appends) = received else {
            drops.fetch_add(1, Ordering::Relaxed);
            break;
        };
        for n in appends {
            if let Some(age) = sent.age_micros(n) {
                let _ = hist.record(age.max(1));
            }
        }
    }
    hist
}
