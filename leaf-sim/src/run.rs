//! One run of one seed: build the venue from the plan, step the simulation while applying the
//! plan's faults on time, stop once everything has settled, then check.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use leaf::planted::PlantedBugs;

use crate::check;
use crate::clients::{console, display};
use crate::feed_watch;
use crate::log::{Connection, SimLog};
use crate::plan::{Fault, Plan, Scenario};
use crate::projection;
use crate::rng::Rng;
use crate::trace::Trace;
use crate::venue::{self, LEAF_HOST, Venue};

/// Hard limit on simulated time: a run that has not settled by then is a failure (a client
/// that never catches up, an append that never lands).
const SIMULATION_LIMIT: Duration = Duration::from_secs(90);
/// How long after the last fault and the last append the clients get to catch up before the
/// driver stops and checks what they have.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub plan: Plan,
    pub trace: Vec<String>,
    pub violations: Vec<String>,
    pub faults: usize,
    pub events: usize,
    pub latencies: Vec<Duration>,
    /// Simulated time the run took.
    pub elapsed: Duration,
    pub restarts: u32,
    /// Restarts that found leaf.db and started from its checkpoint.
    pub checkpoint_starts: u32,
    pub resyncs: usize,
    pub stored_unacked: u64,
    /// Publishes the log refused or let time out during outages.
    pub refused: u64,
    /// Times the server cut leaf's main connection (publishes, tails) and its reads one.
    pub cuts_main: u64,
    pub cuts_reads: u64,
    /// Connections and reads leaf refused with 503 busy (its read budget).
    pub busy: usize,
    /// Resumes from 0 leaf served from the log rather than its resume cache.
    pub resumes_from_log: usize,
}

impl Outcome {
    pub fn trace_hash(&self) -> u64 {
        crate::trace::hash(&self.trace)
    }

    /// What to print when the run failed: enough to understand it and to replay it.
    pub fn report(&self) -> String {
        let tail = &self.trace[self.trace.len().saturating_sub(40)..];
        format!(
            "leaf-sim: seed {seed} FAILED with {n} invariant violation(s)\n\
             replay: LEAF_SIM_SEED={seed} cargo test -p leaf-sim\n\
             violations:\n  {violations}\n\
             fault schedule:\n{plan}\
             trace tail ({shown} of {total} lines):\n  {tail}\n",
            seed = self.seed,
            n = self.violations.len(),
            violations = self.violations.join("\n  "),
            plan = self.plan,
            shown = tail.len(),
            total = self.trace.len(),
            tail = tail.join("\n  "),
        )
    }
}

/// Runs `seed` as `scenario`, with `planted` bugs in leaf (none, normally).
pub fn run(seed: u64, scenario: Scenario, planted: PlantedBugs) -> Outcome {
    let plan = Plan::new(seed, scenario);
    let trace = Trace::default();
    let outages = plan
        .faults
        .iter()
        .filter(|f| matches!(f.fault, Fault::LogOutage { .. }))
        .map(|f| (f.at, f.at + f.fault.lasts()))
        .collect();
    let log = SimLog::new(Rng::new(seed).fork("log"), outages);
    let venue = Venue::new(plan.clone(), log, trace.clone(), planted);

    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(SIMULATION_LIMIT)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(plan.max_latency)
        // Small socket buffers, like a phone's, so a reader that stops reading pushes back on
        // leaf's writer and its queue instead of vanishing into an endless buffer. (turmoil
        // uses the same number for the accept backlog, and panics when it overflows, so it
        // must exceed the venue's clients reconnecting at once after a restart.)
        .tcp_capacity(24)
        .build();
    {
        let venue = venue.clone();
        sim.host(LEAF_HOST, move || venue::run_leaf(venue.clone()));
    }
    for c in &plan.consoles {
        sim.client(c.name.as_str(), console::run(venue.clone(), c.clone()));
    }
    for d in &plan.displays {
        sim.client(d.name.as_str(), display::run(venue.clone(), d.clone()));
    }

    let mut violations = Vec::new();
    drive(&mut sim, &venue, &mut violations);
    let elapsed = sim.elapsed();

    // The checks after the run.
    let log = check::events_by_tournament(&venue);
    violations.extend(venue.seen.violations());
    check::answers(&venue, &log, &mut violations);
    check::completeness(&venue, &log, &mut violations);
    check::contents(&venue, &log, &mut violations);
    feed_watch::check(&venue, elapsed, &mut violations);
    check::connections(&venue, &mut violations);
    let latencies = check::latencies(&venue, &log, &mut violations);
    final_projection_check(&venue, &mut violations);

    Outcome {
        seed,
        faults: plan.fault_count() + venue.seen.duplicates_sent(),
        events: log.iter().map(Vec::len).sum(),
        plan,
        trace: trace.lines(),
        violations,
        latencies,
        elapsed,
        restarts: venue.incarnations().saturating_sub(1),
        checkpoint_starts: venue.checkpoint_starts.get(),
        resyncs: venue.seen.resyncs(),
        stored_unacked: venue.log.unacked(),
        refused: venue.log.refused(),
        cuts_main: venue.log.cuts_of(Connection::Main),
        cuts_reads: venue.log.cuts_of(Connection::Reads),
        busy: venue.seen.busy(),
        resumes_from_log: venue.seen.resumes_from_log(),
    }
}

