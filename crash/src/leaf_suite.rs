//! The leaf suite: the real leaf binary on a containerised nats-server, TD consoles appending
//! and table displays watching, leaf killed with SIGKILL at seeded moments and started again
//! on the same data dir. After each crash the log, the projection and the displays are held
//! to every 201 leaf gave.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leaf::event::{Seq, TournamentId};
use leaf::log::record::StateRecord;
use leaf::log::{EventLog, Filter, JetStreamLog, StreamName};
use leaf::log::{NatsAuth, ServerKind};
use tokio::sync::watch;

use crate::HarnessError;
use crate::console::Console;
use crate::display::Display;
use crate::engine::Engine;
use crate::event_ledger::{EventLedger, TournamentLog};
use crate::findings::{Findings, Tally, emit};
use crate::leaf_api::{Api, PIN, TD, snoop};
use crate::leaf_node::{LeafNode, leaf_binary};
use crate::nats_node::{NatsNode, SyncPolicy};
use crate::projection_probe;
use crate::schedule;
/// After a restart, every display must have caught up with the log within this.
const CATCH_UP: Duration = Duration::from_secs(15);
/// After a restart, leaf's projector must have written every 201 into leaf.db within this.
const PROJECTION_CATCH_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct LeafSuite {
    pub name: &'static str,
    pub cycles: u32,
    pub tournaments: usize,
    pub consoles_per_tournament: usize,
    pub displays_per_tournament: usize,
    /// leaf runs this long (uniform, milliseconds) before each kill.
    pub run_ms: (u64, u64),
}

#[derive(Debug)]
pub struct Report {
    pub tally: Tally,
    pub findings: Findings,
    pub seed: u64,
    pub elapsed: Duration,
    /// Start of leaf until its health answered 200, per cycle.
    pub restarts: Vec<Duration>,
    /// 201s whose event the projection held when a killed leaf's database was read, summed
    /// over the cycles: how much the prefix check had to work with.
    pub projection_checks: usize,
    pub display_events: usize,
    pub display_connects: u32,
    pub console_retries: u64,
}

