//! What every simulated client saw and did, checked as it arrives where that is cheap
//! (isolation, order, no gap, no duplicate) and kept for the checks after the run.
//!
//! One `Observations` per run, shared by all hosts of the simulation (which run on one
//! thread, so `Rc<RefCell>`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crate::plan::Rewind;
use crate::trace::Trace;

/// An event a display received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub tournament: usize,
    pub seq: u64,
    pub at: Duration,
    /// When the connection it came on was established: an event stored after that came live.
    pub connected_at: Duration,
    /// The event's `data`, to compare with the log. Shared: seating charts are large, and
    /// the checks copy the record.
    pub data: Rc<serde_json::Value>,
}

/// One display's record.
#[derive(Debug, Clone, Default)]
pub struct DisplayLog {
    /// The tournaments it watches (every one, for a venue screen).
    pub watches: Vec<usize>,
    /// The highest seq it has of each tournament, gap-free from its first snapshot.
    pub last: BTreeMap<usize, u64>,
    pub deliveries: Vec<Delivery>,
    /// Whether it still watches at the end (a phone that left does not).
    pub present: bool,
    /// When it really stopped reading, and until when (the plan's times shift when the
    /// display is between connections at the planned moment).
    pub stalls: Vec<(Duration, Duration)>,
    /// The connection in progress: when it began, and the last seq per tournament on it.
    connected_at: Duration,
    on_connection: BTreeMap<usize, u64>,
    /// Venue screens take events they already have from a backfill without complaint.
    tolerates_overlap: bool,
}

/// What a TD console was told about one append.
#[derive(Debug, Clone)]
pub struct Answer {
    pub tournament: usize,
    pub key: String,
    pub seq: u64,
    pub at: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    displays: BTreeMap<String, DisplayLog>,
    answers: Vec<Answer>,
    violations: Vec<String>,
    consoles_done: usize,
    duplicates_sent: usize,
    resyncs: usize,
    /// Connections and reads leaf refused with 503 and `Retry-After` (its read budget).
    busy: usize,
    /// Resumes from 0 that leaf served from the log, not its resume cache.
    resumed_from_log: usize,
}

#[derive(Debug, Clone)]
pub struct Observations {
    inner: Rc<RefCell<Inner>>,
    trace: Trace,
}

impl Observations {
    pub fn new(trace: Trace) -> Self {
        Self {
            inner: Rc::default(),
            trace,
        }
    }

    pub fn violation(&self, who: &str, what: impl Into<String>) {
        let what = what.into();
        self.trace.record(who, format!("VIOLATION {what}"));
        let at = now();
        self.inner.borrow_mut().violations.push(format!(
            "{:>9.3}ms {who}: {what}",
            at.as_secs_f64() * 1000.0
        ));
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.borrow().violations.clone()
    }

    // ---- displays ----

    pub fn display_joins(&self, name: &str, watches: Vec<usize>, tolerates_overlap: bool) {
        self.inner.borrow_mut().displays.insert(
            name.to_owned(),
            DisplayLog {
                watches,
                present: true,
                tolerates_overlap,
                ..DisplayLog::default()
            },
        );
    }

    pub fn display_leaves(&self, name: &str) {
        if let Some(d) = self.inner.borrow_mut().displays.get_mut(name) {
            d.present = false;
        }
    }

    pub fn connected(&self, name: &str) {
        if let Some(d) = self.inner.borrow_mut().displays.get_mut(name) {
            d.connected_at = now();
            d.on_connection.clear();
        }
    }

    pub fn stalled(&self, name: &str, from: Duration, to: Duration) {
        if let Some(d) = self.inner.borrow_mut().displays.get_mut(name) {
            d.stalls.push((from, to));
        }
    }

    pub fn resynced(&self) {
        self.inner.borrow_mut().resyncs += 1;
    }

    pub fn refused_busy(&self) {
        self.inner.borrow_mut().busy += 1;
    }

    pub fn resumed_from_log(&self) {
        self.inner.borrow_mut().resumed_from_log += 1;
    }

    /// `name` lost what it held past the point `to` says, for each tournament it watches:
    /// it now holds up to that seq, and takes the events after it again without complaint.
    pub fn rewind(&self, name: &str, to: Rewind) {
        if let Some(d) = self.inner.borrow_mut().displays.get_mut(name) {
            for t in d.watches.clone() {
                let last = d.last.entry(t).or_insert(0);
                *last = match to {
                    Rewind::ToStart => 0,
                    Rewind::HalfWay => *last / 2,
                };
            }
            d.on_connection.clear();
        }
    }

    /// The highest seq `name` holds of tournament `t`, if it holds any.
    pub fn last(&self, name: &str, t: usize) -> Option<u64> {
        self.inner
            .borrow()
            .displays
            .get(name)?
            .last
            .get(&t)
            .copied()
    }

