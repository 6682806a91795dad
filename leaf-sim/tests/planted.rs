//! The checker can fail: with a bug planted in leaf (behind the `planted-bugs` feature, off
//! unless a test plants it), the sweep finds a seed that breaks the promise the bug breaks,
//! within its seed budget, and that same seed keeps every promise without the bug.

use leaf::planted::{PlantedBug, PlantedBugs};
use leaf_sim::plan::Scenario;
use leaf_sim::sweep;

/// Seeds each bug may take to be found.
const BUDGET: u64 = 40;

/// Runs seeds until one breaks a promise with a violation containing `symptom`; that seed.
/// `None` if `LEAF_SIM_SEED` asks for one seed only: a hunt needs a budget.
fn first_catch(bug: PlantedBug, symptom: &str) -> Option<Option<u64>> {
    if let Some(seed) = sweep::one_seed_requested() {
        println!("leaf-sim: {bug:?} not hunted: LEAF_SIM_SEED={seed} runs one seed only");
        return None;
    }
    let planted = PlantedBugs::default().with(bug);
    for seed in 0..BUDGET {
        let outcome = sweep::run_caught(seed, Scenario::Random, planted);
        if let Some(found) = outcome.violations.iter().find(|v| v.contains(symptom)) {
            println!("leaf-sim: planted {bug:?} caught by seed {seed}: {found}");
            return Some(Some(seed));
        }
    }
    Some(None)
}

fn assert_caught(bug: PlantedBug, symptom: &str) {
    if let Some(caught) = first_catch(bug, symptom) {
        let Some(seed) = caught else {
            panic!("no seed in 0..{BUDGET} noticed {bug:?} (looked for \"{symptom}\")");
        };
        let clean = sweep::run_caught(seed, Scenario::Random, PlantedBugs::default());
        assert!(
            clean.violations.is_empty(),
            "seed {seed} fails without {bug:?} too:\n{}",
            clean.report()
        );
    }
}

#[test]
fn a_fanout_that_skips_a_client_is_caught() {
    assert_caught(PlantedBug::FanoutSkipsOne, "missing");
}

#[test]
fn an_answer_before_the_log_acknowledged_is_caught() {
    assert_caught(PlantedBug::AnswerBeforeAck, "lost:");
}

#[test]
fn a_resume_that_repeats_an_event_is_caught() {
    assert_caught(PlantedBug::ResumeRepeatsOne, "duplicate after resume");
}

#[test]
fn a_feed_that_drops_an_acknowledged_event_is_caught() {
    assert_caught(PlantedBug::FeedDropsOne, "not applied within");
}
