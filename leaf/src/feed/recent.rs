//! The resume cache: the newest `event` messages of the most recently active tournaments,
//! kept exactly as they were broadcast, so a room of screens reconnecting after a Wi-Fi blip
//! is caught up from memory instead of the log.
//!
//! Bounded three ways ([`RECENT_MESSAGES`] and [`RECENT_BYTES`] per tournament,
//! [`RECENT_TOURNAMENTS`] tournaments): a venue's log holds every tournament it ever ran, and
//! only tonight's have screens to reconnect. A client further behind than what is kept is
//! replayed from the log; the two replays are byte-identical.

use std::collections::{HashMap, VecDeque};

use axum::extract::ws::Utf8Bytes;

use crate::event::{Seq, TournamentId};

/// Events per tournament whose `event` messages stay in memory for resuming clients. A Wi-Fi
/// blip of a few minutes is well inside it; a client further behind is replayed from the log.
pub const RECENT_MESSAGES: usize = 256;
/// ... and at most this many bytes of them per tournament: event data may be up to 64 KiB.
pub const RECENT_BYTES: usize = 256 * 1024;
/// Tournaments whose recent messages are kept: the most recently active. Together with the
/// limits above, at most 16 MiB, typically well under 1 MiB.
pub const RECENT_TOURNAMENTS: usize = 64;

/// Kept messages of the most recently active tournaments.
#[derive(Debug, Default)]
pub struct ResumeCache {
    kept: HashMap<TournamentId, Kept>,
    /// Messages remembered so far: the clock of [`Kept::active_at`].
    remembered: u64,
}

/// One tournament's newest messages, with consecutive seqs from `first`.
#[derive(Debug, Default)]
struct Kept {
    messages: VecDeque<Utf8Bytes>,
    first: Seq,
    bytes: usize,
    /// When this tournament last had an event, in [`ResumeCache::remembered`]'s count.
    active_at: u64,
}

impl ResumeCache {
    /// Keeps event `seq`'s message for tournament `id`'s resuming clients. When that makes
    /// more than [`RECENT_TOURNAMENTS`] tournaments with kept messages, the one quiet for
    /// longest forgets its own.
    pub fn remember(&mut self, id: TournamentId, seq: Seq, message: Utf8Bytes) {
        self.remembered += 1;
        let new_keeper = !self.kept.contains_key(&id);
        let kept = self.kept.entry(id).or_default();
        kept.active_at = self.remembered;
        kept.push(seq, message);
        if kept.messages.is_empty() {
            // Its one message was over the whole byte budget: nothing is kept.
            self.kept.remove(&id);
            return;
        }
        if new_keeper
            && self.kept.len() > RECENT_TOURNAMENTS
            && let Some(quietest) = self
                .kept
                .iter()
                .min_by_key(|(_, kept)| kept.active_at)
                .map(|(id, _)| *id)
        {
            self.kept.remove(&quietest);
        }
    }

    /// The messages of tournament `id`'s events `after + 1 ..= until`, if every one of them
    /// is kept.
    pub fn between(&self, id: TournamentId, after: Seq, until: Seq) -> Option<Vec<Utf8Bytes>> {
        if until <= after {
            return Some(Vec::new());
        }
        self.kept.get(&id)?.between(after, until)
    }
}

impl Kept {
    /// Adds event `seq`'s message, dropping the oldest beyond the limits. A seq that does
    /// not follow the last kept one starts over, so what is kept is always consecutive.
    fn push(&mut self, seq: Seq, message: Utf8Bytes) {
        if self.messages.is_empty() || self.end() != seq {
            self.messages.clear();
            self.bytes = 0;
            self.first = seq;
        }
        self.bytes += message.len();
        self.messages.push_back(message);
        while self.messages.len() > RECENT_MESSAGES || self.bytes > RECENT_BYTES {
            let Some(oldest) = self.messages.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.first = self.first.next();
        }
    }

    /// The seq the next kept message must have.
    fn end(&self) -> Seq {
        Seq(self.first.0 + self.messages.len() as u64)
    }

