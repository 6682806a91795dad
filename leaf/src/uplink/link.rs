//! The running uplink: watches the link, makes the central streams when it comes up, nudges
//! a central copy that does not move, and keeps [`UplinkStatus`] current.
//!
//! nats-server does the replicating; this task only looks and nudges, so a bug here can
//! make the copy late, never wrong. Every look is a few requests, and the central cluster
//! is never asked anything while the link is down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Target;
use super::central::{self, CENTRAL_TIMEOUT, CentralError, Ensured};
use super::claim::Claim;
use super::status::{StreamCopy, UplinkStatus};
use crate::log::supervisor::JetStreamProbe;
use crate::log::{LogError, NatsAuth, StreamName};
use crate::world::rfc3339_millis;

/// How often the link is looked at while the central copy keeps up.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How often while it lacks messages and the link is up: catch-up is watched closely.
const LOOK_EVERY_BEHIND: Duration = Duration::from_millis(250);
/// A central copy that lacks messages and has not moved for this long, with the link up,
/// is nudged. Long enough for a source that is merely busy to show progress; short enough
/// that a copy waiting out nats-server's retry back-off catches up within seconds.
const STALLED_AFTER: Duration = Duration::from_millis(1500);
/// The least time between two nudges of one stream: a new leader needs a moment to set its
/// sources up, and step-downs are elections.
const NUDGE_GAP: Duration = Duration::from_secs(5);
/// How often making the central streams is tried again after it failed.
const ENSURE_RETRY: Duration = Duration::from_secs(5);
/// How often, with the link up, leaf asks whether another leaf answers for its venue id.
const CLAIM_EVERY: Duration = Duration::from_secs(10);
/// How long it waits for answers.
const CLAIM_WAIT: Duration = Duration::from_millis(500);
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
        url: &str,
        auth: &NatsAuth,
        probe: JetStreamProbe,
        stop: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), LogError> {
        let (watcher, client) = Watcher::connect(target, url, auth, probe, Role::Acting).await?;
        let status = watcher.status.subscribe();
        let task = tokio::spawn(async move {
            watcher.run(stop).await;
            let _ = client.drain().await;
        });
        Ok((Self { status }, task))
    }

    /// One look, changing nothing (no streams made, no nudges): `leaf uplink status`.
    pub async fn look_once(
        target: Target,
        url: &str,
        auth: &NatsAuth,
        probe: JetStreamProbe,
    ) -> Result<UplinkStatus, LogError> {
        let (mut watcher, client) =
            Watcher::connect(target, url, auth, probe, Role::Looking).await?;
        watcher.look().await;
        let _ = client.drain().await;
        Ok(watcher.status.borrow().clone())
    }

    pub fn status(&self) -> UplinkStatus {
        self.status.borrow().clone()
    }
}

/// Whether the watcher acts on what it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The running leaf's: makes the central streams, nudges stalled copies.
    Acting,
    /// Only reports.
    Looking,
}

struct Watcher {
    uplink: Target,
    role: Role,
    local: jetstream::Context,
    central: jetstream::Context,
    probe: JetStreamProbe,
    status: watch::Sender<UplinkStatus>,
    state: LinkState,
    /// The acting watcher's answer for its venue id, and its question.
    claim: Option<Claim>,
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
    /// Other leafs answering for this venue id.
    impostors: Vec<String>,
}

/// One central copy's movement.
#[derive(Default)]
struct Progress {
    venue_seq: u64,
    central_seq: Option<u64>,
    /// When `central_seq` last changed (or the link last came up).
    moved_at: Option<Instant>,
    nudged_at: Option<Instant>,
}

impl Watcher {
    async fn connect(
        target: Target,
        url: &str,
        auth: &NatsAuth,
        probe: JetStreamProbe,
        role: Role,
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
        let claim = match role {
            Role::Acting => Some(
                Claim::start(&client, &target.venue)
                    .await
                    .map_err(|e| LogError::Unavailable(format!("the uplink's claim: {e}")))?,
            ),
            Role::Looking => None,
        };
        let watcher = Self {
            uplink: target,
            role,
            local,
            central,
            probe,
            status,
            state: LinkState::default(),
            claim,
        };
        Ok((watcher, client))
    }

