//! What one seed decides before a run starts: the venue (tournaments, TD consoles, displays,
//! phones) and every fault with its time. Printed with a failing run, so the schedule can be
//! read next to the trace.

use std::fmt;
use std::time::Duration;

use crate::rng::Rng;

/// Seeds (percent) in which some displays lose their state together and resume from far
/// back (see `Plan::rewinds`).
const REWIND_SEEDS_PERCENT: u64 = 20;
/// What the seating charts of such a seed's tournament add up to: past leaf's resume cache
/// (`RECENT_BYTES`, 256 KiB) with room to spare, and no more, since every replay and every
/// display handles each byte again.
const CHART_TOTAL: u64 = 280 * 1024;

/// A TD console: appends `events` events to one tournament, one every `pace`.
#[derive(Debug, Clone)]
pub struct ConsolePlan {
    pub name: String,
    pub tournament: usize,
    pub events: u32,
    /// Milliseconds between appends, drawn per append.
    pub pace: (u64, u64),
    /// Chance (percent) of sending an answered append once more with the same key, as a
    /// double-tap or a retry whose answer was lost would.
    pub duplicate_percent: u64,
    /// Chance (percent), per append, of a burst: the next 8 to 20 appends back to back, as
    /// when a TD breaks a table and reseats its players.
    pub burst_percent: u64,
    /// Chance (percent), per append, of a seating chart: an event of `chart_bytes` (a range)
    /// of data. A tournament of them outgrows leaf's resume cache (`RECENT_BYTES`), so its
    /// resumes from far back are read from the log.
    pub chart_percent: u64,
    pub chart_bytes: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayKind {
    /// A TV at a table: one tournament, with a viewer token.
    Table(usize),
    /// A player's phone: one tournament, a viewer token; comes and goes.
    Phone(usize),
    /// A venue-wide screen: every tournament, with a TD token.
    Venue,
}

/// Where a display resumes from after losing what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewind {
    /// `since=0`: a phone whose browser dropped the page, a TV that was power-cycled.
    ToStart,
    /// `since` half of what it had: a page restored from a cache long out of date.
    HalfWay,
}

/// A WebSocket client and what it does besides watching.
#[derive(Debug, Clone)]
pub struct DisplayPlan {
    pub name: String,
    pub kind: DisplayKind,
    pub join: Duration,
    /// A phone that leaves for good.
    pub leave: Option<Duration>,
    /// Times it drops its socket and reconnects (with `since`).
    pub drops: Vec<Duration>,
    /// Times it stops reading, and for how long: a slow reader.
    pub stalls: Vec<(Duration, Duration)>,
    /// Times it loses what it holds, drops its socket and resumes from far back: together
    /// with others, in a burst (see `Plan::rewinds`). Sorted by time.
    pub rewinds: Vec<(Duration, Rewind)>,
}

/// A fault the driver applies to the network, the leaf host or the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The leaf host crashes and is restarted `down` later, with the leaf.db it had (a crash
    /// of the process) or without (the disk or the file was lost: a rebuild from the log).
    Crash { down: Duration, keeps_db: bool },
    /// No packet between the client and leaf, in either direction, for a while.
    Partition { client: String, lasts: Duration },
    /// Packets between the client and leaf are held, then delivered at once.
    Hold { client: String, lasts: Duration },
    /// The link to the client gets slow.
    Latency {
        client: String,
        latency: Duration,
        lasts: Duration,
    },
    /// The event log refuses or times out every request for a while.
    LogOutage { lasts: Duration },
}

impl Fault {
    pub fn lasts(&self) -> Duration {
        match self {
            Fault::Crash { down, .. } => *down,
            Fault::Partition { lasts, .. }
            | Fault::Hold { lasts, .. }
            | Fault::Latency { lasts, .. }
            | Fault::LogOutage { lasts } => *lasts,
        }
    }

