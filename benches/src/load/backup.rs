//! `leaf-load --scenario backup`: a backup of a big log, taken beside a venue's appends.
//!
//! It builds a log of [`APPENDS`] appends over 200 tournaments the way the history scenario
//! does, starts the release binary on it, and has a TD append over HTTP at a venue's busiest
//! pace (one append due every 50 ms, round the tournaments): for [`QUIET`] with nothing else
//! going on, then for as long as `leaf backup --to` runs beside it, then for [`QUIET`] again.
//! Then it restores the backup into a new data dir. It prints the backup's time and size, the
//! restore's time, and the appends' p50 / p99 / max quiet (both quiet phases together, some
//! 1,800 samples: a p99 of the few hundred of one phase is its few slowest, which this host's
//! noise alone moves by 2×) and beside the backup.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::history::{Leaf, TOURNAMENTS, du, fill};

/// The log's size, in appends (`BACKUP_APPENDS` picks another).
pub const APPENDS: u64 = 1_000_000;
/// Each of the two quiet phases.
const QUIET: Duration = Duration::from_secs(45);
/// Between two appends of the TD: 20 a second, a venue's busiest.
const PACE: Duration = Duration::from_millis(50);
const PIN: &str = "bench-pin-0";

pub async fn run(leaf: &Path, nats_server: &Path, appends: u64) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_owned();
    let data = root.join("data");
    let mut first = Leaf::start(leaf, nats_server, &data, &root).await?;
    first.stop().await?;
    eprintln!("leaf-load backup: filling {appends} appends");
    fill(nats_server, &data.join("nats"), &root, 0..appends).await?;
    add_td(leaf, &data).await?;

    let mut running = Leaf::start(leaf, nats_server, &data, &root).await?;
    running.wait_projected().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let token = login(&http, &running.base).await?;
    let mut td = Td {
        http,
        base: running.base.clone(),
        token,
        next: 0,
        refused: 0,
    };

    eprintln!("leaf-load backup: appends, quiet");
    let quiet_until = Instant::now() + QUIET;
    let quiet = td.append_until(|| Instant::now() >= quiet_until).await?;

    eprintln!("leaf-load backup: appends beside `leaf backup`");
    let backup = root.join("backup");
    let begun = Instant::now();
    let mut taking = Command::new(leaf)
        .arg("--data-dir")
        .arg(&data)
        .arg("backup")
        .arg("--to")
        .arg(&backup)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("backup.err"))?)
        .spawn()
        .context("starting leaf backup")?;
    let mut done = None;
    let during = td
        .append_until(|| {
            if done.is_none()
                && let Ok(Some(status)) = taking.try_wait()
            {
                done = Some((status, begun.elapsed()));
            }
            done.is_some()
        })
        .await?;
    let Some((status, backup_took)) = done else {
        bail!("the backup never ended");
    };
    if !status.success() {
        let err = std::fs::read_to_string(root.join("backup.err")).unwrap_or_default();
        bail!("leaf backup failed ({status}): {err}");
    }
    eprintln!("leaf-load backup: appends, quiet again");
    let quiet_until = Instant::now() + QUIET;
    let mut quiet = quiet;
    quiet.extend(td.append_until(|| Instant::now() >= quiet_until).await?);
    running.stop().await?;
    let backup_bytes = du(&backup)?;
    let store_bytes = du(&data.join("nats"))?;

    eprintln!("leaf-load backup: restoring");
    let restored = root.join("restored");
    let begun = Instant::now();
    let status = Command::new(leaf)
        .arg("--data-dir")
        .arg(&restored)
        .arg("--nats-server")
        .arg(nats_server)
        .arg("restore")
        .arg("--from")
        .arg(&backup)
        .stdout(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        bail!("leaf restore failed ({status})");
    }
    let restore_took = begun.elapsed();

    let (q, d) = (Percentiles::of(quiet), Percentiles::of(during));
    Ok(format!(
        "| log | backup: time | backup: size on disk | event store on disk | restore: time | appends quiet: p50 / p99 / max (n) | appends during the backup: p50 / p99 / max (n) | p99 during / quiet | appends not 201 |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {appends} appends ({} messages) | {:.1} s | {:.0} MB | {:.0} MB | {:.1} s | {} | {} | {:.2} | {} |\n\n\
         Latency is from when each append was due (every 50 ms), so a stall counts every append it held up. The backup is `leaf backup` in a process of its own, beside the running leaf.\n",
        2 * appends + TOURNAMENTS as u64,
        backup_took.as_secs_f64(),
        backup_bytes as f64 / 1e6,
        store_bytes as f64 / 1e6,
        restore_took.as_secs_f64(),
        q,
        d,
        d.p99.as_secs_f64() / q.p99.as_secs_f64().max(1e-9),
        td.refused
    ))
}

/// `leaf td add`, as the box's owner would.
async fn add_td(leaf: &Path, data: &Path) -> anyhow::Result<()> {
    let mut child = Command::new(leaf)
        .arg("--data-dir")
        .arg(data)
        .args(["td", "add", "bench"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(format!("{PIN}\n").as_bytes()).await?;
    }
    if !child.wait().await?.success() {
        bail!("leaf td add failed");
    }
    Ok(())
}

async fn login(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"name": "bench", "pin": PIN}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the login answer")
}

/// A TD appending at a pace, round the history's tournaments.
struct Td {
    http: reqwest::Client,
    base: String,
    token: String,
    next: u64,
    /// Appends answered with anything but 201.
    refused: u64,
}

impl Td {
    /// Appends every [`PACE`] until `stop` says so; each append's time to its answer, from
    /// when it was due, not when it was sent: a stall shows as every append it held up
    /// (no coordinated omission). Answers other than 201 are counted in `self.refused`.
    async fn append_until(
        &mut self,
        mut stop: impl FnMut() -> bool,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut took = Vec::new();
        let begun = tokio::time::Instant::now();
        let mut due = begun;
        while !stop() {
            tokio::time::sleep_until(due).await;
            let i = self.next % TOURNAMENTS as u64;
            self.next += 1;
            let t = format!("00000000-0000-4000-8000-{i:012x}");
            let response = self
                .http
                .post(format!("{}/api/v1/tournaments/{t}/events", self.base))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({"type": "clock", "data": {"n": self.next}}))
                .send()
                .await;
            if !matches!(&response, Ok(r) if r.status().as_u16() == 201) {
                self.refused += 1;
            }
            took.push(due.elapsed());
            due += PACE;
        }
        Ok(took)
    }
}

#[derive(Clone, Copy)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
    max: Duration,
    n: usize,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Self {
            p50: at(0.5),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
            n: samples.len(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:.1} / {:.1} / {:.1} ms ({})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.n
        )
    }
}
