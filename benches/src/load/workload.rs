//! The workload itself, the same for both systems: connect every client (a bounded number at
//! a time), let each report the appends it receives, drive appends at the scenario's rate,
//! and gather the figures. A system supplies only how to connect a client, how a client
//! reads, and how to append.
//!
//! Both systems share one mapping, which the storm relies on: client `i` watches tournament
//! `i % T`, and append `n` goes to tournament `n % T`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, watch};

use super::figures::{Figures, rss_bytes};
use super::scenario::{Kind, Scenario};
use super::sent::SentTimes;

/// Connects in flight at once: enough to be quick, few enough not to overflow accept queues.
const CONNECTS_IN_FLIGHT: usize = 128;
/// After the last append, for its event to reach the last clients.
const TAIL: Duration = Duration::from_millis(500);
/// Backlog appends in flight at once while the storm's clients are away.
const BACKLOG_IN_FLIGHT: usize = 16;
/// A storm client that has not caught up by then counts as a drop.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

/// One connected client of the system under test.
pub trait Client: Send + 'static {
    /// The append numbers (`n`) in the next frame; `None` once the connection is gone.
    fn receive(&mut self) -> impl Future<Output = Option<Vec<usize>>> + Send;

    /// Where this client would resume: the last position it has seen, in the system's own
    /// numbering (leaf's per-tournament seq, a JetStream stream seq).
    fn position(&self) -> Option<u64>;
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
    Connect: Fn(usize, Option<u64>) -> Connecting,
    Connecting: Future<Output = anyhow::Result<C>> + Send + 'static,
    Append: Fn(usize) -> Appending,
    Appending: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut figures = Figures::new(system, scenario.clients);
    let rss_before = rss_bytes(server_pid);
    let begun = Instant::now();
    let clients = connect_all((0..scenario.clients).map(|i| connect(i, None))).await?;
    figures.connect_all = begun.elapsed();
    if let (Some(before), Some(after)) = (rss_before, rss_bytes(server_pid)) {
        figures.rss_per_client = Some(after.saturating_sub(before) / scenario.clients as u64);
    }

    let sent = Arc::new(SentTimes::new(scenario.last_append() + 1));
    let drops = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(read(client, sent.clone(), drops.clone(), stopped.clone())))
        .collect();

    let mut run_begun = Instant::now();
    match scenario.kind {
        Kind::Live | Kind::Storm | Kind::Flood => {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / scenario.rate.max(1));
            let measured = scenario.warm_up() + 1;
            let mut appends = Vec::with_capacity(scenario.appends());
            for n in 1..measured + scenario.appends() {
                tick.tick().await;
                // Warm-up appends go unmarked, so no client counts them.
                if n == measured {
                    run_begun = Instant::now();
                }
                if n >= measured {
                    sent.mark(n);
                }
                let appending = append(n);
                let timed = n >= measured;
                appends.push(tokio::spawn(async move {
                    let begun = Instant::now();
                    let done = appending.await;
                    (done, timed.then(|| begun.elapsed()))
                }));
            }
            for append in appends {
                match append.await? {
                    (Ok(()), Some(took)) => {
                        let _ = figures
                            .append_latency
                            .record((took.as_micros() as u64).max(1));
                    }
                    (Ok(()), None) => {}
                    (Err(e), _) => {
                        // The table says how many; the first says why.
                        if figures.failed_appends == 0 {
                            eprintln!("{system}: an append failed: {e:#}");
                        }
                        figures.failed_appends += 1;
                    }
                }
            }
            tokio::time::sleep(TAIL).await;
        }
        Kind::Idle => tokio::time::sleep(scenario.duration).await,
    }
    figures.elapsed = run_begun.elapsed();
    let _ = stop.send(true);
    let mut clients = Vec::with_capacity(readers.len());
    for reader in readers {
        let (client, hist) = reader.await?;
        figures.deliveries += hist.len();
        figures.latency.add(&hist)?;
        clients.push(client);
    }
    figures.drops = drops.load(Ordering::Relaxed);

    if scenario.kind == Kind::Storm {
        // Futures do nothing until polled: these are the plan, run in order by `storm`.
        let first = scenario.warm_up() + scenario.appends() + 1;
        let missed: Vec<usize> = (first..first + scenario.backlog()).collect();
        let backlog = missed.iter().map(|&n| append(n)).collect();
        let tournaments = scenario.tournaments;
        let returning = clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let expected = missed.iter().copied();
                let expected = expected.filter(|n| n % tournaments == i % tournaments);
                (connect(i, client.position()), expected.collect())
            })
            .collect();
        drop(clients);
        storm(&mut figures, backlog, returning).await?;
    }
    Ok(figures)
}

/// Every client has gone away: the TD makes the `backlog` appends, and then every client
/// comes back at once from where it was, expecting the appends it missed. Figures: each
/// client's time from the storm's start until it holds them all, and the time until the last
/// one does.
async fn storm<C, Connecting, Appending>(
    figures: &mut Figures,
    backlog: Vec<Appending>,
    returning: Vec<(Connecting, Vec<usize>)>,
) -> anyhow::Result<()>
where
    C: Client,
    Connecting: Future<Output = anyhow::Result<C>> + Send + 'static,
    Appending: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(BACKLOG_IN_FLIGHT));
    let mut appends = Vec::with_capacity(backlog.len());
    for appending in backlog {
        let permit = gate.clone().acquire_owned().await?;
        appends.push(tokio::spawn(async move {
            let done = appending.await;
            drop(permit);
            done
        }));
    }
    for appending in appends {
        appending.await??;
    }

    let begun = Instant::now();
    let returning: Vec<_> = returning
        .into_iter()
        .map(|(reconnect, expected)| {
            tokio::spawn(async move {
                tokio::time::timeout(CATCH_UP_LIMIT, catch_up(reconnect, expected))
                    .await
                    .context("not caught up in time")??;
                anyhow::Ok(begun.elapsed())
            })
        })
        .collect();
    let mut caught_up = Figures::histogram();
    let mut last = Duration::ZERO;
    for client in returning {
        match client.await? {
            Ok(took) => {
                let _ = caught_up.record((took.as_micros() as u64).max(1));
                last = last.max(took);
            }
            Err(_) => figures.drops += 1,
        }
    }
    figures.catch_up = Some(caught_up);
    figures.caught_up_all = Some(last);
    Ok(())
}

/// Connects and reads until every append in `expected` has arrived.
async fn catch_up<C: Client>(
    reconnect: impl Future<Output = anyhow::Result<C>>,
    mut expected: Vec<usize>,
) -> anyhow::Result<()> {
    let mut client = reconnect.await?;
    while !expected.is_empty() {
        let appends = client.receive().await.context("connection closed")?;
        expected.retain(|n| !appends.contains(n));
    }
    Ok(())
}

/// Runs the connects, a bounded number at a time.
async fn connect_all<C, Connecting>(
    connects: impl Iterator<Item = Connecting>,
) -> anyhow::Result<Vec<C>>
where
    C: Client,
    Connecting: Future<Output = anyhow::Result<C>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let connecting: Vec<_> = connects
        .map(|client| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                client.await
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(connecting.len());
    for task in connecting {
        clients.push(task.await??);
    }
    Ok(clients)
}

/// One client's share of the histogram: the age of every append it received.
async fn read<C: Client>(
    mut client: C,
    sent: Arc<SentTimes>,
    drops: Arc<AtomicU64>,
    mut stopped: watch::Receiver<bool>,
) -> (C, Histogram<u64>) {
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
    (client, hist)
}
