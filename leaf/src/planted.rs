//! Bugs planted on purpose, so that leaf-sim can show its checker fails when leaf breaks a
//! promise: a checker that never fails proves nothing.
//!
//! This module exists only with the `planted-bugs` feature, which only leaf-sim turns on, and
//! even then every bug is off until a test plants it in one hub or one `TournamentWriter`. The
//! release binary (`cargo build -p leaf`) contains none of it.

/// One broken promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlantedBug {
    /// The hub leaves the newest subscriber out of every 16th broadcast to a tournament.
    /// Breaks: every subscribed client receives every event of its tournament.
    FanoutSkipsOne,
    /// An append is answered before the log acknowledged it; the publish finishes (or not)
    /// in the background. Breaks: an answered append is durable.
    AnswerBeforeAck,
    /// A resume replays from `since` instead of `since + 1`. Breaks: no duplicate after a
    /// resume.
    ResumeRepeatsOne,
    /// The feed's STATE tail loses the fifth message it delivers live, as a tail cut off by
    /// a slow-consumer disconnect would. Breaks: the feed applies every acknowledged event.
    FeedDropsOne,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 4] = [
        PlantedBug::FanoutSkipsOne,
        PlantedBug::AnswerBeforeAck,
        PlantedBug::ResumeRepeatsOne,
        PlantedBug::FeedDropsOne,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Which bugs are planted; none by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs(u8);

impl PlantedBugs {
    pub fn with(self, bug: PlantedBug) -> Self {
        Self(self.0 | bug.bit())
    }

    pub fn has(self, bug: PlantedBug) -> bool {
        self.0 & bug.bit() != 0
    }
}