/// Steps the simulation, applying each fault at its time and undoing it when it is over,
/// until every client has finished.
fn drive(sim: &mut turmoil::Sim<'_>, venue: &Rc<Venue>, violations: &mut Vec<String>) {
    let plan = &venue.plan;
    let mut next = 0;
    let mut undo: Vec<(Duration, Fault)> = Vec::new();
    // Faults of one kind on one target nest: the second crash of a crashed leaf changes
    // nothing, and leaf comes back only when the last of them is over.
    let mut active: BTreeMap<String, usize> = BTreeMap::new();
    let mut settling_since: Option<Duration> = None;
    loop {
        let now = sim.elapsed();
        while let Some(timed) = plan.faults.get(next).filter(|f| f.at <= now) {
            let depth = active.entry(target(&timed.fault)).or_default();
            *depth += 1;
            if *depth == 1 {
                apply(sim, venue, &timed.fault);
            } else {
                venue.trace.record_at(
                    now,
                    "driver",
                    format!("{:?} (already in force)", timed.fault),
                );
            }
            undo.push((now + timed.fault.lasts(), timed.fault.clone()));
            next += 1;
        }
        undo.sort_by_key(|(at, _)| *at);
        while undo.first().is_some_and(|(at, _)| *at <= now) {
            let (_, fault) = undo.remove(0);
            let depth = active.entry(target(&fault)).or_default();
            *depth = depth.saturating_sub(1);
            if *depth == 0 {
                revert(sim, venue, &fault);
            }
        }

        let quiet = next == plan.faults.len()
            && undo.is_empty()
            && now >= plan.faults_over()
            && venue.seen.consoles_done() == plan.consoles.len();
        if quiet && !venue.stop.get() {
            let since = *settling_since.get_or_insert(now);
            if caught_up(venue) || now - since > SETTLE_LIMIT {
                venue
                    .trace
                    .record_at(sim.elapsed(), "driver", "stops the clients");
                venue.stop.set(true);
            }
        }
        match sim.step() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                violations.push(format!("the simulation failed: {e}"));
                return;
            }
        }
    }
}

/// Whether every display still watching has every event the log holds for it. Asked at
/// every step once the run is quiet, so it counts without copying.
fn caught_up(venue: &Venue) -> bool {
    let heads: Vec<u64> = venue
        .tournaments
        .iter()
        .map(|t| venue.log.state_events_of(*t))
        .collect();
    venue.seen.all_hold(&heads)
}

/// What a fault acts on, for nesting: its kind and its link.
fn target(fault: &Fault) -> String {
    let kind = match fault {
        Fault::Crash { .. } => "crash",
        Fault::Partition { .. } => "partition",
        Fault::Hold { .. } => "hold",
        Fault::Latency { .. } => "latency",
        Fault::LogOutage { .. } => "log outage",
    };
    format!("{kind} {}", fault.client().unwrap_or(LEAF_HOST))
}

fn apply(sim: &mut turmoil::Sim<'_>, venue: &Venue, fault: &Fault) {
    venue
        .trace
        .record_at(sim.elapsed(), "driver", format!("{fault:?}"));
    match fault {
        Fault::Crash { keeps_db, .. } => {
            venue.feed_watch.borrow_mut().leaf_down(sim.elapsed());
            sim.crash(LEAF_HOST);
            // Without it, the next incarnation rebuilds the projection from the log.
            if !keeps_db {
                venue.db.borrow_mut().take();
            }
        }
        Fault::Partition { client, .. } => sim.partition(client.as_str(), LEAF_HOST),
        Fault::Hold { client, .. } => sim.hold(client.as_str(), LEAF_HOST),
        Fault::Latency {
            client, latency, ..
        } => sim.set_link_latency(client.as_str(), LEAF_HOST, *latency),
        // The log reads its outages from the plan.
        Fault::LogOutage { .. } => {}
    }
}

fn revert(sim: &mut turmoil::Sim<'_>, venue: &Venue, fault: &Fault) {
    match fault {
        Fault::Crash { .. } => {
            venue
                .trace
                .record_at(sim.elapsed(), "driver", "restarts leaf");
            sim.bounce(LEAF_HOST);
        }
        Fault::Partition { client, .. } => {
            venue.trace.record_at(
                sim.elapsed(),
                "driver",
                format!("repairs the link to {client}"),
            );
            sim.repair(client.as_str(), LEAF_HOST);
        }
        Fault::Hold { client, .. } => {
            venue.trace.record_at(
                sim.elapsed(),
                "driver",
                format!("releases the link to {client}"),
            );
            sim.release(client.as_str(), LEAF_HOST);
        }
        Fault::Latency { client, .. } => {
            venue.trace.record_at(
                sim.elapsed(),
                "driver",
                format!("restores the link to {client}"),
            );
            sim.set_link_latency(client.as_str(), LEAF_HOST, Duration::from_millis(1));
            sim.set_link_max_message_latency(client.as_str(), LEAF_HOST, venue.plan.max_latency);
        }
        Fault::LogOutage { .. } => {
            venue
                .trace
                .record_at(sim.elapsed(), "driver", "the log is back")
        }
    }
}

/// Invariant 5 at the end: leaf's projection equals a replay of the whole log.
fn final_projection_check(venue: &Venue, violations: &mut Vec<String>) {
    let Some(store) = venue.store.borrow().clone() else {
        violations.push("leaf never started".into());
        return;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            violations.push(format!("no runtime for the final projection check: {e}"));
            return;
        }
    };
    if let Err(e) = runtime.block_on(projection::matches_replay(&store, &venue.log, true)) {
        violations.push(format!("at the end: {e}"));
    }
}