    fn between(&self, after: Seq, until: Seq) -> Option<Vec<Utf8Bytes>> {
        if self.messages.is_empty() || after.next() < self.first || until >= self.end() {
            return None;
        }
        let from = after.next().since(self.first) as usize;
        let to = until.next().since(self.first) as usize;
        Some(self.messages.range(from..to).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(cache: &ResumeCache, t: TournamentId, after: u64, until: u64) -> Option<Vec<String>> {
        cache
            .between(t, Seq(after), Seq(until))
            .map(|m| m.iter().map(|m| m.as_str().to_owned()).collect())
    }

    #[test]
    fn recent_messages_are_served_only_when_every_one_is_kept() {
        let t = TournamentId::new_random();
        let mut cache = ResumeCache::default();
        assert_eq!(kept(&cache, t, 0, 0), Some(vec![]));
        assert_eq!(kept(&cache, t, 0, 1), None);
        for seq in 1..=5 {
            cache.remember(t, Seq(seq), format!("m{seq}").into());
        }
        assert_eq!(kept(&cache, t, 2, 4), Some(vec!["m3".into(), "m4".into()]));
        assert_eq!(kept(&cache, t, 0, 5).map(|m| m.len()), Some(5));
        assert_eq!(kept(&cache, t, 5, 5), Some(vec![]));
        // Beyond what was kept: not served from memory.
        assert_eq!(kept(&cache, t, 4, 6), None);
    }

    #[test]
    fn big_messages_are_kept_only_up_to_the_byte_budget() {
        let t = TournamentId::new_random();
        let mut cache = ResumeCache::default();
        let big = "x".repeat(RECENT_BYTES / 4 + 1);
        for seq in 1..=8 {
            cache.remember(t, Seq(seq), big.clone().into());
        }
        assert_eq!(kept(&cache, t, 5, 8).map(|m| m.len()), Some(3));
        assert_eq!(kept(&cache, t, 4, 8), None);
        // One message over the whole budget is not kept at all; the log serves it.
        cache.remember(t, Seq(9), "y".repeat(RECENT_BYTES + 1).into());
        assert_eq!(kept(&cache, t, 8, 9), None);
        cache.remember(t, Seq(10), "z".into());
        assert_eq!(kept(&cache, t, 9, 10), Some(vec!["z".into()]));
    }

    #[test]
    fn only_the_most_recently_active_tournaments_keep_messages() {
        let mut cache = ResumeCache::default();
        let ids: Vec<TournamentId> = (0..=RECENT_TOURNAMENTS)
            .map(|_| TournamentId::new_random())
            .collect();
        // The first tournament is active, then quiet while every other one gets an event.
        cache.remember(ids[0], Seq(1), "a1".into());
        cache.remember(ids[1], Seq(1), "b1".into());
        cache.remember(ids[0], Seq(2), "a2".into());
        for id in &ids[2..] {
            cache.remember(*id, Seq(1), "m".into());
        }
        let kept_by = |id: &TournamentId| cache.between(*id, Seq(0), Seq(1));
        assert!(kept_by(&ids[1]).is_none(), "the quietest one forgot");
        assert!(kept_by(&ids[0]).is_some());
        assert!(ids[2..].iter().all(|id| kept_by(id).is_some()));
    }

    #[test]
    fn only_the_newest_are_kept_and_they_stay_consecutive() {
        let t = TournamentId::new_random();
        let mut cache = ResumeCache::default();
        let last = RECENT_MESSAGES as u64 + 10;
        for seq in 1..=last {
            cache.remember(t, Seq(seq), format!("m{seq}").into());
        }
        assert_eq!(kept(&cache, t, 9, last), None, "the oldest were dropped");
        let all = kept(&cache, t, 10, last).unwrap();
        assert_eq!(all.len(), RECENT_MESSAGES);
        assert_eq!(all.first().map(String::as_str), Some("m11"));
        // A seq that does not follow starts over rather than leave a hole.
        cache.remember(t, Seq(last + 2), "skip".into());
        assert_eq!(kept(&cache, t, last, last + 2), None);
        assert_eq!(
            kept(&cache, t, last + 1, last + 2),
            Some(vec!["skip".into()])
        );
    }
}