    /// A snapshot: the display now holds everything up to `seq`.
    pub fn snapshot(&self, name: &str, t: usize, seq: u64) {
        let problem = {
            let mut inner = self.inner.borrow_mut();
            let Some(d) = inner.displays.get_mut(name) else {
                return;
            };
            if !d.watches.contains(&t) {
                Some(format!("snapshot of t{t}, which it does not watch"))
            } else {
                let last = d.last.entry(t).or_insert(0);
                let problem = (seq < *last).then(|| {
                    format!("snapshot of t{t} at seq {seq} is behind the seq {last} it already had")
                });
                *last = (*last).max(seq);
                d.on_connection.insert(t, seq);
                problem
            }
        };
        if let Some(problem) = problem {
            self.violation(name, problem);
        }
    }

    /// A live or replayed event; checks isolation, order and contiguity.
    pub fn event(&self, name: &str, t: Option<usize>, seq: u64, data: &serde_json::Value) {
        let problem = {
            let mut inner = self.inner.borrow_mut();
            let Some(d) = inner.displays.get_mut(name) else {
                return;
            };
            match t {
                None => Some(format!(
                    "event seq {seq} of a tournament that is not in this venue"
                )),
                Some(t) if !d.watches.contains(&t) => {
                    Some(format!("event seq {seq} of t{t}, which it does not watch"))
                }
                Some(t) => {
                    let at = now();
                    let conn_last = d.on_connection.get(&t).copied();
                    let last = d.last.get(&t).copied();
                    // A venue screen registers before it backfills, so the first live events
                    // on a connection may be ones the backfill already brought; only those.
                    let overlap_allowed = d.tolerates_overlap && conn_last.is_none();
                    let problem = match (conn_last, last) {
                        (Some(c), _) if seq <= c => Some(format!(
                            "t{t} seq {seq} after seq {c} on the same connection (order broken or duplicated)"
                        )),
                        (_, Some(l)) if seq <= l && !overlap_allowed => Some(format!(
                            "t{t} seq {seq} again: it already had up to {l} (duplicate after resume)"
                        )),
                        (_, Some(l)) if seq > l + 1 => Some(format!(
                            "t{t} jumped from seq {l} to {seq}: {} missing",
                            seq - l - 1
                        )),
                        (_, None) if !d.tolerates_overlap => {
                            Some(format!("t{t} seq {seq} arrived before any snapshot"))
                        }
                        (_, None) if seq != 1 => Some(format!("t{t} starts at seq {seq}, not 1")),
                        _ => None,
                    };
                    let last = d.last.entry(t).or_insert(0);
                    if seq > *last {
                        // Also past a gap, so one gap is reported once, not at every event.
                        *last = seq;
                        d.on_connection.insert(t, seq);
                        d.deliveries.push(Delivery {
                            tournament: t,
                            seq,
                            at,
                            connected_at: d.connected_at,
                            data: Rc::new(data.clone()),
                        });
                    } else if !overlap_allowed || problem.is_some() {
                        d.on_connection.insert(t, seq);
                    }
                    problem
                }
            }
        };
        if let Some(problem) = problem {
            self.violation(name, problem);
        }
    }

    /// Events a venue screen fetched over HTTP to fill what it missed while away.
    pub fn backfilled(&self, name: &str, t: usize, seq: u64) {
        let problem = {
            let mut inner = self.inner.borrow_mut();
            let Some(d) = inner.displays.get_mut(name) else {
                return;
            };
            let last = d.last.entry(t).or_insert(0);
            if seq == *last + 1 {
                *last = seq;
                None
            } else if seq > *last {
                Some(format!("backfill of t{t} jumped from seq {last} to {seq}"))
            } else {
                None
            }
        };
        if let Some(problem) = problem {
            self.violation(name, problem);
        }
    }

    /// Whether every display still watching holds `heads[t]` of each tournament it watches.
    pub fn all_hold(&self, heads: &[u64]) -> bool {
        self.inner
            .borrow()
            .displays
            .values()
            .filter(|d| d.present)
            .all(|d| {
                d.watches.iter().all(|t| {
                    d.last.get(t).copied().unwrap_or(0) == heads.get(*t).copied().unwrap_or(0)
                })
            })
    }

    pub fn displays(&self) -> BTreeMap<String, DisplayLog> {
        self.inner.borrow().displays.clone()
    }

    // ---- consoles ----

    pub fn answered(&self, answer: Answer) {
        self.inner.borrow_mut().answers.push(answer);
    }

    pub fn answers(&self) -> Vec<Answer> {
        self.inner.borrow().answers.clone()
    }

    pub fn duplicate_sent(&self) {
        self.inner.borrow_mut().duplicates_sent += 1;
    }

    pub fn console_done(&self) {
        self.inner.borrow_mut().consoles_done += 1;
    }

    pub fn consoles_done(&self) -> usize {
        self.inner.borrow().consoles_done
    }

    pub fn duplicates_sent(&self) -> usize {
        self.inner.borrow().duplicates_sent
    }

    pub fn resyncs(&self) -> usize {
        self.inner.borrow().resyncs
    }

    pub fn busy(&self) -> usize {
        self.inner.borrow().busy
    }

    pub fn resumes_from_log(&self) -> usize {
        self.inner.borrow().resumed_from_log
    }
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
