//! The running uplink: watches the link, makes the central streams when it comes up, nudges
//! a central copy that does not move, and keeps [`UplinkStatus`] current.
//!
//! nats-server does the replicating; this task only looks and nudges, so a bug here can
//! make the copy late, never wrong. Every look is a few requests, and the central cluster
//! is never asked anything while the link is down.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Target;
use super::central::{self, CENTRAL_TIMEOUT, CentralError, Ensured};
use super::claim::Claim;
use super::files::{Files, Verdict};
use super::status::{StreamCopy, UplinkStatus};
use crate::log::supervisor::JetStreamProbe;
use crate::log::{LogError, NatsAuth, StreamName};
use crate::world::rfc3339_millis;

/// How often the link is looked at while the central copy keeps up.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often while it lacks messages and the link is up: catch-up is watched closely.
const LOOK_EVERY_BEHIND: Duration = Duration::from_millis(250);
/// A central copy that lacks messages and has not moved for this long, with the link up,
/// is nudged. Not sooner: after the link returns nats-server sets the copy's source up again
/// by itself (a consumer created across the link, which may take seconds on a busy
/// cluster), and a leader elected while that request is pending can take its late answer
/// for the new term's and store messages twice (seen in the soak: nudges 1.5 s after the
/// link's return made 4,942 duplicates in 12 cuts; nats-server's `trySetupSourceConsumer`).
/// Long enough too for a copy that is merely busy storing to show progress.
const STALLED_AFTER: Duration = Duration::from_secs(10);
/// A copy made this recently (seen made, here) is setting its source up for the first time:
/// no nudge, for the same reason.
const NEW_COPY_GRACE: Duration = Duration::from_secs(10);
/// The least time between two nudges of one stream: a source's consumer request waits up to
/// 30 s for its answer, and a nudge sooner could bring the leadership back to the server
/// that still waits for one (the same race).
const NUDGE_GAP: Duration = Duration::from_secs(30);
/// The longest wait between two nudges of a copy that does not move.
const NUDGE_GAP_MAX: Duration = Duration::from_secs(120);
/// A copy that lacks messages and has not moved for this long with the link up, or that
/// cannot be read for this long, is a warning.
const STALL_WARNING: Duration = Duration::from_secs(5 * 60);
/// How often making the central streams is tried again after it failed.
const ENSURE_RETRY: Duration = Duration::from_secs(5);
/// How often, with the link up, leaf asks whether another leaf answers for its venue id.
const CLAIM_EVERY: Duration = Duration::from_secs(10);
/// How long it waits for answers.
const CLAIM_WAIT: Duration = Duration::from_millis(500);
/// Right after the link comes up, the central cluster may not have this leaf's interest in
/// answers yet, and silence would mean nothing: the first question waits this long.
const CLAIM_SETTLE: Duration = Duration::from_secs(2);
/// A link lost [`FLAPPING`] times or more within this is a warning.
const FLAPPING_WINDOW: Duration = Duration::from_secs(10 * 60);
const FLAPPING: usize = 15;
/// A link down for longer than this is a warning: the central copy is falling behind.
const DOWN_WARNING: Duration = Duration::from_secs(60 * 60);

/// A handle on the running uplink, for health.
#[derive(Debug, Clone)]
pub struct Link {
    status: watch::Receiver<UplinkStatus>,
}

impl Link {
    /// Connects to the venue's own nats-server (as leaf) and starts watching.
    pub async fn start(
        target: Target,
        data_dir: &Path,
        url: &str,
        auth: &NatsAuth,
        probe: JetStreamProbe,
        stop: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), LogError> {
        let files = Files::in_data_dir(data_dir);
        let (watcher, client) = Watcher::connect(target, url, auth, probe, files).await?;
        let status = watcher.status.subscribe();
        let task = tokio::spawn(async move {
            watcher.run(stop).await;
            // Bounded by the caller (a shutdown waits UPLINK_STOP at most).
            let _ = client.drain().await;
        });
        Ok((Self { status }, task))
    }

    pub fn status(&self) -> UplinkStatus {
        self.status.borrow().clone()
    }
}