    async fn run(mut self, stop: CancellationToken) {
        loop {
            let behind = self.look().await;
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
        let connected = self.probe.leafnode_links().await.is_some_and(|n| n > 0);
        if connected != self.state.connected || self.state.changed_at.is_none() {
            if connected {
                tracing::info!(venue = %self.uplink.venue, "uplink connected");
            } else if self.state.changed_at.is_some() {
                tracing::warn!(venue = %self.uplink.venue, "uplink lost; the venue goes on, and the central copy catches up when it returns");
            }
            self.state.connected = connected;
            self.state.changed_at = Some((now, time::OffsetDateTime::now_utc()));
            self.state.ensured = false;
            for progress in self.state.streams.values_mut() {
                progress.moved_at = Some(now);
            }
        }
        for stream in StreamName::ALL {
            if let Ok(mut info) = self.local.get_stream(stream.as_str()).await
                && let Ok(info) = info.info().await
            {
                self.state.streams.entry(stream).or_default().venue_seq = info.state.last_sequence;
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
        if let Some(claim) = &mut self.claim
            && self
                .state
                .claim_asked
                .is_none_or(|at| now.duration_since(at) >= CLAIM_EVERY)
        {
            self.state.claim_asked = Some(now);
            let others = claim.others(CLAIM_WAIT).await;
            if !others.is_empty() && self.state.impostors.is_empty() {
                tracing::error!(venue = %self.uplink.venue, ?others, "another leaf answers for this venue id: both venues' messages would mix in one central copy; leaf makes and nudges no central streams until it is gone");
            }
            self.state.impostors = others;
        }
        if !self.state.impostors.is_empty() {
            return false;
        }
        if !self.state.ensured && self.role == Role::Acting {
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
        for stream in StreamName::ALL {
            let copied = central::copied_up_to(&self.central, &self.uplink.venue, stream).await;
            let progress = self.state.streams.entry(stream).or_default();
            match copied {
                Ok(seq) => {
                    self.state.last_contact = Some(time::OffsetDateTime::now_utc());
                    if progress.central_seq != Some(seq) {
                        progress.central_seq = Some(seq);
                        progress.moved_at = Some(now);
                    }
                }
                Err(e) => {
                    tracing::debug!(venue = %self.uplink.venue, %stream, error = %e, "cannot see the central copy");
                    continue;
                }
            }
            let copy = StreamCopy::new(progress.venue_seq, progress.central_seq);
            if copy.lacks == 0 || copy.central_ahead() {
                continue;
            }
            behind = true;
            let still = progress
                .moved_at
                .is_none_or(|at| now.duration_since(at) >= STALLED_AFTER);
            let may_nudge = progress
                .nudged_at
                .is_none_or(|at| now.duration_since(at) >= NUDGE_GAP);
            if still && may_nudge && self.role == Role::Acting {
                progress.nudged_at = Some(now);
                match central::nudge(&self.central, &self.uplink.venue, stream).await {
                    Ok(()) => {
                        self.state.nudges += 1;
                        tracing::info!(venue = %self.uplink.venue, %stream, lacks = copy.lacks, "nudged a central copy that did not move");
                    }
                    Err(e) => {
                        tracing::debug!(venue = %self.uplink.venue, %stream, error = %e, "cannot nudge the central copy")
                    }
                }
            }
        }
        behind
    }

    async fn ensure(&self) -> Result<(), CentralError> {
        for stream in StreamName::ALL {
            let done = central::ensure(
                &self.central,
                &self.uplink.venue,
                stream,
                self.uplink.replicas,
            )
            .await?;
            match done {
                Ensured::Created => {
                    tracing::info!(venue = %self.uplink.venue, %stream, "created the central copy")
                }
                Ensured::Updated => {
                    tracing::warn!(venue = %self.uplink.venue, %stream, "updated the central copy's sources to leaf's")
                }
                Ensured::AsItWas => {}
            }
        }
        Ok(())
    }

    fn publish(&self, now: Instant) {
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
        self.status.send_replace(status);
    }
}
