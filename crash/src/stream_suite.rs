//! The nats-server suites (kill -9, and power loss with either sync policy): writers publish,
//! the server dies at a seeded moment, a new container starts on the same store, and the
//! streams are read back and compared with every acknowledgement so far.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leaf::log::JetStreamLog;
use leaf::log::{NatsAuth, ServerKind};
use tokio::sync::watch;

use crate::HarnessError;
use crate::engine::Engine;
use crate::findings::{Findings, Tally, emit};
use crate::lazyfs::{LazyFs, Stats};
use crate::nats_node::{NatsNode, SyncPolicy};
use crate::schedule;
use crate::stream_ledger::StreamLedger;
use crate::stream_reader::{read_streams, streams_present};
use crate::stream_writer::Writer;

/// How the server goes down in each cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// kill -9 of nats-server: the OS page cache survives, so this alone cannot lose data
    /// that was written but not synced.
    Kill,
    /// kill -9, then everything written but not fsynced is thrown away: the store lives on
    /// [`LazyFs`].
    PowerCut,
}

#[derive(Debug, Clone)]
pub struct StreamSuite {
    pub name: &'static str,
    pub cycles: u32,
    pub writers: usize,
    pub sync: SyncPolicy,
    pub crash: Crash,
    /// The server runs this long (uniform, milliseconds) before each crash.
    pub run_ms: (u64, u64),
}

#[derive(Debug)]
pub struct Report {
    pub tally: Tally,
    pub findings: Findings,
    pub seed: u64,
    pub sent: usize,
    pub elapsed: Duration,
    /// Start of a new container until it answered, per cycle.
    pub restarts: Vec<Duration>,
    /// Cycles whose crash lost acked messages that were still there before it.
    pub cycles_with_loss: u32,
    /// Streams the restarted server did not have (their metadata lost with the power), which
    /// leaf's connect then re-created.
    pub vanished_streams: u32,
    pub fs: Option<Stats>,
}

impl Report {
    pub fn restart_median(&self) -> Duration {
        let mut times = self.restarts.clone();
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    }
}

pub async fn run(suite: StreamSuite) -> Result<Report, HarnessError> {
    let begun = Instant::now();
    let schedule::Start { seed, mut rng, dir } = schedule::start(suite.name, suite.cycles)?;
    let engine = Engine::connect().await?;
    let conf = dir.path().join("conf");
    let lazy = match suite.crash {
        Crash::PowerCut => Some(LazyFs::mount(&dir.path().join("store"))?),
        Crash::Kill => None,
    };
    let store = match &lazy {
        Some(fs) => fs.mountpoint().to_owned(),
        None => {
            let store = dir.path().join("store");
            std::fs::create_dir_all(&store).map_err(|e| HarnessError::Setup(e.to_string()))?;
            store
        }
    };

    let mut node = NatsNode::start(engine, &conf, &store, suite.sync).await?;
    // leaf's own connect creates both streams with leaf's configuration.
    let mut log = Arc::new(connect(node.url()).await?);
    let ledger = Arc::new(Mutex::new(StreamLedger::new()));
    let mut writers: Vec<Writer> = (0..suite.writers)
        .map(|i| Writer::new(i, rng.u64(..)))
        .collect();
    let mut findings = Findings::default();
    let mut restarts = Vec::new();
    let mut cycles_with_loss = 0;
    let mut vanished_streams = 0;

    for cycle in 1..=suite.cycles {
        let (stop, stopped) = watch::channel(false);
        let tasks: Vec<_> = writers
            .drain(..)
            .map(|w| tokio::spawn(w.run(log.clone(), ledger.clone(), stopped.clone())))
            .collect();
        tokio::time::sleep(schedule::kill_after(
            &mut rng,
            suite.run_ms.0,
            suite.run_ms.1,
        ))
        .await;

        // The crash. The container is gone (and nats-server with it) before the page cache
        // is dropped, so no write of the dead server can land after the cut.
        node.kill().await?;
        if let Some(fs) = &lazy {
            fs.power_cut();
        }
        let _ = stop.send(true);
        for task in tasks {
            writers.push(
                task.await
                    .map_err(|e| HarnessError::Setup(format!("a writer panicked: {e}")))?,
            );
        }

        restarts.push(node.restart().await?);
        let mut cycle_findings = Findings::default();
        for (stream, present) in streams_present(node.url()).await? {
            match (present, suite.crash, suite.sync) {
                (true, ..) => {}
                // Without fsync nothing is promised, the stream's config included: the loss
                // shows as lost messages once leaf's connect has re-created the stream.
                (false, Crash::PowerCut, SyncPolicy::Default) => vanished_streams += 1,
                // After a kill the page cache kept everything, and with `always` even a power
                // cut must not take a stream away.
                (false, ..) => {
                    vanished_streams += 1;
                    cycle_findings
                        .inconsistent
                        .push(format!("stream {stream} is gone after the restart"));
                }
            }
        }
        // A new connection for the new server (its port changed); it re-creates a stream
        // that vanished, so the writers can go on and the loss shows as lost messages.
        log = Arc::new(connect(node.url()).await?);
        let contents = read_streams(node.url(), &log).await?;
        let checked = ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&contents);
        cycle_findings.merge(checked);
        if findings.merge_labelled(&format!("cycle {cycle}"), cycle_findings) > 0 {
            cycles_with_loss += 1;
        }
    }
    node.stop().await?;
    let fs = lazy.as_ref().map(LazyFs::stats);
    drop(lazy);

    let ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let tally = Tally::new(suite.name, suite.cycles, ledger.acked_count(), &findings);
    emit(&tally.to_string());
    Ok(Report {
        tally,
        sent: ledger.sent_count(),
        findings,
        seed,
        elapsed: begun.elapsed(),
        restarts,
        cycles_with_loss,
        vanished_streams,
        fs,
    })
}

async fn connect(url: &str) -> Result<JetStreamLog, HarnessError> {
    JetStreamLog::connect(url, NatsAuth::None, ServerKind::External)
        .await
        .map_err(|e| HarnessError::Log(format!("connecting leaf's log to {url}: {e}")))
}
