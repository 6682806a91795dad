//! What a check found, and the one summary line each suite prints.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;

/// Prints a line of a suite's report even when the test harness captures output: `cargo
/// test` hides what passing tests print with `println!`, and these figures are the point of a
/// passing run. (The harness captures only the print macros, not writes to the handle.)
pub fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Findings by message id, not by count, so a message lost in cycle 3 and still missing in
/// cycle 9 is one lost message.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub lost: BTreeSet<String>,
    pub duplicated: BTreeSet<String>,
    pub leaked: BTreeSet<String>,
    /// Anything else that must not happen: order broken within a subject, a message stored at
    /// another sequence than acknowledged, stream state that does not add up, a display that
    /// skipped an event or never caught up, a projection that disagrees with the log.
    pub inconsistent: Vec<String>,
    /// Problems already in `inconsistent`, without their label, so a lasting one is reported
    /// once, at the cycle that first saw it.
    reported: BTreeSet<String>,
}

impl Findings {
    /// Findings with only these problems.
    pub fn problems(problems: Vec<String>) -> Self {
        Self {
            inconsistent: problems,
            ..Self::default()
        }
    }

    pub fn merge(&mut self, other: Findings) {
        self.lost.extend(other.lost);
        self.duplicated.extend(other.duplicated);
        self.leaked.extend(other.leaked);
        self.inconsistent.extend(other.inconsistent);
    }

    /// Adds what one check found, labelling new problems (`cycle 7`) and skipping those
    /// reported before. Returns how many lost messages are new.
    pub fn merge_labelled(&mut self, label: &str, other: Findings) -> usize {
        let newly_lost = other.lost.difference(&self.lost).count();
        self.lost.extend(other.lost);
        self.duplicated.extend(other.duplicated);
        self.leaked.extend(other.leaked);
        for problem in other.inconsistent {
            if self.reported.insert(problem.clone()) {
                self.inconsistent.push(format!("{label}: {problem}"));
            }
        }
        newly_lost
    }

    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.leaked.is_empty()
            && self.inconsistent.is_empty()
    }

    /// A few examples of each kind, for a failure message.
    pub fn describe(&self) -> String {
        fn some<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
            let items: Vec<&String> = items.into_iter().collect();
            let shown: Vec<&str> = items.iter().take(5).map(|s| s.as_str()).collect();
            let more = items.len().saturating_sub(shown.len());
            if more > 0 {
                format!("{} (and {more} more)", shown.join(", "))
            } else {
                shown.join(", ")
            }
        }
        let mut out = Vec::new();
        if !self.lost.is_empty() {
            out.push(format!("lost: {}", some(&self.lost)));
        }
        if !self.duplicated.is_empty() {
            out.push(format!("duplicated: {}", some(&self.duplicated)));
        }
        if !self.leaked.is_empty() {
            out.push(format!("leaked: {}", some(&self.leaked)));
        }
        for problem in self.inconsistent.iter().take(10) {
            out.push(problem.clone());
        }
        if self.inconsistent.len() > 10 {
            out.push(format!(
                "… and {} more problems",
                self.inconsistent.len() - 10
            ));
        }
        out.join("\n")
    }
}

/// The figures a suite reports, in the fixed format the issue asks for:
/// `crash-suite <name>: cycles=<C> acked=<A> lost=<L> duplicated=<D> leaked=<X>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub name: &'static str,
    pub cycles: u32,
    pub acked: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub leaked: usize,
}

impl Tally {
    pub fn new(name: &'static str, cycles: u32, acked: usize, findings: &Findings) -> Self {
        Self {
            name,
            cycles,
            acked,
            lost: findings.lost.len(),
            duplicated: findings.duplicated.len(),
            leaked: findings.leaked.len(),
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crash-suite {}: cycles={} acked={} lost={} duplicated={} leaked={}",
            self.name, self.cycles, self.acked, self.lost, self.duplicated, self.leaked
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_has_the_agreed_shape() {
        let mut findings = Findings::default();
        findings.lost.insert("a".into());
        findings.lost.insert("a".into());
        findings.leaked.insert("b".into());
        let tally = Tally::new("nats-kill", 50, 1234, &findings);
        assert_eq!(
            tally.to_string(),
            "crash-suite nats-kill: cycles=50 acked=1234 lost=1 duplicated=0 leaked=1"
        );
    }

    #[test]
    fn a_lasting_problem_is_reported_once_with_the_cycle_that_saw_it_first() {
        let mut all = Findings::default();
        let cycle = |lost: &str| Findings {
            lost: BTreeSet::from([lost.to_owned()]),
            inconsistent: vec!["display 3 is behind".into()],
            ..Findings::default()
        };
        assert_eq!(all.merge_labelled("cycle 1", cycle("a")), 1);
        assert_eq!(all.merge_labelled("cycle 2", cycle("a")), 0);
        assert_eq!(all.merge_labelled("cycle 3", cycle("b")), 1);
        assert_eq!(
            all.inconsistent,
            vec!["cycle 1: display 3 is behind".to_owned()]
        );
        assert_eq!(all.lost.len(), 2);
    }

    #[test]
    fn describe_names_examples_and_counts_the_rest() {
        let mut findings = Findings::default();
        for i in 0..7 {
            findings.duplicated.insert(format!("m{i}"));
        }
        let text = findings.describe();
        assert!(
            text.contains("duplicated: m0, m1, m2, m3, m4 (and 2 more)"),
            "{text}"
        );
        assert!(!findings.is_clean());
    }
}
