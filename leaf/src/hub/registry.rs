//! Who is connected, indexed by scope.
//!
//! Ordered maps, not hash maps: a broadcast visits clients in id order, so a simulation run
//! replays identically from its seed.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::ws::Utf8Bytes;

use super::queue::{Closer, Push, QueueSender};
use super::{ClientId, Scope};
use crate::event::TournamentId;

#[derive(Debug)]
struct Entry {
    scope: Scope,
    queue: QueueSender,
    closer: Closer,
}

#[derive(Debug)]
pub(super) struct Registry {
    pub(super) accepting: bool,
    clients: BTreeMap<ClientId, Entry>,
    by_tournament: BTreeMap<TournamentId, BTreeSet<ClientId>>,
    venue: BTreeSet<ClientId>,
    lobby: BTreeSet<ClientId>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            accepting: true,
            clients: BTreeMap::new(),
            by_tournament: BTreeMap::new(),
            venue: BTreeSet::new(),
            lobby: BTreeSet::new(),
        }
    }
}

/// What one push did.
#[derive(Debug, Default)]
pub(super) struct Fanout {
    pub(super) queued: usize,
    /// Clients whose queue was full: the message was dropped for them.
    pub(super) full: Vec<ClientId>,
}

impl Registry {
    pub(super) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Lobby screens connected now.
    pub(super) fn lobby_len(&self) -> usize {
        self.lobby.len()
    }

    /// Clients connected now: watching one tournament, the whole venue, the lobby.
    pub(super) fn by_scope(&self) -> (usize, usize, usize) {
        let venue = self.venue.len();
        let lobby = self.lobby.len();
        (self.clients.len() - venue - lobby, venue, lobby)
    }

    pub(super) fn insert(
        &mut self,
        id: ClientId,
        scope: Scope,
        queue: QueueSender,
        closer: Closer,
    ) {
        match scope {
            Scope::Tournament(t) => {
                self.by_tournament.entry(t).or_default().insert(id);
            }
            Scope::All => {
                self.venue.insert(id);
            }
            Scope::Lobby => {
                self.lobby.insert(id);
            }
        }
        self.clients.insert(
            id,
            Entry {
                scope,
                queue,
                closer,
            },
        );
    }

    /// Removes a client; its closer, if it was still registered.
    pub(super) fn remove(&mut self, id: ClientId) -> Option<Closer> {
        let entry = self.clients.remove(&id)?;
        match entry.scope {
            Scope::Tournament(t) => {
                if let Some(ids) = self.by_tournament.get_mut(&t) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.by_tournament.remove(&t);
                    }
                }
            }
            Scope::All => {
                self.venue.remove(&id);
            }
            Scope::Lobby => {
                self.lobby.remove(&id);
            }
        }
        Some(entry.closer)
    }

    pub(super) fn closers(&self) -> Vec<Closer> {
        self.clients.values().map(|e| e.closer.clone()).collect()
    }

    /// The most recently registered client watching tournament `t`.
    #[cfg(feature = "planted-bugs")]
    pub(super) fn newest_in(&self, t: TournamentId) -> Option<ClientId> {
        self.by_tournament.get(&t)?.last().copied()
    }

    /// Pushes `message` to the clients `scope` reaches (except `skip`, which only a planted
    /// bug ever names), without waiting on any of them.
    pub(super) fn push(&self, scope: Scope, message: &Utf8Bytes, skip: Option<ClientId>) -> Fanout {
        let mut fanout = Fanout::default();
        let mut visit = |id: &ClientId| {
            let Some(entry) = self.clients.get(id).filter(|_| Some(*id) != skip) else {
                return;
            };
            match entry.queue.push(message.clone()) {
                Push::Queued => fanout.queued += 1,
                Push::Full => fanout.full.push(*id),
                // Its session is ending and will unregister itself.
                Push::Closed => {}
            }
        };
        match scope {
            Scope::All => self.clients.keys().for_each(&mut visit),
            Scope::Lobby => self.lobby.iter().for_each(&mut visit),
            Scope::Tournament(t) => {
                if let Some(ids) = self.by_tournament.get(&t) {
                    ids.iter().for_each(&mut visit);
                }
                self.venue.iter().for_each(&mut visit);
            }
        }
        fanout
    }
}
