//! Many seeds, on every core: which seeds to run, and the one-line summary.
//!
//! - `LEAF_SIM_SEED=<seed>`: only that seed (and it is named in the output).
//! - `LEAF_SIM_SEEDS=<n>`: how many seeds (default: the caller's), starting at
//!   `LEAF_SIM_FIRST` (default 0), so `make sim-soak SEEDS=100000 FIRST=…` explores new ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leaf::planted::PlantedBugs;

use crate::check;
use crate::plan::Scenario;
use crate::run::{self, Outcome};

/// The seeds to run: the one in `LEAF_SIM_SEED`, else `LEAF_SIM_SEEDS` (or `default_count`)
/// from `LEAF_SIM_FIRST` (or 0).
pub fn seeds_from_env(default_count: u64) -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seed) = var("LEAF_SIM_SEED") {
        return vec![seed];
    }
    let first = var("LEAF_SIM_FIRST").unwrap_or(0);
    let count = var("LEAF_SIM_SEEDS").unwrap_or(default_count);
    (first..first.saturating_add(count)).collect()
}

/// Whether `LEAF_SIM_SEED` asks for one seed.
pub fn one_seed_requested() -> Option<u64> {
    std::env::var("LEAF_SIM_SEED").ok()?.trim().parse().ok()
}

/// What many runs added up to.
#[derive(Debug, Default)]
pub struct Summary {
    pub seeds: usize,
    pub faults: usize,
    pub events: usize,
    pub violations: usize,
    pub restarts: u64,
    pub checkpoint_starts: u64,
    pub resyncs: usize,
    pub stored_unacked: u64,
    pub refused: u64,
    pub cuts_main: u64,
    pub cuts_reads: u64,
    pub busy: usize,
    pub resumes_from_log: usize,
    pub latencies: Vec<Duration>,
    /// Reports of the failed runs, by seed.
    pub failures: Vec<(u64, String)>,
    pub wall: Duration,
    pub simulated: Duration,
}

impl Summary {
    pub fn add(&mut self, outcome: Outcome) {
        self.seeds += 1;
        self.faults += outcome.faults;
        self.events += outcome.events;
        self.violations += outcome.violations.len();
        self.restarts += u64::from(outcome.restarts);
        self.checkpoint_starts += u64::from(outcome.checkpoint_starts);
        self.resyncs += outcome.resyncs;
        self.stored_unacked += outcome.stored_unacked;
        self.refused += outcome.refused;
        self.cuts_main += outcome.cuts_main;
        self.cuts_reads += outcome.cuts_reads;
        self.busy += outcome.busy;
        self.resumes_from_log += outcome.resumes_from_log;
        self.simulated += outcome.elapsed;
        if !outcome.violations.is_empty() {
            self.failures.push((outcome.seed, outcome.report()));
        }
        self.latencies.extend(outcome.latencies);
    }

    pub fn p99(&mut self) -> Duration {
        check::quantile(&mut self.latencies, 0.99)
    }

    /// The line the issue asks for.
    pub fn line(&mut self) -> String {
        let p99 = self.p99();
        format!(
            "leaf-sim: {} seeds, {} faults injected, {} events, {} invariant violations, p99 latency {:.1} ms",
            self.seeds,
            self.faults,
            self.events,
            self.violations,
            p99.as_secs_f64() * 1000.0
        )
    }

    /// Throughput and the rest of the picture, for the second line.
    pub fn details(&mut self) -> String {
        let p50 = check::quantile(&mut self.latencies, 0.5);
        let max = self.latencies.iter().max().copied().unwrap_or_default();
        format!(
            "leaf-sim: {:.1} seeds/s ({:.1} s wall, {:.0} s simulated); {} leaf restarts ({} from leaf.db's checkpoint), {} slow-client resyncs, \
             {} publishes refused by the log, {} messages stored without an ack; {} resumes from 0 read from the log, \
             {} refused busy, slow-consumer cuts: {} of the reads connection, {} of the main one; \
             {} live deliveries, p50 {:.1} ms, max {:.1} ms",
            self.seeds as f64 / self.wall.as_secs_f64().max(1e-9),
            self.wall.as_secs_f64(),
            self.simulated.as_secs_f64(),
            self.restarts,
            self.checkpoint_starts,
            self.resyncs,
            self.refused,
            self.stored_unacked,
            self.resumes_from_log,
            self.busy,
            self.cuts_reads,
            self.cuts_main,
            self.latencies.len(),
            p50.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0,
        )
    }
}

/// Runs every seed (on every core), each with `planted` bugs. A run that panics counts as a
/// failed run of its seed.
pub fn sweep(seeds: &[u64], scenario: Scenario, planted: PlantedBugs) -> Summary {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let summary = Mutex::new(Summary::default());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(seeds.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = run_caught(seed, scenario, planted);
                    summary
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add(outcome);
                }
            });
        }
    });
    let mut summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.failures.sort_by_key(|(seed, _)| *seed);
    summary.wall = started.elapsed();
    summary
}

/// One run; a panic inside it becomes a violation of that seed.
pub fn run_caught(seed: u64, scenario: Scenario, planted: PlantedBugs) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| run::run(seed, scenario, planted))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            let plan = crate::plan::Plan::new(seed, scenario);
            Outcome {
                seed,
                faults: plan.fault_count(),
                plan,
                trace: Vec::new(),
                violations: vec![format!("the run panicked: {message}")],
                events: 0,
                latencies: Vec::new(),
                elapsed: Duration::ZERO,
                restarts: 0,
                checkpoint_starts: 0,
                resyncs: 0,
                stored_unacked: 0,
                refused: 0,
                cuts_main: 0,
                cuts_reads: 0,
                busy: 0,
                resumes_from_log: 0,
            }
        }
    }
}