    /// The client whose link this fault touches; `None` for leaf-wide faults.
    pub fn client(&self) -> Option<&str> {
        match self {
            Fault::Partition { client, .. }
            | Fault::Hold { client, .. }
            | Fault::Latency { client, .. } => Some(client),
            Fault::Crash { .. } | Fault::LogOutage { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Timed {
    pub at: Duration,
    pub fault: Fault,
}

/// Which kind of venue to build from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Everything from the seed: the sweep.
    Random,
    /// The canonical scenarios of the trace snapshots: one tournament, one console, a table
    /// display and a venue screen, and nothing else...
    NoFaults,
    /// ...then a crash of the leaf host in the middle...
    OneCrash,
    /// ...or a partition between the table display and leaf.
    OnePartition,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub tournaments: usize,
    pub consoles: Vec<ConsolePlan>,
    pub displays: Vec<DisplayPlan>,
    /// Sorted by time.
    pub faults: Vec<Timed>,
    /// The slowest a healthy link is: this venue's Wi-Fi.
    pub max_latency: Duration,
}

impl Plan {
    pub fn new(seed: u64, scenario: Scenario) -> Self {
        match scenario {
            Scenario::Random => Self::random(seed),
            Scenario::NoFaults => Self::canonical(seed, Vec::new()),
            Scenario::OneCrash => Self::canonical(
                seed,
                vec![Timed {
                    at: Duration::from_millis(420),
                    fault: Fault::Crash {
                        down: Duration::from_millis(250),
                        keeps_db: true,
                    },
                }],
            ),
            Scenario::OnePartition => Self::canonical(
                seed,
                vec![Timed {
                    at: Duration::from_millis(320),
                    fault: Fault::Partition {
                        client: "table-0".into(),
                        lasts: Duration::from_millis(600),
                    },
                }],
            ),
        }
    }

    fn canonical(seed: u64, faults: Vec<Timed>) -> Self {
        Self {
            seed,
            tournaments: 1,
            consoles: vec![ConsolePlan {
                name: "console-0".into(),
                tournament: 0,
                events: 6,
                pace: (100, 100),
                duplicate_percent: 0,
                burst_percent: 0,
                chart_percent: 0,
                chart_bytes: (0, 0),
            }],
            displays: vec![
                DisplayPlan {
                    name: "table-0".into(),
                    kind: DisplayKind::Table(0),
                    join: Duration::ZERO,
                    leave: None,
                    drops: Vec::new(),
                    stalls: Vec::new(),
                    rewinds: Vec::new(),
                },
                DisplayPlan {
                    name: "venue".into(),
                    kind: DisplayKind::Venue,
                    join: Duration::ZERO,
                    leave: None,
                    drops: Vec::new(),
                    stalls: Vec::new(),
                    rewinds: Vec::new(),
                },
            ],
            faults,
            max_latency: Duration::from_millis(2),
        }
    }

    fn random(seed: u64) -> Self {
        let root = Rng::new(seed);
        let mut venue = root.fork("venue");
        let tournaments = venue.between(2..=3) as usize;

        let mut consoles: Vec<ConsolePlan> = (0..tournaments)
            .map(|t| ConsolePlan {
                name: format!("console-{t}"),
                tournament: t,
                events: venue.between(12..=30) as u32,
                pace: (40, venue.between(120..=300)),
                duplicate_percent: venue.between(0..=15),
                burst_percent: venue.between(0..=8),
                chart_percent: 0,
                chart_bytes: (0, 0),
            })
            .collect();
        if venue.percent(50) {
            // A second TD on the same tournament: two writers race for each seq.
            consoles.push(ConsolePlan {
                name: format!("console-{tournaments}"),
                tournament: 0,
                events: venue.between(8..=20) as u32,
                pace: (40, 250),
                duplicate_percent: venue.between(0..=15),
                burst_percent: venue.between(0..=8),
                chart_percent: 0,
                chart_bytes: (0, 0),
            });
        }

        let mut clients = root.fork("clients");
        let mut displays = Vec::new();
        for t in 0..tournaments {
            displays.push(Self::display(
                &mut clients,
                format!("table-{t}"),
                DisplayKind::Table(t),
                Duration::ZERO,
            ));
        }
        displays.push(Self::display(
            &mut clients,
            "venue".into(),
            DisplayKind::Venue,
            Duration::ZERO,
        ));
        for p in 0..clients.between(2..=4) {
            let t = clients.between(0..=tournaments as u64 - 1) as usize;
            let join = clients.millis(0..=4000);
            let mut phone = Self::display(
                &mut clients,
                format!("phone-{p}"),
                DisplayKind::Phone(t),
                join,
            );
            if clients.percent(30) {
                phone.leave = Some(join + clients.millis(500..=3000));
            }
            displays.push(phone);
        }

        Self::rewinds(
            &mut root.fork("rewinds"),
            tournaments,
            &mut consoles,
            &mut displays,
        );

        let mut draw = root.fork("faults");
        let mut faults = Vec::new();
        let names: Vec<String> = consoles
            .iter()
            .map(|c| c.name.clone())
            .chain(displays.iter().map(|d| d.name.clone()))
            .collect();
        for _ in 0..draw.between(1..=4) {
            let at = draw.millis(300..=6000);
            let client = draw.pick(&names).clone();
            let fault = match draw.between(0..=99) {
                0..=24 => Fault::Crash {
                    down: draw.millis(50..=1500),
                    keeps_db: false, // drawn below
                },
                25..=49 => Fault::Partition {
                    client,
                    lasts: draw.millis(300..=3000),
                },
                50..=64 => Fault::Hold {
                    client,
                    lasts: draw.millis(100..=1500),
                },
                65..=79 => Fault::Latency {
                    client,
                    latency: draw.millis(150..=600),
                    lasts: draw.millis(500..=2000),
                },
                _ => Fault::LogOutage {
                    lasts: draw.millis(200..=2000),
                },
            };
            faults.push(Timed { at, fault });
        }
        faults.sort_by_key(|f| f.at);
        // From a stream of its own, so that adding it left every other draw as it was.
        let mut db = root.fork("leaf.db");
        for timed in &mut faults {
            if let Fault::Crash { keeps_db, .. } = &mut timed.fault {
                *keeps_db = db.percent(70);
            }
        }

        Self {
            seed,
            tournaments,
            consoles,
            displays,
            faults,
            max_latency: root.fork("wifi").millis(1..=12),
        }
    }

    /// In some seeds, one tournament's TDs post seating charts, and once or twice its
    /// displays (and a few others) lose what they hold at the same moment and resume from
    /// far back: the log-read path, its paging and the read budget under a burst, with the
    /// tournament too large for leaf's resume cache by then.
    fn rewinds(
        rng: &mut Rng,
        tournaments: usize,
        consoles: &mut [ConsolePlan],
        displays: &mut [DisplayPlan],
    ) {
        if !rng.percent(REWIND_SEEDS_PERCENT) {
            return;
        }
        let focus = rng.between(0..=tournaments as u64 - 1) as usize;
        let percent = rng.between(70..=100);
        let events: u64 = consoles
            .iter()
            .filter(|c| c.tournament == focus)
            .map(|c| u64::from(c.events))
            .sum();
        let chart = CHART_TOTAL * 100 / (events * percent).max(1);
        for c in consoles.iter_mut().filter(|c| c.tournament == focus) {
            c.chart_percent = percent;
            c.chart_bytes = (chart * 4 / 5, chart * 6 / 5);
        }
        // Around when its TDs are done (by their average pace): some rewinds come while the
        // charts still arrive, most once the tournament has outgrown the cache.
        let done = consoles
            .iter()
            .filter(|c| c.tournament == focus)
            .map(|c| u64::from(c.events) * (c.pace.0 + c.pace.1) / 2)
            .max()
            .unwrap_or_default();
        for _ in 0..rng.between(1..=2) {
            let at = Duration::from_millis(done * rng.between(70..=140) / 100 + 200);
            let to = if rng.percent(75) {
                Rewind::ToStart
            } else {
                Rewind::HalfWay
            };
            for d in displays.iter_mut() {
                // Within a few milliseconds of each other: a room's power comes back. The
                // focus tournament's displays all lose their state (they share one viewer
                // link: its share of the read budget); the venue screen often, reading the
                // same history over HTTP; others now and then.
                let when = at + rng.millis(0..=20);
                let joins = match d.kind {
                    DisplayKind::Table(t) | DisplayKind::Phone(t) if t == focus => true,
                    DisplayKind::Venue => rng.percent(50),
                    DisplayKind::Table(_) | DisplayKind::Phone(_) => rng.percent(30),
                };
                // Only a display that is there then has anything to lose.
                let there = d.join < when && d.leave.is_none_or(|leave| when < leave);
                if joins && there {
                    d.rewinds.push((when, to));
                }
            }
        }
        for d in displays {
            d.rewinds.sort_by_key(|(at, _)| *at);
        }
    }

    fn display(rng: &mut Rng, name: String, kind: DisplayKind, join: Duration) -> DisplayPlan {
        let mut drops: Vec<Duration> = (0..rng.between(0..=2))
            .map(|_| join + rng.millis(300..=5000))
            .collect();
        drops.sort();
        let stalls = if rng.percent(40) {
            vec![(join + rng.millis(300..=5000), rng.millis(500..=3000))]
        } else {
            Vec::new()
        };
        DisplayPlan {
            name,
            kind,
            join,
            leave: None,
            drops,
            stalls,
            rewinds: Vec::new(),
        }
    }

    /// Faults this plan injects, counting each client-side drop and stall.
    pub fn fault_count(&self) -> usize {
        self.faults.len()
            + self
                .displays
                .iter()
                .map(|d| d.drops.len() + d.stalls.len() + d.rewinds.len())
                .sum::<usize>()
    }

    /// When the last scheduled fault is over.
    pub fn faults_over(&self) -> Duration {
        let driver = self.faults.iter().map(|f| f.at + f.fault.lasts());
        let clients = self.displays.iter().flat_map(|d| {
            d.stalls
                .iter()
                .map(|(at, lasts)| *at + *lasts)
                .chain(d.drops.iter().copied())
                .chain(d.rewinds.iter().map(|(at, _)| *at))
                .chain(d.leave)
        });
        driver.chain(clients).max().unwrap_or_default()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} tournaments, healthy links up to {:?}",
            self.seed, self.tournaments, self.max_latency
        )?;
        for c in &self.consoles {
            write!(
                f,
                "  {}: {} events to t{}, every {}..{} ms, {}% sent twice, {}% start a burst",
                c.name,
                c.events,
                c.tournament,
                c.pace.0,
                c.pace.1,
                c.duplicate_percent,
                c.burst_percent,
            )?;
            if c.chart_percent > 0 {
                write!(
                    f,
                    ", {}% seating charts of {}..{} KiB",
                    c.chart_percent,
                    c.chart_bytes.0 / 1024,
                    c.chart_bytes.1 / 1024
                )?;
            }
            writeln!(f)?;
        }
        for d in &self.displays {
            write!(f, "  {}: {:?} from {:?}", d.name, d.kind, d.join)?;
            if let Some(leave) = d.leave {
                write!(f, " until {leave:?}")?;
            }
            for drop in &d.drops {
                write!(f, ", drops its socket at {drop:?}")?;
            }
            for (at, lasts) in &d.stalls {
                write!(f, ", stops reading at {at:?} for {lasts:?}")?;
            }
            for (at, to) in &d.rewinds {
                let from = match to {
                    Rewind::ToStart => "0",
                    Rewind::HalfWay => "half-way",
                };
                write!(f, ", loses its state at {at:?} and resumes from {from}")?;
            }
            writeln!(f)?;
        }
        for t in &self.faults {
            writeln!(f, "  at {:?}: {:?}", t.at, t.fault)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(fault: &Fault) -> &'static str {
        match fault {
            Fault::Crash { .. } => "crash",
            Fault::Partition { .. } => "partition",
            Fault::Hold { .. } => "hold",
            Fault::Latency { .. } => "latency",
            Fault::LogOutage { .. } => "log outage",
        }
    }

    #[test]
    fn the_sweep_draws_every_kind_of_fault() {
        let mut mix = std::collections::BTreeMap::new();
        for seed in 0..500 {
            let plan = Plan::new(seed, Scenario::Random);
            for f in &plan.faults {
                *mix.entry(kind(&f.fault)).or_insert(0) += 1;
            }
            let stalls: usize = plan.displays.iter().map(|d| d.stalls.len()).sum();
            let drops: usize = plan.displays.iter().map(|d| d.drops.len()).sum();
            let rewinds: usize = plan.displays.iter().map(|d| d.rewinds.len()).sum();
            *mix.entry("stall").or_insert(0) += stalls;
            *mix.entry("drop").or_insert(0) += drops;
            *mix.entry("rewind").or_insert(0) += rewinds;
        }
        println!("fault mix over 500 seeds: {mix:?}");
        for expected in [
            "crash",
            "partition",
            "hold",
            "latency",
            "log outage",
            "stall",
            "drop",
            "rewind",
        ] {
            assert!(
                mix.get(expected).copied().unwrap_or(0) > 50,
                "{expected}: {mix:?}"
            );
        }
    }

    /// The simulated server cuts a connection past `PENDING_LIMIT` pending bytes; a page that
    /// alone went past it would fail every time, and a leaf whose replay reads it could never
    /// start. So no seed's whole log may come near it.
    #[test]
    fn no_seed_holds_a_log_that_one_page_could_cut_a_connection_with() {
        use crate::log::{MESSAGE_OVERHEAD, PENDING_LIMIT};
        // A STATE message besides its chart: subject, record, key, headers.
        const PER_EVENT: u64 = 512 + MESSAGE_OVERHEAD as u64;
        let mut largest = 0;
        for seed in 0..2000 {
            let plan = Plan::new(seed, Scenario::Random);
            let most: u64 = plan
                .consoles
                .iter()
                .map(|c| u64::from(c.events) * (c.chart_bytes.1 + PER_EVENT))
                .sum();
            largest = largest.max(most);
        }
        println!("the largest log a seed can make: {} KiB", largest / 1024);
        assert!(largest < PENDING_LIMIT as u64, "{largest}");
    }

    #[test]
    fn one_seed_gives_one_plan() {
        assert_eq!(
            Plan::new(9, Scenario::Random).to_string(),
            Plan::new(9, Scenario::Random).to_string()
        );
        assert_ne!(
            Plan::new(9, Scenario::Random).to_string(),
            Plan::new(10, Scenario::Random).to_string()
        );
    }
}