struct Watcher {
    uplink: Target,
    /// Where the status is written for `leaf uplink status`, and the diverged verdicts kept.
    files: Files,
    local: jetstream::Context,
    central: jetstream::Context,
    probe: JetStreamProbe,
    status: watch::Sender<UplinkStatus>,
    state: LinkState,
    /// This leaf's answer for its venue id, and its question.
    claim: Claim,
}

/// What the watcher remembers between looks.
#[derive(Default)]
struct LinkState {
    connected: bool,
    changed_at: Option<(Instant, time::OffsetDateTime)>,
    /// The central streams are as they should be, since the link last came up.
    ensured: bool,
    ensure_tried: Option<Instant>,
    streams: BTreeMap<StreamName, Progress>,
    last_contact: Option<time::OffsetDateTime>,
    nudges: u64,
    error: Option<String>,
    claim_asked: Option<Instant>,
    /// Whether a question asked since the link came up found no other leaf: until then, what
    /// the copy holds may be another leaf's, and no verdict is kept about it.
    claim_settled: bool,
    /// Since when the central copies cannot be read with the link up, and why.
    failing_since: Option<Instant>,
    central_error: Option<String>,
    /// Other leafs answering for this venue id.
    impostors: Vec<String>,
    /// When the link was lost, within [`FLAPPING_WINDOW`].
    losses: std::collections::VecDeque<Instant>,
    /// The leafnode links at the last look, by server id and connection id.
    link_ids: Vec<(String, u64)>,
}

/// One central copy's movement.
struct Progress {
    venue_seq: u64,
    central_seq: Option<u64>,
    /// When `central_seq` last changed (or the link last came up).
    moved_at: Option<Instant>,
    nudged_at: Option<Instant>,
    /// The wait before the next nudge: doubles while nudges do not help.
    nudge_gap: Duration,
    /// When the copy was created (unix ns), as the last ensure saw it.
    copy_created: Option<i128>,
    /// When this leaf saw the copy new (made by it, or made anew since it last looked): by
    /// this box's clock, which a venue offline for long may have wrong by hours, not by the
    /// cluster's creation time.
    new_since: Option<Instant>,
    /// The copy holds other messages than the venue's at the same seqs, and how that was
    /// told.
    diverged: Option<Divergence>,
    /// Whether the copy's newest message was compared with the venue's.
    compared: bool,
    /// Whether its oldest was, since the link came up.
    oldest_compared: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            venue_seq: 0,
            central_seq: None,
            moved_at: None,
            nudged_at: None,
            nudge_gap: NUDGE_GAP,
            copy_created: None,
            new_since: None,
            diverged: None,
            compared: false,
            oldest_compared: false,
        }
    }
}

/// How a copy was found to hold other messages than the venue's at the same seqs (the
/// venue's stream was made anew). Either way the verdict holds for that copy for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Divergence {
    /// A message of the copy differs from the venue's at its seq.
    Differs,
    /// The copy held seqs past the venue's last: they name other messages once the venue
    /// gets there.
    Ahead,
}

/// The venue stream's last seq; `None` when its server does not answer now.
async fn venue_last(local: &jetstream::Context, stream: StreamName) -> Option<u64> {
    let handle = local.get_stream_no_info(stream.as_str()).await.ok()?;
    Some(handle.get_info().await.ok()?.state.last_sequence)
}

