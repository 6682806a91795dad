//! Where a tournament's client starts: the snapshot at the head, or the events after the seq
//! it last saw, then live events, with no gap and no duplicate.
//!
//! A client a few events behind (a blip of the Wi-Fi) is served from the resume cache, whose
//! messages are shared, not copied. One further behind is served from the log, a page at a
//! time as its socket drains: a socket holds at most one page ([`crate::log::PAGE_BYTES`])
//! of replay however far back it resumes and however slowly it reads, and each page is a
//! read in the [`ReadBudget`]. The first page is read before the socket is accepted, so a
//! spent budget is answered with `503` and `Retry-After`; later pages wait for a place in
//! the socket's own task, which holds up nobody else.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;

use super::budget::{ReadBudget, ReadPermit, Reader, ReadsBusy, ReplaySlot};
use super::{Feed, Head, view};
use crate::event::{Seq, TournamentId};
use crate::hub::{HubError, Replay, ReplayFailed, Scope, Session, protocol};
use crate::log::{Entry, Filter, LogError, StreamName};

/// The longest replay a client gets; further behind, it gets the snapshot instead, which is
/// the same state in one message.
pub const MAX_REPLAY: u64 = 1000;
/// Events read from the log per page of a replay (fewer if they are large).
const REPLAY_PAGE: usize = 200;
/// How long a replay's later page waits for a place in the read budget before the socket is
/// closed (`1013`, reconnect and resume).
const PAGE_PATIENCE: Duration = Duration::from_secs(10);

/// Why a client could not be subscribed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Busy(#[from] ReadsBusy),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Feed {
    /// Registers a client of `scope`. A tournament's client gets the snapshot, or with
    /// `since` the events after it (if they are at most [`MAX_REPLAY`] and the log has
    /// them), before its live events. `reader` is whose share of the read budget a replay
    /// from the log takes.
    pub async fn watch(
        &self,
        scope: Scope,
        since: Option<Seq>,
        reader: Reader,
    ) -> Result<Session, WatchError> {
        let (mut session, at) = self.subscribe(scope)?;
        let (Scope::Tournament(t), Some((head, snapshot))) = (scope, at) else {
            return Ok(session);
        };
        match since {
            Some(position) if position <= head.seq && head.seq.since(position) <= MAX_REPLAY => {
                if let Some(messages) = self.recent_messages(t, position, head.seq) {
                    session.preamble.extend(messages);
                } else {
                    session.replay = Some(self.replay_from_log(t, position, head, reader).await?);
                }
            }
            // No since, one too far behind, or one from beyond the log (a client of a rebuilt
            // leaf): start over from the snapshot.
            _ => session
                .preamble
                .push(protocol::snapshot(t, head.seq, &snapshot.to_json())),
        }
        Ok(session)
    }

    /// The events `after + 1 ..= head` of `t` as a stream that reads the log a page at a
    /// time. The first page is read now.
    async fn replay_from_log(
        &self,
        t: TournamentId,
        after: Seq,
        head: Head,
        reader: Reader,
    ) -> Result<Replay, WatchError> {
        let slot = self.budget().start_replay(&reader)?;
        let permit = self.budget().try_acquire(&reader)?;
        let mut pages = Pages {
            _slot: slot,
            feed: self.clone(),
            budget: self.budget().clone(),
            reader,
            tournament: t,
            page: VecDeque::new(),
            position: after,
            until: head.seq,
        };
        pages.read(permit).await?;
        Ok(futures_util::stream::unfold(pages, |mut pages| async move {
            let next = pages.next().await;
            next.map(|item| (item, pages))
        })
        .boxed())
    }
}

/// A replay being read: the page in hand and where the next one starts.
struct Pages {
    /// This replay's place among its reader's ([`super::budget::MAX_REPLAYS_PER_READER`]).
    _slot: ReplaySlot,
    feed: Feed,
    budget: ReadBudget,
    reader: Reader,
    tournament: TournamentId,
    /// Read but not yet sent, as stored: decoded one at a time as the socket takes them.
    page: VecDeque<Entry>,
    /// The seq of the last event read.
    position: Seq,
    until: Seq,
}

impl Pages {
    /// The next message of the replay; `None` once it reached the head it started at.
    async fn next(&mut self) -> Option<Result<Utf8Bytes, ReplayFailed>> {
        loop {
            if let Some(entry) = self.page.pop_front() {
                let seq = self.sent_seq();
                let Some(event) = view::event_at(&entry, seq) else {
                    continue;
                };
                return Some(Ok(protocol::event(self.tournament, &event)));
            }
            if self.position >= self.until {
                return None;
            }
            let read = match self.budget.acquire(&self.reader, PAGE_PATIENCE).await {
                Ok(permit) => self.read(permit).await,
                Err(busy) => Err(busy.into()),
            };
            if let Err(e) = read {
                self.until = self.position;
                return Some(Err(ReplayFailed(e.to_string())));
            }
        }
    }

    /// The seq of the entry just taken from the page: seqs count back from `position`, the
    /// seq of the page's last event.
    fn sent_seq(&self) -> Seq {
        Seq(self.position.0 - self.page.len() as u64)
    }

    /// Reads the page after `position` into `page`; an empty page before `until` is an
    /// error, never a gap.
    async fn read(&mut self, permit: ReadPermit) -> Result<(), WatchError> {
        let want = (self.until.since(self.position) as usize).min(REPLAY_PAGE);
        let entries = self
            .feed
            .state_entries(self.tournament, self.position, want)
            .await;
        drop(permit);
        let entries: Vec<Entry> = entries?.into_iter().filter(view::is_event).collect();
        if entries.is_empty() {
            return Err(LogError::Unavailable(format!(
                "the event log did not return events after {}; retry",
                self.position
            ))
            .into());
        }
        self.position = Seq(self.position.0 + entries.len() as u64);
        self.page = entries.into();
        Ok(())
    }
}

impl Feed {
    /// The STATE messages of `t`'s events after `after`, one page of at most `limit`.
    pub(super) async fn state_entries(
        &self,
        t: TournamentId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Entry>, LogError> {
        let Some(from) = self.position_of(t, after).await? else {
            return Ok(Vec::new());
        };
        self.inner
            .log
            .read(StreamName::State, Filter::Tournament(t), from, limit)
            .await
    }
}

#[cfg(test)]
mod tests;
