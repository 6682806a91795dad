//! `leaf-load --scenario history`: what years of history do to a start.
//!
//! For each size (10k, 100k and 1M appends over 200 tournaments) it builds a log the way leaf
//! writes one, then measures the release binary on it:
//! - leaf starts once on a fresh data dir, which creates the streams, and stops;
//! - a plain nats-server on the same store fills the log straight through JetStream, in leaf's
//!   record format: the creations, then per append a STATE event and its AUDIT record (a
//!   million appends over HTTP would take hours);
//! - leaf starts on it (exec → health 200) with a leaf.db that has none of it, waits for its
//!   projection to drain, stops, and starts again at once: a restart in which the whole log is
//!   minutes old.
//!
//! That last restart is not the one a venue sees. At start nats-server reloads the message
//! ids of every message younger than the streams' duplicate window (10 min), which here is
//! the whole log. A venue's history is days to years old. So, once every log has left the
//! window, each gets [`TONIGHT`] more appends (a busy night's, all inside the window: the
//! worst a restart meets), leaf applies them and stops, and the next day's restart is
//! measured.
//!
//! It prints one Markdown table: ready times, leaf's RSS after the next day's restart, and the
//! store's bytes on disk per append.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use leaf::event::{Seq, TournamentId};
use leaf::log::DUPLICATE_WINDOW;
use leaf::log::record::{APPENDED, AuditRecord, CREATED, StateRecord};
use tokio::process::{Child, Command};

use super::leaf_side::{free_port, wait_healthy};

/// The log sizes measured, in appends.
pub const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Tournaments the appends are spread over: a few years of a venue.
pub const TOURNAMENTS: usize = 200;
/// Appends made inside the duplicate window before the next day's restart: a busy night.
pub const TONIGHT: u64 = 5_000;
/// Publishes in flight while filling.
const IN_FLIGHT: usize = 2_000;
/// The event types, in turn.
const KINDS: [&str; 5] = ["clock", "level", "seat", "chips", "payout"];

/// One size's log, its data dir and what was measured on it.
struct History {
    appends: u64,
    root: PathBuf,
    _removed_at_the_end: Option<tempfile::TempDir>,
    fill: Duration,
    filled_at: Instant,
    first_ready: Duration,
    /// Right after the fill, the whole log inside the duplicate window.
    fresh_restart: Start,
    /// Once the history left the window, with [`TONIGHT`] appends inside it.
    next_day: Option<NextDay>,
}

/// A restart: exec → ready, and leaf's startup steps as it logged them (`name ms`).
struct Start {
    ready: Duration,
    steps: String,
}

struct NextDay {
    start: Start,
    rss_bytes: u64,
    disk_bytes: u64,
    /// leaf.db and its WAL: the projection, whose event positions grow with history.
    db_bytes: u64,
}

/// Measures every size in `sizes`; the report.
pub async fn run(leaf: &Path, nats_server: &Path, sizes: &[u64]) -> anyhow::Result<String> {
    let mut histories = Vec::new();
    for &appends in sizes {
        eprintln!("leaf-load history: {appends} appends over {TOURNAMENTS} tournaments");
        histories.push(build(leaf, nats_server, appends).await?);
    }
    if let Some(last) = histories.iter().map(|h| h.filled_at).max() {
        let old = last + DUPLICATE_WINDOW + Duration::from_secs(5);
        let wait = old.saturating_duration_since(Instant::now());
        eprintln!(
            "leaf-load history: waiting {} s for the logs to leave nats-server's duplicate window",
            wait.as_secs()
        );
        tokio::time::sleep_until(old.into()).await;
    }
    for history in &mut histories {
        eprintln!(
            "leaf-load history: the next day on {} appends, {TONIGHT} of them tonight",
            history.appends
        );
        history.next_day = Some(next_day(leaf, nats_server, history).await?);
    }
    Ok(report(&histories))
}

async fn build(leaf: &Path, nats_server: &Path, appends: u64) -> anyhow::Result<History> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_owned();
    // HISTORY_KEEP=1 leaves the data dirs behind, for looking into a start by hand.
    let removed_at_the_end = if std::env::var_os("HISTORY_KEEP").is_some() {
        eprintln!("leaf-load history: keeping {}", dir.keep().display());
        None
    } else {
        Some(dir)
    };
    let data = root.join("data");
    let mut first = Leaf::start(leaf, nats_server, &data, &root).await?;
    first.stop().await?;

    let begun = Instant::now();
    fill(nats_server, &data.join("nats"), &root, 0..appends).await?;
    let fill = begun.elapsed();
    let filled_at = Instant::now();

    let mut leaf_run = Leaf::start(leaf, nats_server, &data, &root).await?;
    let first_ready = leaf_run.ready;
    leaf_run.wait_projected().await?;
    leaf_run.stop().await?;

    let mut restart = Leaf::start(leaf, nats_server, &data, &root).await?;
    let fresh_restart = Start {
        ready: restart.ready,
        steps: last_start_steps(&root.join("leaf.log")),
    };
    restart.stop().await?;
    Ok(History {
        appends,
        root,
        _removed_at_the_end: removed_at_the_end,
        fill,
        filled_at,
        first_ready,
        fresh_restart,
        next_day: None,
    })
}