/// Whether a message of the copy differs from the venue's at the same seq: the venue's
/// stream was made anew (a wiped data dir, an older backup restored) and its seqs now name
/// other events. nats-server goes on from the copy's seq and never copies what the venue
/// holds under the seqs it already took (nats-server#6206): the copy stays wrong for good.
/// `None` when it cannot be told now.
async fn diverged(
    local: &jetstream::Context,
    stream: StreamName,
    copied: &central::Newest,
) -> Option<bool> {
    use async_nats::jetstream::stream::DirectGetErrorKind;
    if copied.origin == 0 {
        return Some(false);
    }
    let handle = local.get_stream_no_info(stream.as_str()).await.ok()?;
    match handle.direct_get(copied.origin).await {
        Ok(venue) => Some(venue.payload != copied.payload),
        // Gone from the venue (limits an operator set on its stream): nothing to compare.
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

impl Watcher {
    async fn connect(
        target: Target,
        url: &str,
        auth: &NatsAuth,
        probe: JetStreamProbe,
        files: Files,
    ) -> Result<(Self, async_nats::Client), LogError> {
        let client = crate::log::connect_as("leaf-uplink", url, auth).await?;
        let local = jetstream::new(client.clone());
        let central = jetstream::context::ContextBuilder::new()
            .timeout(CENTRAL_TIMEOUT)
            .domain(target.central_domain.clone())
            .build(client.clone());
        let (status, _) = watch::channel(UplinkStatus::new(
            target.venue.clone(),
            target.central_domain.clone(),
        ));
        let claim = Claim::start(&client, &target.venue)
            .await
            .map_err(|e| LogError::Unavailable(format!("the uplink's claim: {e}")))?;
        let mut state = LinkState::default();
        for verdict in files.diverged(&target) {
            let progress = state.streams.entry(verdict.stream).or_default();
            // The weaker kind: it still says "past the venue's seq" while the copy is, and a
            // compare that finds another message makes it `Differs` again.
            progress.diverged = Some(Divergence::Ahead);
            // Until the copy is seen: a copy made again since voids the verdict.
            progress.copy_created = Some(verdict.copy_created);
        }
        let watcher = Self {
            uplink: target,
            files,
            local,
            central,
            probe,
            status,
            state,
            claim,
        };
        Ok((watcher, client))
    }

    async fn run(mut self, stop: CancellationToken) {
        loop {
            // A look waits on the central cluster (each request up to CENTRAL_TIMEOUT): a
            // shutdown does not wait for it.
            let behind = tokio::select! {
                () = stop.cancelled() => return,
                behind = self.look() => behind,
            };
            let wait = if behind {
                LOOK_EVERY_BEHIND
            } else {
                LOOK_EVERY
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One look; whether the central copy lacks messages with the link up.
    async fn look(&mut self) -> bool {
        let now = Instant::now();
        // No answer from the venue's own server (restarting, say) says nothing of the link.
        let (connected, reconnected) = match self.probe.leafnode_links().await {
            Some(ids) => {
                // A link lost and made again since the last look is a new connection.
                let reconnected = !ids.is_empty()
                    && !self.state.link_ids.is_empty()
                    && !ids.iter().any(|id| self.state.link_ids.contains(id));
                let connected = !ids.is_empty();
                self.state.link_ids = ids;
                (connected, reconnected)
            }
            None => (self.state.connected, false),
        };
        if connected != self.state.connected || reconnected || self.state.changed_at.is_none() {
            if reconnected {
                tracing::warn!(venue = %self.uplink.venue, "uplink lost and back since the last look");
            } else if connected {
                tracing::info!(venue = %self.uplink.venue, "uplink connected");
            } else if self.state.changed_at.is_some() {
                tracing::warn!(venue = %self.uplink.venue, "uplink lost; the venue goes on, and the central copy catches up when it returns");
            }
            if self.state.connected && (!connected || reconnected) {
                self.state.losses.push_back(now);
            }
            self.state.connected = connected;
            self.state.changed_at = Some((now, time::OffsetDateTime::now_utc()));
            self.state.ensured = false;
            self.state.failing_since = None;
            // An error seen over the link is not known any more. Another leaf seen answering
            // for this venue id is kept until a new question finds none.
            self.state.error = None;
            self.state.claim_asked = None;
            self.state.claim_settled = false;
            for progress in self.state.streams.values_mut() {
                progress.moved_at = Some(now);
                progress.oldest_compared = false;
                progress.nudge_gap = NUDGE_GAP;
            }
        }
        for stream in StreamName::ALL {
            if let Some(last) = venue_last(&self.local, stream).await {
                self.state.streams.entry(stream).or_default().venue_seq = last;
            }
        }
        let mut behind = false;
        if connected {
            behind = self.look_at_central(now).await;
        }
        self.publish(now);
        behind
    }

    async fn look_at_central(&mut self, now: Instant) -> bool {
        let settled = self
            .state
            .changed_at
            .is_some_and(|(at, _)| now.duration_since(at) >= CLAIM_SETTLE);
        if settled
            && self
                .state
                .claim_asked
                .is_none_or(|at| now.duration_since(at) >= CLAIM_EVERY)
        {
            self.state.claim_asked = Some(now);
            match self.claim.others(CLAIM_WAIT).await {
                // Not asked: what was known stands.
                None => {}
                Some(others) if !others.is_empty() => {
                    if self.state.impostors.is_empty() {
                        tracing::error!(venue = %self.uplink.venue, ?others, "another leaf answers for this venue id: both venues' messages would mix in one central copy; leaf makes and nudges no central streams until it is gone");
                    }
                    self.state.impostors = others;
                }
                Some(_) => {
                    self.state.impostors.clear();
                    self.state.claim_settled = true;
                }
            }
        }
        if !self.state.impostors.is_empty() {
            return false;
        }
        if !self.state.ensured {
            if self
                .state
                .ensure_tried
                .is_some_and(|at| now.duration_since(at) < ENSURE_RETRY)
            {
                return false;
            }
            self.state.ensure_tried = Some(now);
            match self.ensure().await {
                Ok(()) => {
                    self.state.ensured = true;
                    self.state.error = None;
                }
                Err(e) => {
                    tracing::warn!(venue = %self.uplink.venue, error = %e, "cannot make the central streams; trying again");
                    self.state.error = Some(e.to_string());
                    return false;
                }
            }
        }
        let mut behind = false;
        let mut failed = None;
        for stream in StreamName::ALL {
            let newest = central::newest(&self.central, &self.uplink.venue, stream).await;
            // The venue's last seq read again after the copy's: read before, a message the
            // venue stored and the copy took in between would show the copy ahead of it.
            let venue_seq = venue_last(&self.local, stream).await;
            let progress = self.state.streams.entry(stream).or_default();
            if let Some(last) = venue_seq {
                progress.venue_seq = last;
            }
            let newest = match newest {
                Ok(newest) => newest,
                Err(CentralError::Missing(name)) => {
                    // Removed on the central side: made again at the next look.
                    tracing::warn!(venue = %self.uplink.venue, stream = %name, "the central copy is gone; making it again");
                    self.state.ensured = false;
                    failed = Some(format!("central stream {name} does not exist"));
                    continue;
                }
                Err(e) => {
                    tracing::debug!(venue = %self.uplink.venue, %stream, error = %e, "cannot see the central copy");
                    failed = Some(e.to_string());
                    continue;
                }
            };
            self.state.last_contact = Some(time::OffsetDateTime::now_utc());
            self.copy_seen(stream, newest.copy_created);
            let progress = self.state.streams.entry(stream).or_default();
            if progress.central_seq != Some(newest.origin) {
                progress.central_seq = Some(newest.origin);
                progress.moved_at = Some(now);
                progress.compared = false;
            }
            // Only once no other leaf answers for this venue id since the link came up:
            // until then the copy may hold another leaf's messages.
            if self.state.claim_settled {
                // The copy's newest message once it changes, and its oldest once per link-up,
                // against the venue's at the same seq; and the copy's seq against the venue's
                // last, read after it. A verdict of "made anew" is kept (also across restarts):
                // the newest may match again later, the copy stays wrong.
                let mut found = None;
                if venue_seq.is_some_and(|last| newest.origin > last) {
                    found = Some(Divergence::Ahead);
                }
                let mut differs = false;
                if !progress.compared
                    && newest.origin <= progress.venue_seq
                    && let Some(d) = diverged(&self.local, stream, &newest).await
                {
                    progress.compared = true;
                    differs |= d;
                }
                if !progress.oldest_compared
                    && let Ok(oldest) =
                        central::oldest(&self.central, &self.uplink.venue, stream).await
                    && oldest.origin <= progress.venue_seq
                    && let Some(d) = diverged(&self.local, stream, &oldest).await
                {
                    progress.oldest_compared = true;
                    differs |= d;
                }
                if differs {
                    found = Some(Divergence::Differs);
                }
                if let Some(how) = found
                    && progress
                        .diverged
                        .is_none_or(|was| was == Divergence::Ahead && how == Divergence::Differs)
                    && let Some(copy_created) = progress.copy_created
                {
                    if progress.diverged.is_none() {
                        tracing::error!(venue = %self.uplink.venue, %stream, ?how, "the central copy holds other messages than this venue's at the same seqs: this venue's stream was made anew; see leaf uplink status");
                        let verdict = Verdict {
                            stream,
                            copy_created,
                        };
                        if let Err(e) = self.files.keep_diverged(&self.uplink, verdict) {
                            tracing::warn!(error = %e, "cannot keep the diverged verdict in the data dir");
                        }
                    }
                    progress.diverged = Some(how);
                }
            }
            let copy = StreamCopy::new(progress.venue_seq, progress.central_seq);
            if copy.lacks == 0 {
                progress.nudge_gap = NUDGE_GAP;
            }
            if copy.lacks == 0 || copy.central_ahead() || progress.diverged.is_some() {
                continue;
            }
            behind = true;
            // A copy still this long after the link returned (or after it last moved) is
            // waiting out nats-server's retry back-off of up to 2 minutes.
            let still = progress
                .moved_at
                .is_none_or(|at| now.duration_since(at) >= STALLED_AFTER);
            let may_nudge = progress
                .nudged_at
                .is_none_or(|at| now.duration_since(at) >= progress.nudge_gap)
                && progress
                    .new_since
                    .is_none_or(|at| now.duration_since(at) >= NEW_COPY_GRACE);
            if still && may_nudge {
                progress.nudged_at = Some(now);
                // A nudge that does not help is not repeated at the same pace: step-downs
                // are elections, and every venue may be nudging.
                progress.nudge_gap = (progress.nudge_gap * 2).min(NUDGE_GAP_MAX);
                match central::nudge(&self.central, &self.uplink.venue, stream).await {
                    Ok(()) => {
                        self.state.nudges += 1;
                        tracing::info!(venue = %self.uplink.venue, %stream, lacks = copy.lacks, "nudged a central copy that did not move");
                    }
                    Err(e) => {
                        tracing::info!(venue = %self.uplink.venue, %stream, error = %e, "cannot nudge the central copy")
                    }
                }
            }
        }
        match failed {
            Some(e) => {
                self.state.failing_since.get_or_insert(now);
                self.state.central_error = Some(e);
            }
            None => {
                self.state.failing_since = None;
                self.state.central_error = None;
            }
        }
        behind
    }

    async fn ensure(&mut self) -> Result<(), CentralError> {
        for stream in StreamName::ALL {
            let (done, created) = central::ensure(
                &self.central,
                &self.uplink.venue,
                stream,
                self.uplink.replicas,
            )
            .await?;
            self.copy_seen(stream, created);
            match done {
                Ensured::Created => {
                    self.state.streams.entry(stream).or_default().new_since = Some(Instant::now());
                    tracing::info!(venue = %self.uplink.venue, %stream, "created the central copy");
                }
                Ensured::Updated => {
                    tracing::warn!(venue = %self.uplink.venue, %stream, "updated the central copy's sources to leaf's")
                }
                Ensured::AsItWas => {}
            }
        }
        Ok(())
    }

    /// The copy of `stream` as created at `created` (unix ns). Another copy than the one seen
    /// before (deleted and made again, by leaf or by hand) voids what was found wrong with the
    /// old one. A create that found the copy after all (a stream not found for a moment)
    /// gives the old time.
    fn copy_seen(&mut self, stream: StreamName, created: i128) {
        let progress = self.state.streams.entry(stream).or_default();
        if progress.copy_created.is_some_and(|was| was != created) {
            tracing::info!(venue = %self.uplink.venue, %stream, "the central copy was made anew since it was last seen");
            progress.diverged = None;
            progress.compared = false;
            progress.oldest_compared = false;
            progress.central_seq = None;
            progress.new_since = Some(Instant::now());
            if let Err(e) = self.files.drop_diverged(&self.uplink, stream) {
                tracing::warn!(error = %e, "cannot drop the diverged verdict from the data dir");
            }
        }
        progress.copy_created = Some(created);
    }

    fn publish(&mut self, now: Instant) {
        while self
            .state
            .losses
            .front()
            .is_some_and(|at| now.duration_since(*at) > FLAPPING_WINDOW)
        {
            self.state.losses.pop_front();
        }
        let state = &self.state;
        let streams: BTreeMap<StreamName, StreamCopy> = state
            .streams
            .iter()
            .map(|(name, p)| (*name, StreamCopy::new(p.venue_seq, p.central_seq)))
            .collect();
        let mut warning = state.error.clone();
        if !state.impostors.is_empty() {
            warning = Some(format!(
                "another leaf answers for venue id {} on the central cluster ({}): two venues with one id mix their messages in one central copy; give each venue its own --venue-id",
                self.uplink.venue,
                state.impostors.join(", ")
            ));
        }
        if warning.is_none()
            && let Some(name) = state.streams.iter().find_map(|(name, p)| {
                let ahead = StreamCopy::new(p.venue_seq, p.central_seq).central_ahead();
                match p.diverged {
                    Some(Divergence::Differs) => Some(name),
                    // Once the venue got past the copy's seqs, its messages there differ.
                    Some(Divergence::Ahead) if !ahead => Some(name),
                    _ => None,
                }
            })
        {
            warning = Some(format!(
                "the central copy of {name} holds another message than this venue's at some seqs: this venue's stream was made anew (a wiped data dir, or an older backup restored), and nats-server will not copy its messages under the seqs the copy already took (nats-server#6206)",
            ));
        }
        if warning.is_none()
            && let Some((name, copy)) = streams.iter().find(|(_, c)| c.central_ahead())
        {
            warning = Some(format!(
                "the central copy of {name} holds up to seq {}, past this venue's last seq {}: this venue's stream was made anew (a wiped data dir, or an older backup restored), and nats-server will not copy its new messages (nats-server#6206)",
                copy.central_seq.unwrap_or(0),
                copy.venue_seq
            ));
        }
        let lacks: u64 = streams.values().map(|c| c.lacks).sum();
        if warning.is_none()
            && state.connected
            && let Some(since) = state.failing_since
            && now.duration_since(since) >= STALL_WARNING
        {
            warning = Some(format!(
                "the central copies cannot be read for {} minutes with the link up: {}",
                now.duration_since(since).as_secs() / 60,
                state.central_error.as_deref().unwrap_or("no answer")
            ));
        }
        if warning.is_none()
            && state.connected
            && let Some((name, p)) = state.streams.iter().find(|(_, p)| {
                StreamCopy::new(p.venue_seq, p.central_seq).lacks > 0
                    && p.moved_at
                        .is_some_and(|at| now.duration_since(at) >= STALL_WARNING)
            })
        {
            warning = Some(format!(
                "the central copy of {name} lacks {} messages and has not moved for {} minutes with the link up; the central cluster's log says why",
                StreamCopy::new(p.venue_seq, p.central_seq).lacks,
                p.moved_at
                    .map_or(0, |at| now.duration_since(at).as_secs() / 60)
            ));
        }
        if warning.is_none()
            && !state.connected
            && lacks > 0
            && let Some((at, _)) = state.changed_at
            && now.duration_since(at) >= DOWN_WARNING
        {
            warning = Some(format!(
                "the link to the central cluster has been down for {} minutes; the central copy lacks {lacks} messages",
                now.duration_since(at).as_secs() / 60
            ));
        }
        let losses = state
            .losses
            .iter()
            .filter(|at| now.duration_since(**at) <= FLAPPING_WINDOW)
            .count();
        if warning.is_none() && losses >= FLAPPING {
            warning = Some(format!(
                "the link to the central cluster was lost {losses} times in 10 minutes: a bad network, or another box with a copy of this venue's data dir (the central cluster drops one of two leafnode connections under one name)",
            ));
        }
        let status = UplinkStatus {
            ok: warning.is_none(),
            venue_id: self.uplink.venue.clone(),
            central_domain: self.uplink.central_domain.clone(),
            connected: state.connected,
            last_contact: state.last_contact.map(rfc3339_millis),
            since: state.changed_at.map(|(_, at)| rfc3339_millis(at)),
            streams,
            nudges: state.nudges,
            warning,
        };
        self.files.write_status(&status);
        self.status.send_replace(status);
    }
}
