//! The checker can fail: with a bug planted in leaf (behind the `planted-bugs` feature, off
//! unless a test plants it), the sweep finds a seed that breaks the promise the bug breaks,
//! within its seed budget.

use leaf::planted::{PlantedBug, PlantedBugs};
use leaf_sim::plan::Scenario;
use leaf_sim::sweep;

/// Seeds each bug may take to be found.
const BUDGET: u64 = 40;

/// Runs seeds until one fails with a violation containing `symptom`; returns that seed.
fn first_catch(bug: PlantedBug, symptom: &str) -> Option<u64> {
    if let Some(seed) = sweep::one_seed_requested() {
        println!("leaf-sim: {bug:?} not hunted: LEAF_SIM_SEED={seed} runs one seed only");
        return Some(seed);
    }
    let planted = PlantedBugs::default().with(bug);
    // In small batches on every core, stopping at the first batch that catches it.
    for batch in (0..BUDGET).collect::<Vec<_>>().chunks(4) {
        let summary = sweep::sweep(batch, Scenario::Random, planted);
        for (seed, report) in &summary.failures {
            if report.contains(symptom) {
                let first = report
                    .lines()
                    .find(|l| l.contains(symptom))
                    .unwrap_or_default();
                println!("leaf-sim: planted {bug:?} caught by seed {seed}:{first}");
                return Some(*seed);
            }
        }
    }
    None
}

#[test]
fn a_fanout_that_skips_a_client_is_caught() {
    let caught = first_catch(PlantedBug::FanoutSkipsOne, "missing");
    assert!(
        caught.is_some(),
        "no seed in 0..{BUDGET} noticed a skipped client"
    );
}

#[test]
fn an_answer_before_the_log_acknowledged_is_caught() {
    let caught = first_catch(PlantedBug::AnswerBeforeAck, "lost:");
    assert!(
        caught.is_some(),
        "no seed in 0..{BUDGET} noticed a 201 for an event the log lacks"
    );
}

#[test]
fn a_resume_that_repeats_an_event_is_caught() {
    let caught = first_catch(PlantedBug::ResumeRepeatsOne, "duplicate after resume");
    assert!(
        caught.is_some(),
        "no seed in 0..{BUDGET} noticed a duplicate after a resume"
    );
}
