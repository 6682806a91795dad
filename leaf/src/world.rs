//! What leaf takes from outside the log when it writes one: the time and fresh ids.
//!
//! Production reads the system clock and the operating system's randomness ([`SystemWorld`]).
//! leaf-sim supplies both from its seed and its simulated clock, so that one seed replays one
//! run exactly: a timestamp or a random id inside an event would otherwise differ from run to
//! run and reach every display.

use time::OffsetDateTime;

use crate::event::TournamentId;

pub trait World: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
    /// An id no tournament has had before.
    fn new_tournament_id(&self) -> TournamentId;
}

/// The real clock and random (v4) ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWorld;

impl World for SystemWorld {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn new_tournament_id(&self) -> TournamentId {
        TournamentId::new_random()
    }
}

/// `at` as RFC 3339 in UTC with milliseconds: how every timestamp in the log is written.
pub fn rfc3339_millis(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let at = at
        .replace_nanosecond(u32::from(at.millisecond()) * 1_000_000)
        .unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_353_045_123_456_789).unwrap();
        assert_eq!(rfc3339_millis(at), "2025-11-28T18:04:05.123Z");
        let elsewhere = at.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(rfc3339_millis(elsewhere), "2025-11-28T18:04:05.123Z");
    }

    #[test]
    fn the_system_world_gives_fresh_ids() {
        let world = SystemWorld;
        assert_ne!(world.new_tournament_id(), world.new_tournament_id());
    }
}
