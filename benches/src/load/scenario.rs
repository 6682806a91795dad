//! The workloads: a venue night, one big room, and idle screens. (The reconnect storm is
//! not measured yet.)

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Appends at `rate` while every client watches.
    Live,
    /// Clients connect and sit: memory and connect time only.
    Idle,
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
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario {
            name: "venue",
            kind: Kind::Live,
            clients: 1_000,
            tournaments: 50,
            rate: 50,
            duration: Duration::from_secs(20),
        },
        Scenario {
            name: "big-room",
            kind: Kind::Live,
            clients: 5_000,
            tournaments: 1,
            rate: 10,
            duration: Duration::from_secs(20),
        },
        Scenario {
            name: "idle",
            kind: Kind::Idle,
            clients: 10_000,
            tournaments: 50,
            rate: 0,
            duration: Duration::from_secs(5),
        },
    ];

    pub fn named(name: &str) -> Option<Scenario> {
        Self::ALL.into_iter().find(|s| s.name == name)
    }

    /// How many appends the run makes.
    pub fn appends(&self) -> usize {
        (self.rate as u64 * self.duration.as_secs()) as usize
    }
}
