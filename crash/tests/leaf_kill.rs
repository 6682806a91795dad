//! Suite 2: the leaf binary, on a containerised nats-server, SIGKILLed at seeded moments while
//! TD consoles append and table displays watch. Every 201 must be in the log and the
//! projection; seqs stay contiguous; displays resume with no gap and no duplicate; no
//! display or viewer token ever reaches another tournament.

use leaf_crash::findings::emit;
use leaf_crash::leaf_suite::{self, LeafSuite};
use leaf_crash::schedule;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_keeps_every_201_across_kill_9() {
    let report = leaf_suite::run(LeafSuite {
        name: "leaf-kill",
        cycles: schedule::cycles(30),
        tournaments: 4,
        consoles_per_tournament: 2,
        displays_per_tournament: 3,
        run_ms: (200, 900),
    })
    .await
    .unwrap_or_else(|e| panic!("the leaf-kill suite could not run: {e}"));
    let mut restarts = report.restarts.clone();
    restarts.sort();
    emit(&format!(
        "crash-suite leaf-kill: {} acked, {} checked in a killed leaf's projection, \
         {} console retries, {} display connects, {} events shown, restart median {:?}, \
         {:.1} s in all",
        report.tally.acked,
        report.projection_checks,
        report.console_retries,
        report.display_connects,
        report.display_events,
        restarts
            .get(restarts.len() / 2)
            .copied()
            .unwrap_or_default(),
        report.elapsed.as_secs_f64()
    ));
    assert!(report.tally.acked > 0, "no append was answered 201");
    assert!(
        report.findings.is_clean(),
        "seed {}:\n{}",
        report.seed,
        report.findings.describe()
    );
}
