//! A shared, ordered record of what the simulated hosts observed. Two runs of one seed must
//! produce the same trace, line for line.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Cheap to clone; all clones append to one list. Not `Send`: a simulation runs on one thread.
#[derive(Debug, Clone, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    /// Records one observation, stamped with the simulated time.
    pub fn record(&self, host: &str, what: impl Into<String>) {
        let at = turmoil::sim_elapsed().unwrap_or(Duration::ZERO);
        let line = format!(
            "{:>8.3}ms {host}: {}",
            at.as_secs_f64() * 1000.0,
            what.into()
        );
        tracing::debug!("{line}");
        self.0.borrow_mut().push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// The last `n` lines, for a failure message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.0.borrow();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