pub async fn run(suite: LeafSuite) -> Result<Report, HarnessError> {
    let begun = Instant::now();
    let schedule::Start { seed, mut rng, dir } = schedule::start(suite.name, suite.cycles)?;
    let engine = Engine::connect().await?;
    let binary = leaf_binary()?;
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).map_err(|e| HarnessError::Setup(e.to_string()))?;
    let mut nats = NatsNode::start(
        engine,
        &dir.path().join("conf"),
        &store_dir,
        SyncPolicy::Always,
    )
    .await?;
    let log = JetStreamLog::connect(nats.url(), NatsAuth::None, ServerKind::External)
        .await
        .map_err(|e| HarnessError::Log(e.to_string()))?;

    let mut leaf = LeafNode::new(binary, dir.path().join("leaf-data"), nats.url().to_owned())?;
    leaf.add_td(TD, PIN).await?;
    let mut restarts = vec![leaf.start().await?];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| HarnessError::Setup(e.to_string()))?;
    let api = Api {
        http: http.clone(),
        base: leaf.base_url(),
    };
    let token = api.login().await?;

    let mut tournaments = Vec::new();
    let mut viewer_tokens = BTreeMap::new();
    for i in 0..suite.tournaments {
        let id = api
            .create_tournament(&token, &format!("Crash table {i}"))
            .await?;
        viewer_tokens.insert(id, api.viewer_token(&token, id).await?);
        tournaments.push(id);
    }

    let (stop_displays, displays_stopped) = watch::channel(false);
    let mut displays = Vec::new();
    let mut display_tasks = Vec::new();
    for (i, t) in tournaments.iter().enumerate() {
        for j in 0..suite.displays_per_tournament {
            let (display, task) = Display::spawn(
                i * suite.displays_per_tournament + j,
                *t,
                leaf.ws_url(),
                Some(viewer_tokens[t].clone()),
                displays_stopped.clone(),
            );
            displays.push(display);
            display_tasks.push(task);
        }
    }
    let mut consoles: Vec<Console> = tournaments
        .iter()
        .enumerate()
        .flat_map(|(i, t)| (0..suite.consoles_per_tournament).map(move |j| (i * 100 + j, *t)))
        .map(|(id, t)| Console::new(id, t, rng.u64(..)))
        .collect();

    let ledger = Arc::new(Mutex::new(EventLedger::new()));
    let mut findings = Findings::default();
    let mut projection_checks = 0;

    for cycle in 1..=suite.cycles {
        let (stop, stopped) = watch::channel(false);
        let tasks: Vec<_> = consoles
            .drain(..)
            .map(|c| {
                tokio::spawn(c.run(
                    http.clone(),
                    leaf.base_url(),
                    token.clone(),
                    ledger.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(schedule::kill_after(
            &mut rng,
            suite.run_ms.0,
            suite.run_ms.1,
        ))
        .await;
        leaf.kill().await;
        let _ = stop.send(true);
        for task in tasks {
            consoles.push(
                task.await
                    .map_err(|e| HarnessError::Setup(format!("a console panicked: {e}")))?,
            );
        }

        let mut cycle_findings = Findings::default();
        let logs = read_logs(&log, &tournaments).await?;
        // The projection as the killed leaf left it, before a restart can repair anything:
        // any prefix of the log will do, as long as it is exactly the log's.
        let killed = projection_probe::read(&leaf.db_path()).await?;
        let (projection, covered) = ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check_projection(&killed, &logs, false);
        projection_checks += covered;
        cycle_findings.merge(projection);

        restarts.push(leaf.start().await?);
        cycle_findings.merge(
            ledger
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .check_log(&logs),
        );
        cycle_findings.merge(snoop(&api, &tournaments, &viewer_tokens).await);
        cycle_findings.merge(catch_up(&displays, &logs).await);
        // No console runs now, so the log is still `logs`: the restarted leaf must bring
        // its projection to all of it, every 201 included.
        let snapshot = std::mem::take(&mut *ledger.lock().unwrap_or_else(|e| e.into_inner()));
        cycle_findings.merge(projection_catch_up(&leaf, &snapshot, &logs).await?);
        *ledger.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
        findings.merge_labelled(&format!("cycle {cycle}"), cycle_findings);
    }

    // An orderly end: the projection must then hold the whole log.
    let _ = stop_displays.send(true);
    for task in display_tasks {
        let _ = task.await;
    }
    leaf.stop().await?;
    let logs = read_logs(&log, &tournaments).await?;
    let stopped = projection_probe::read(&leaf.db_path()).await?;
    // Every console has handed its clone back: the ledger is ours alone now.
    let ledger = std::mem::take(&mut *ledger.lock().unwrap_or_else(|e| e.into_inner()));
    let mut last = ledger.check_log(&logs);
    last.merge(ledger.check_projection(&stopped, &logs, true).0);
    let mut display_events = 0;
    let mut display_connects = 0;
    for display in &displays {
        let seen = display.lock();
        display_events += seen.events.len();
        display_connects += seen.connects;
        let empty = Vec::new();
        let log = logs.get(&display.tournament).unwrap_or(&empty);
        last.merge(EventLedger::check_display(
            display.id,
            display.tournament,
            &seen,
            log,
        ));
    }
    findings.merge_labelled("after the orderly stop", last);
    nats.stop().await?;

    let tally = Tally::new(suite.name, suite.cycles, ledger.acked_count(), &findings);
    emit(&tally.to_string());
    Ok(Report {
        tally,
        findings,
        seed,
        elapsed: begun.elapsed(),
        restarts,
        projection_checks,
        display_events,
        display_connects,
        console_retries: consoles.iter().map(|c| c.retries).sum(),
    })
}

/// Each tournament's STATE messages, read straight from nats-server, not through leaf.
async fn read_logs(
    log: &JetStreamLog,
    tournaments: &[TournamentId],
) -> Result<BTreeMap<TournamentId, TournamentLog>, HarnessError> {
    let mut out = BTreeMap::new();
    for t in tournaments {
        let mut events: TournamentLog = Vec::new();
        let mut after = Seq(0);
        loop {
            let page = log
                .read(StreamName::State, Filter::Tournament(*t), after, 5_000)
                .await
                .map_err(|e| HarnessError::Log(format!("reading {t}: {e}")))?;
            let Some(last) = page.last() else { break };
            after = last.stream_seq;
            for entry in page {
                let event: StateRecord = serde_json::from_slice(&entry.payload).map_err(|e| {
                    HarnessError::Log(format!("{} seq {}: {e}", entry.subject, entry.stream_seq.0))
                })?;
                events.push(event);
            }
        }
        out.insert(*t, events);
    }
    Ok(out)
}

/// Waits until every display shows its tournament's last logged event.
async fn catch_up(displays: &[Display], logs: &BTreeMap<TournamentId, TournamentLog>) -> Findings {
    let head = |t: &TournamentId| logs.get(t).map_or(0, |l| l.len() as u64);
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let behind: Vec<String> = displays
            .iter()
            .filter(|d| d.last().unwrap_or(0) < head(&d.tournament))
            .map(|d| {
                format!(
                    "display {} at {:?} of {}",
                    d.id,
                    d.last(),
                    head(&d.tournament)
                )
            })
            .collect();
        if behind.is_empty() {
            return Findings::default();
        }
        if Instant::now() > deadline {
            return Findings::problems(vec![format!(
                "displays did not catch up within {CATCH_UP:?}: {}",
                behind.join(", ")
            )]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the running leaf's leaf.db until its projection holds the whole log, every 201
/// included, and reports what is still missing if it never does.
async fn projection_catch_up(
    leaf: &LeafNode,
    ledger: &EventLedger,
    logs: &BTreeMap<TournamentId, TournamentLog>,
) -> Result<Findings, HarnessError> {
    let deadline = Instant::now() + PROJECTION_CATCH_UP;
    loop {
        // Beside a running writer a read can find the database busy: that is a retry, and
        // only an error that lasts until the deadline is the harness's failure.
        let findings = match projection_probe::read(&leaf.db_path()).await {
            Ok(projection) => ledger.check_projection(&projection, logs, true).0,
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => Findings::problems(vec!["leaf.db could not be read".into()]),
        };
        if findings.is_clean() || Instant::now() > deadline {
            return Ok(findings);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
