//! The workloads: a venue night, one big room, idle screens, a reconnect storm, and a venue
//! night beside hostile clients (the flood).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Appends at `rate` while every client watches.
    Live,
    /// Clients connect and sit: memory and connect time only.
    Idle,
    /// A live phase, then every client drops, `missed` appends happen, and every client
    /// comes back at once resuming from where it was (a Wi-Fi blip over the whole room).
    Storm,
    /// A live phase run twice on the same tournaments, quiet and then beside a flood of
    /// hostile clients of one large tournament ([`crate::load::flood`]); leaf only.
    Flood,
}

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub kind: Kind,
    pub clients: usize,
    pub tournaments: usize,
    /// Appends per second, over all tournaments.
    pub rate: u32,
    pub duration: Duration,
    /// Appends made while a storm's clients are away.
    pub missed: usize,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario {
            name: "venue",
            kind: Kind::Live,
            clients: 1_000,
            tournaments: 50,
            rate: 50,
            duration: Duration::from_secs(20),
            missed: 0,
        },
        Scenario {
            name: "big-room",
            kind: Kind::Live,
            clients: 5_000,
            tournaments: 1,
            rate: 10,
            duration: Duration::from_secs(20),
            missed: 0,
        },
        Scenario {
            name: "idle",
            kind: Kind::Idle,
            clients: 10_000,
            tournaments: 50,
            rate: 0,
            duration: Duration::from_secs(5),
            missed: 0,
        },
        // The missed appends are 20 s of a venue night: 20 per tournament.
        Scenario {
            name: "storm",
            kind: Kind::Storm,
            clients: 1_000,
            tournaments: 50,
            rate: 50,
            duration: Duration::from_secs(2),
            missed: 1_000,
        },
        // The venue night, shorter (each of its two phases takes about 20 s).
        Scenario {
            name: "flood",
            kind: Kind::Flood,
            clients: 1_000,
            tournaments: 50,
            rate: 50,
            duration: Duration::from_secs(15),
            missed: 0,
        },
    ];

    pub fn named(name: &str) -> Option<Scenario> {
        Self::ALL.into_iter().find(|s| s.name == name)
    }

    /// How many appends are measured.
    pub fn appends(&self) -> usize {
        match self.kind {
            Kind::Idle => 0,
            Kind::Live | Kind::Storm | Kind::Flood => {
                (self.rate as u64 * self.duration.as_secs()) as usize
            }
        }
    }

    /// Appends before the measured ones: the first few after start pay for first
    /// connections and first writes (80–100 ms here, on either system). One second's worth.
    pub fn warm_up(&self) -> usize {
        match self.kind {
            Kind::Idle => 0,
            Kind::Live | Kind::Storm | Kind::Flood => self.rate as usize,
        }
    }

    /// The number of the last append the run makes.
    pub fn last_append(&self) -> usize {
        self.warm_up() + self.appends() + self.backlog()
    }

    /// How many appends happen while the clients are away.
    pub fn backlog(&self) -> usize {
        match self.kind {
            Kind::Storm => self.missed,
            Kind::Live | Kind::Idle | Kind::Flood => 0,
        }
    }
}
