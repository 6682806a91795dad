//! What one kind of flood client got back, counted by kind of answer (`200`, `503`,
//! `close 4008`, `timeout` …), shared by all of that kind's tasks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    pub fn add(&self, answer: impl Into<String>) {
        // A std mutex: held for one map update, never across an await.
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry(answer.into()).or_default() += 1;
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// `200 × 1520, 503 × 12`, or `none`.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        if counts.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(answer, count)| format!("{answer} × {count}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// One kind of flood client, as the report shows it.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub answers: Tally,
    /// What else it saw (frames or bytes read), in words.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_kind_in_order() {
        let tally = Tally::default();
        assert_eq!(tally.to_string(), "none");
        for answer in ["503", "200", "503"] {
            tally.add(answer);
        }
        assert_eq!(tally.to_string(), "200 × 1, 503 × 2");
    }
}
