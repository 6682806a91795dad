//! The sweep: many seeds, each a whole venue evening with faults, every invariant checked.
//! Prints the summary line; any failing seed prints its report and fails the test.

use leaf::planted::PlantedBugs;
use leaf_sim::plan::Scenario;
use leaf_sim::sweep;

/// Seeds per `cargo test` run; `make sim-soak SEEDS=…` runs more.
const SEEDS: u64 = 500;

#[test]
fn every_seed_keeps_every_promise() {
    let default_run =
        sweep::one_seed_requested().is_none() && sweep::seeds_from_env(SEEDS) == seed_range();
    let mut summary = match sweep::one_seed_requested() {
        Some(seed) => {
            println!("leaf-sim: running only seed {seed} (LEAF_SIM_SEED)");
            // One seed is for reading: its schedule, and with LEAF_SIM_TRACE=1 its whole trace.
            let started = std::time::Instant::now();
            let outcome = sweep::run_caught(seed, Scenario::Random, PlantedBugs::default());
            print!("{}", outcome.plan);
            if std::env::var_os("LEAF_SIM_TRACE").is_some() {
                println!("{}", outcome.trace.join("\n"));
            }
            let mut summary = sweep::Summary::default();
            summary.add(outcome);
            summary.wall = started.elapsed();
            summary
        }
        None => {
            let seeds = sweep::seeds_from_env(SEEDS);
            println!(
                "leaf-sim: running seeds {}..={}",
                seeds.first().copied().unwrap_or_default(),
                seeds.last().copied().unwrap_or_default()
            );
            sweep::sweep(&seeds, Scenario::Random, PlantedBugs::default())
        }
    };
    for (_, report) in &summary.failures {
        println!("{report}");
    }
    println!("{}", summary.line());
    println!("{}", summary.details());
    let failed: Vec<u64> = summary.failures.iter().map(|(seed, _)| *seed).collect();
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
    // The default seeds must keep exercising the log-read path under bursts: resumes from 0
    // that leaf's cache cannot serve, refusals by its read budget, cuts of its reads
    // connection. A change to the plans that loses one of them is caught here.
    if default_run {
        assert!(
            summary.resumes_from_log > 0,
            "no resume from 0 was read from the log"
        );
        assert!(summary.busy > 0, "the read budget never refused anyone");
        assert!(
            summary.checkpoint_starts > 0 && summary.checkpoint_starts < summary.restarts,
            "restarts must both start from leaf.db's checkpoint and rebuild without it"
        );
        assert!(
            summary.cuts_reads > 0,
            "no burst of reads cut the reads connection"
        );
    }
}

fn seed_range() -> Vec<u64> {
    (0..SEEDS).collect()
}