/// Tonight's appends, applied by leaf, then the next start.
async fn next_day(leaf: &Path, nats_server: &Path, history: &History) -> anyhow::Result<NextDay> {
    let (root, appends) = (&history.root, history.appends);
    let data = root.join("data");
    fill(
        nats_server,
        &data.join("nats"),
        root,
        appends..appends + TONIGHT,
    )
    .await?;
    let mut tonight = Leaf::start(leaf, nats_server, &data, root).await?;
    tonight.wait_projected().await?;
    tonight.stop().await?;

    let mut restart = Leaf::start(leaf, nats_server, &data, root).await?;
    let start = Start {
        ready: restart.ready,
        steps: last_start_steps(&root.join("leaf.log")),
    };
    // What the restarted leaf holds once ready, not what its start passed through.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_bytes = restart.rss()?;
    restart.stop().await?;
    let disk_bytes = du(&data.join("nats"))?;
    let db_bytes = ["leaf.db", "leaf.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data.join(f)).ok())
        .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512)
        .sum();
    Ok(NextDay {
        start,
        rss_bytes,
        disk_bytes,
        db_bytes,
    })
}

/// Publishes the appends numbered `appends` over [`TOURNAMENTS`] tournaments (and their
/// creations, for a range from 0), through a nats-server of the bench's own on leaf's store.
/// Append `n` is tournament `n % TOURNAMENTS`'s event `n / TOURNAMENTS + 1`, so a later range
/// carries on each tournament's seqs.
pub(super) async fn fill(
    nats_server: &Path,
    store: &Path,
    work: &Path,
    appends: Range<u64>,
) -> anyhow::Result<()> {
    let port = free_port()?;
    let config = work.join("filler.conf");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{\n  store_dir: {store:?}\n  max_file_store: 4GB\n}}\n"
        ),
    )?;
    let mut server = Command::new(nats_server)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("filler.log"))?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", nats_server.display()))?;
    let url = format!("nats://127.0.0.1:{port}");
    let client = connect(&url).await?;
    let js = async_nats::jetstream::new(client);

    let tournaments: Vec<TournamentId> = (0..TOURNAMENTS)
        .map(|i| format!("00000000-0000-4000-8000-{i:012x}").parse())
        .collect::<Result<_, _>>()?;
    let mut pending = FuturesUnordered::new();
    let ts = "2026-12-01T20:00:00.000Z".to_owned();
    let publish = |subject: String, id: String, payload: Vec<u8>| {
        let js = js.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            js.publish_with_headers(subject, headers, payload.into())
                .await?
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from)
        }
    };
    let creations = if appends.start == 0 { TOURNAMENTS } else { 0 };
    for (i, t) in tournaments.iter().enumerate().take(creations) {
        let record = AuditRecord {
            action: CREATED.into(),
            actor: "td:history".into(),
            request_id: None,
            ts: ts.clone(),
            name: Some(format!("History {i}")),
            event_type: None,
            seq: None,
            recovered: false,
        };
        pending.push(publish(
            format!("tournament.{t}.audit"),
            format!("create:{t}"),
            serde_json::to_vec(&record)?,
        ));
    }
    for n in appends {
        let i = (n % TOURNAMENTS as u64) as usize;
        let t = tournaments[i];
        let seq = Seq(n / TOURNAMENTS as u64 + 1);
        let kind = KINDS[(n as usize / TOURNAMENTS) % KINDS.len()];
        let state = StateRecord {
            seq,
            ts: ts.clone(),
            kind: kind.into(),
            data: serde_json::json!({"n": n, "table": i % 30, "note": "a typical small event"}),
            key: None,
            actor: Some("td:history".into()),
            request_id: None,
        };
        let audit = AuditRecord {
            action: APPENDED.into(),
            actor: "td:history".into(),
            request_id: None,
            ts: ts.clone(),
            name: None,
            event_type: Some(kind.into()),
            seq: Some(seq),
            recovered: false,
        };
        // Each append's two messages in order, as leaf writes them.
        pending.push(publish(
            format!("tournament.{t}.state.{kind}"),
            format!("{t}:history-{n}"),
            serde_json::to_vec(&state)?,
        ));
        pending.push(publish(
            format!("tournament.{t}.audit"),
            format!("audit:{t}:{seq}"),
            serde_json::to_vec(&audit)?,
        ));
        while pending.len() >= IN_FLIGHT {
            if let Some(done) = pending.next().await {
                done?;
            }
        }
    }
    while let Some(done) = pending.next().await {
        done?;
    }
    // SIGTERM: nats-server flushes its store and exits.
    if let Some(pid) = server.id() {
        // SAFETY: kill(2) on the child this bench spawned and has not reaped.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .context("the filling nats-server did not stop")??;
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match async_nats::connect(url).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > deadline => bail!("connecting to {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A leaf process on the history's data dir.
pub(super) struct Leaf {
    child: Child,
    pub(super) base: String,
    http: reqwest::Client,
    pub(super) ready: Duration,
}

impl Leaf {
    pub(super) async fn start(
        leaf: &Path,
        nats_server: &Path,
        data: &Path,
        work: &Path,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join("leaf.log"))?;
        let begun = Instant::now();
        let mut child = Command::new(leaf)
            .arg("--data-dir")
            .arg(data)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--nats-server")
            .arg(nats_server)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let log_path = work.join("leaf.log");
        tokio::select! {
            healthy = wait_healthy(&http, &base, Duration::from_secs(600), &log_path) => healthy?,
            exited = child.wait() => bail!(
                "leaf exited before it was ready ({}); its log:\n{}",
                exited?,
                std::fs::read_to_string(&log_path).unwrap_or_default().lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        }
        Ok(Self {
            child,
            base,
            http,
            ready: begun.elapsed(),
        })
    }

    /// Waits until leaf.db holds everything the feed applied.
    pub(super) async fn wait_projected(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let health: serde_json::Value = self
                .http
                .get(format!("{}/api/v1/health", self.base))
                .send()
                .await?
                .json()
                .await?;
            match health["subsystems"]["feed"]["projection_behind"].as_u64() {
                Some(0) => return Ok(()),
                Some(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Some(n) => bail!("the projection is still {n} changes behind after 30 minutes"),
                None => bail!("health does not say how far the projection is: {health}"),
            }
        }
    }

    /// leaf's resident memory (its own, not its nats-server child's).
    pub(super) fn rss(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("leaf has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmRSS")?;
        Ok(kb * 1024)
    }

    pub(super) async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on the child this bench spawned and has not reaped.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("leaf did not stop within 30 s of SIGTERM")??;
        if !status.success() {
            bail!("leaf exited with {status}");
        }
        Ok(())
    }
}

/// Bytes the files under `dir` take on disk.
pub(super) fn du(dir: &Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut todo: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    Ok(total)
}

/// The steps of leaf's last start in `log` (`step=nats ms=812` lines), as `nats 812 ms, …`:
/// where a restart's time goes.
fn last_start_steps(log: &Path) -> String {
    const READY: &str = "leaf is ready";
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let end = text.rfind(READY).unwrap_or(text.len());
    let begin = text[..end].rfind(READY).unwrap_or(0);
    let steps: Vec<String> = text[begin..end]
        .lines()
        .filter_map(|line| {
            // nats-server's own: "Restored 1,000,200 messages for stream '$G > AUDIT' in 2.1s"
            if let Some(at) = line.find("Restored ") {
                let what = &line[at..];
                let stream = what.split('>').nth(1)?.split('\'').next()?.trim();
                let took = what.rsplit(" in ").next()?.trim();
                return Some(format!("nats-server restored {stream} in {took}"));
            }
            if !(line.contains("started") && line.contains("step=")) {
                return None;
            }
            let field = |name: &str| {
                let at = line.find(&format!("{name}="))? + name.len() + 1;
                let rest = &line[at..];
                let value = match rest.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next()?,
                    None => rest.split(' ').next()?,
                };
                Some(value.to_owned())
            };
            Some(format!("{} {} ms", field("step")?, field("ms")?))
        })
        .collect();
    steps.join(", ")
}

