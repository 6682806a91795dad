//! The flood scenario ("Hostile clients"): the venue workload twice on one leaf, first quiet
//! and then while hostile clients hammer one large tournament, and how much the flood costs
//! the venue: append and display p99 against the quiet run (goal: at most twice), leaf's
//! memory, what the flood got back, and the NATS consumers left once it is over (goal: none).
//!
//! Layout:
//! - `large`: the large tournament (300 events of ~48 KB) and its one viewer token.
//! - `sockets`: 40 sockets resuming from 0, reading slowly or not at all, reconnecting.
//! - `reads`: 1,000 `GET …/events?since=0&limit=1000` a second.
//! - `logins`: a login flood with wrong PINs for the TD's name.
//! - `memory`: leaf's RSS during a phase, with a ceiling that stops the flood.
//! - `consumers`: the consumers left, from health.
//! - `tally`, `report`: counting answers, and the Markdown.

mod consumers;
mod large;
mod logins;
mod memory;
mod reads;
mod report;
mod sockets;
mod tally;

use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use report::Report;

use self::large::Large;
use self::memory::Peak;
use self::report::Phase;
use self::tally::Source;
use super::figures::{Figures, peak_rss_bytes, rss_bytes};
use super::leaf_side::LeafSide;
use super::scenario::{Kind, Scenario};

/// Sockets the flood opens at most, beyond the workload's displays.
pub const OPEN_FILES: usize = sockets::CLIENTS + reads::IN_FLIGHT + logins::TASKS;
/// The flood starts this long before the workload, so the workload meets it at full strength.
const LEAD: Duration = Duration::from_secs(2);
/// After the flood, before counting consumers: time for leaf to let go of what it made.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(leaf: &LeafSide, scenario: &Scenario) -> anyhow::Result<Report> {
    let pid = leaf.pid().context("leaf has no pid")?;
    eprintln!(
        "flood: making the large tournament ({} events)",
        large::EVENTS
    );
    let large = large::create(leaf)
        .await
        .context("making the large tournament")?;
    let venue = leaf.tournaments("Venue", scenario.tournaments).await?;
    let workload = Scenario {
        kind: Kind::Live,
        ..*scenario
    };
    let rss_after_setup = rss_bytes(pid);
    let ceiling = memory::ceiling();

    eprintln!("flood: quiet phase");
    let quiet = {
        let watch = memory::watch(pid, u64::MAX, CancellationToken::new());
        let figures = leaf.run_on(&workload, &venue).await;
        let peak = watch.finish().await?;
        Phase {
            figures: figures.context("quiet phase")?,
            peak,
        }
    };

    let consumers_before = consumers::left(leaf.base())
        .await
        .map_err(|e| format!("health: {e:#}"));
    eprintln!("flood: flood phase");
    let begun = Instant::now();
    let (figures, peak, sources) = flooded(leaf, &workload, &venue, &large, pid, ceiling).await?;
    let flood_ran = begun.elapsed();
    tokio::time::sleep(SETTLE).await;
    let consumers = consumers::left(leaf.base())
        .await
        .map_err(|e| format!("health: {e:#}"));
    Ok(Report {
        scenario: *scenario,
        large_events: large::EVENTS,
        quiet,
        flood: Phase { figures, peak },
        flood_ran,
        sources,
        rss_after_setup,
        rss_after: rss_bytes(pid),
        high_water: peak_rss_bytes(pid),
        ceiling,
        consumers_before,
        consumers,
    })
}

/// The workload while the flood runs; the flood stops when the workload ends (or fails), or
/// when leaf passes the memory ceiling.
async fn flooded(
    leaf: &LeafSide,
    workload: &Scenario,
    venue: &[(String, String)],
    large: &Large,
    pid: u32,
    ceiling: u64,
) -> anyhow::Result<(Figures, Peak, Vec<Source>)> {
    let stop = CancellationToken::new();
    let watch = memory::watch(pid, ceiling, stop.clone());
    let base = leaf.base();
    let ws = base.replacen("http", "ws", 1);
    let socket_url = format!(
        "{ws}/ws?tournament={}&token={}&since=0",
        large.id, large.viewer
    );
    let read_url = format!(
        "{base}/api/v1/tournaments/{}/events?since=0&limit=1000",
        large.id
    );
    let sockets = tokio::spawn(sockets::run(socket_url, stop.clone()));
    let reads = tokio::spawn(reads::run(read_url, large.viewer.clone(), stop.clone()));
    let logins = tokio::spawn(logins::run(
        format!("{base}/api/v1/auth/login"),
        stop.clone(),
    ));
    let figures = {
        let _stop = stop.clone().drop_guard();
        tokio::time::sleep(LEAD).await;
        leaf.run_on(workload, venue).await
    };
    let sources = vec![
        sockets.await.context("the sockets' task")?,
        reads
            .await
            .context("the reads' task")?
            .context("read flood")?,
        logins
            .await
            .context("the logins' task")?
            .context("login flood")?,
    ];
    let peak = watch.finish().await?;
    Ok((figures.context("flood phase")?, peak, sources))
}
