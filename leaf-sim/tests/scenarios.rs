//! The canonical scenarios, their traces pinned with insta: one console appending six events
//! to one tournament, watched by a table display and a venue screen; then the same with a
//! crash of leaf, and with a partition between the table display and leaf. Any change in how
//! leaf behaves in them shows up as a snapshot diff (`cargo insta review`).

use leaf::planted::PlantedBugs;
use leaf_sim::plan::Scenario;
use leaf_sim::sweep;

/// The seed of the canonical runs: it only picks network timings.
const SEED: u64 = 1;

fn trace_of(scenario: Scenario) -> String {
    let outcome = sweep::run_caught(SEED, scenario, PlantedBugs::default());
    assert!(outcome.violations.is_empty(), "{}", outcome.report());
    outcome.trace.join("\n")
}

#[test]
fn no_faults() {
    insta::assert_snapshot!(trace_of(Scenario::NoFaults));
}

#[test]
fn one_crash() {
    let trace = trace_of(Scenario::OneCrash);
    assert!(trace.contains("starts (incarnation 2)"), "{trace}");
    insta::assert_snapshot!(trace);
}

#[test]
fn one_partition() {
    let trace = trace_of(Scenario::OnePartition);
    assert!(trace.contains("repairs the link to table-0"), "{trace}");
    insta::assert_snapshot!(trace);
}