fn report(histories: &[History]) -> String {
    let mut out = format!(
        "| appends in the log | filled in | first start, leaf.db empty: exec → ready | restart at once, the whole log in the duplicate window | next day's restart, {TONIGHT} appends tonight: exec → ready | leaf RSS after it | store bytes on disk per append | leaf.db bytes per append |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for h in histories {
        let Some(day) = &h.next_day else { continue };
        let total = h.appends + TONIGHT;
        let _ = writeln!(
            out,
            "| {} | {:.1} s | {:.2} s | {:.2} s | {:.2} s | {:.1} MB | {} | {} |",
            h.appends,
            h.fill.as_secs_f64(),
            h.first_ready.as_secs_f64(),
            h.fresh_restart.ready.as_secs_f64(),
            day.start.ready.as_secs_f64(),
            day.rss_bytes as f64 / 1e6,
            day.disk_bytes / total,
            day.db_bytes / total
        );
    }
    out.push_str("\nWhere each restart's time went (leaf's own startup steps):\n");
    for h in histories {
        let _ = writeln!(out, "- {}, at once: {}", h.appends, h.fresh_restart.steps);
        if let Some(day) = &h.next_day {
            let _ = writeln!(out, "- {}, next day: {}", h.appends, day.start.steps);
        }
    }
    if let (Some(small), Some(large)) = (histories.first(), histories.last())
        && let (Some(s), Some(l)) = (&small.next_day, &large.next_day)
    {
        let _ = writeln!(
            out,
            "\nnext day's restart ready({}) / ready({}) = {:.2}; RSS({}) / RSS({}) = {:.2}",
            large.appends,
            small.appends,
            l.start.ready.as_secs_f64() / s.start.ready.as_secs_f64().max(1e-9),
            large.appends,
            small.appends,
            l.rss_bytes as f64 / s.rss_bytes.max(1) as f64
        );
    }
    out
}
