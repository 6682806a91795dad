//! Displays: table TVs and phones watch one tournament with a viewer token; a venue screen
//! watches every tournament with a TD token. Each reconnects on its own when its socket is
//! closed, fails or falls silent, resuming with `since` (a venue screen, which has no
//! `since`, fills the gap over HTTP), and follows the plan's drops, stalls, rewinds and
//! departure. Refused with `503` and `Retry-After` (leaf's read budget), it waits that long
//! (scaled) and a little more before it tries again.

use std::iter::Peekable;
use std::rc::Rc;
use std::time::Duration;

use super::http::{Answer, Call};
use super::ws::{ConnectError, Frame, WsSession};
use crate::plan::{DisplayKind, DisplayPlan, Rewind};
use crate::rng::Rng;
use crate::venue::Venue;

/// Silence after which a display gives up on its socket. leaf pings every second in the
/// simulation, so three seconds without a frame means the link is gone.
const SILENCE: Duration = Duration::from_secs(3);
/// How often a display looks at its schedule and the clock while waiting for frames.
const TICK: Duration = Duration::from_millis(25);
/// Events a venue screen asks for per page of its backfill (the API's most).
const BACKFILL_PAGE: usize = 1000;

/// Why a display has no socket this time round.
enum NoSocket {
    /// leaf said when to come back: `503` with `Retry-After` (scaled).
    Busy(Duration),
    /// Anything else: the display backs off on its own.
    Failed,
}

pub async fn run(venue: Rc<Venue>, plan: DisplayPlan) -> turmoil::Result {
    tokio::time::sleep(plan.join).await;
    let me = plan.name.as_str();
    let watches: Vec<usize> = match plan.kind {
        DisplayKind::Table(t) | DisplayKind::Phone(t) => vec![t],
        DisplayKind::Venue => (0..venue.tournaments.len()).collect(),
    };
    while !venue.created.get() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    venue
        .seen
        .display_joins(me, watches.clone(), plan.kind == DisplayKind::Venue);
    venue.trace.record(me, "joins");
    if let DisplayKind::Phone(t) = plan.kind {
        snoop(&venue, me, t).await;
    }
    let mut drops = plan.drops.iter().copied().peekable();
    let mut stalls = plan.stalls.iter().copied().peekable();
    let mut rewinds = plan.rewinds.iter().copied().peekable();
    // Spreads retries after a refusal, as real clients' own timers would.
    let mut jitter = Rng::new(venue.plan.seed).fork(me).fork("jitter");
    let mut backoff = Duration::from_millis(50);

    'session: while !over(&venue, &plan) {
        rewind_due(&venue, me, &watches, &mut rewinds);
        let mut ws = match connect(&venue, &plan, &watches).await {
            Ok(ws) => ws,
            Err(NoSocket::Busy(wait)) => {
                venue.seen.refused_busy();
                let wait = wait + jitter.millis(0..=100);
                venue.trace.record(
                    me,
                    format!("told to retry later; waits {} ms", wait.as_millis()),
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            // Jittered, as real clients' back-off is: displays that failed together (a cut
            // of leaf's reads connection fails every read on it) must not retry in lockstep
            // and cut it again each time.
            Err(NoSocket::Failed) => {
                let spread = backoff.as_millis() as u64 / 2;
                tokio::time::sleep(backoff + jitter.millis(0..=spread)).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let mut heard = now();
        loop {
            if over(&venue, &plan) {
                break 'session;
            }
            if drops.next_if(|at| *at <= now()).is_some() {
                venue.trace.record(me, "drops its socket");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue 'session;
            }
            // The rewind itself happens between connections, at the top.
            if rewinds.peek().is_some_and(|(at, _)| *at <= now()) {
                continue 'session;
            }
            if let Some((_, lasts)) = stalls.next_if(|(at, _)| *at <= now()) {
                venue
                    .trace
                    .record(me, format!("stops reading for {} ms", lasts.as_millis()));
                let from = now();
                tokio::time::sleep(lasts).await;
                venue.seen.stalled(me, from, now());
                venue.trace.record(me, "reads again");
                heard = now();
            }
            if now().saturating_sub(heard) > SILENCE {
                venue.trace.record(me, "hears nothing for 3 s; reconnects");
                continue 'session;
            }
            let frame = tokio::select! {
                biased;
                frame = ws.next() => frame,
                () = tokio::time::sleep(TICK) => continue,
            };
            heard = now();
            match frame {
                None => {}
                Some(Frame::Json(message)) => handle(&venue, me, &message),
                Some(Frame::Closed(code, reason)) => {
                    venue
                        .trace
                        .record(me, format!("closed by leaf: {code} {reason}"));
                    if code == 4008 {
                        venue.seen.resynced();
                    }
                    backoff = Duration::from_millis(50);
                    tokio::time::sleep(backoff).await;
                    continue 'session;
                }
                Some(Frame::Lost(e)) => {
                    venue.trace.record(me, format!("lost its socket: {e}"));
                    tokio::time::sleep(backoff).await;
                    continue 'session;
                }
            }
        }
    }
    if plan.leave.is_some_and(|leave| leave <= now()) {
        venue.seen.display_leaves(me);
        venue.trace.record(me, "leaves");
    }
    Ok(())
}

/// A curious player points their phone's token at another tournament: leaf must refuse.
async fn snoop(venue: &Venue, me: &str, mine: usize) {
    let other = (mine + 1) % venue.tournaments.len();
    if other == mine {
        return;
    }
    let query = format!(
        "?tournament={}&token={}",
        venue.tournaments[other],
        venue.viewer_token(mine)
    );
    match WsSession::connect(&query).await {
        Ok(_) => venue.seen.violation(
            me,
            format!("a viewer token for t{mine} opened a socket on t{other}"),
        ),
        Err(ConnectError::Refused { status: 403, .. }) => {
            venue.trace.record(me, format!("refused on t{other}: 403"))
        }
        Err(e) => venue.trace.record(me, format!("snooping on t{other}: {e}")),
    }
}

/// Applies every rewind that is due: the display forgets what it held past the rewind's
/// point, and its next connection resumes from there.
fn rewind_due(
    venue: &Venue,
    me: &str,
    watches: &[usize],
    rewinds: &mut Peekable<impl Iterator<Item = (Duration, Rewind)>>,
) {
    while let Some((_, to)) = rewinds.next_if(|(at, _)| *at <= now()) {
        venue.seen.rewind(me, to);
        let held: Vec<String> = watches
            .iter()
            .map(|&t| format!("t{t} seq {}", venue.seen.last(me, t).unwrap_or(0)))
            .collect();
        venue
            .trace
            .record(me, format!("loses what it held; keeps {}", held.join(", ")));
    }
}

fn over(venue: &Venue, plan: &DisplayPlan) -> bool {
    venue.stop.get() || plan.leave.is_some_and(|leave| leave <= now())
}

/// Opens a socket (resuming with `since` where it can) and, for a venue screen, fills what it
/// missed over HTTP. On failure the caller waits (as told, or backing off) and tries again.
async fn connect(
    venue: &Venue,
    plan: &DisplayPlan,
    watches: &[usize],
) -> Result<WsSession, NoSocket> {
    let me = plan.name.as_str();
    // A resume from 0 of one tournament, and how many times the log has been read from that
    // tournament's start so far: if that grows meanwhile, leaf's cache did not serve it.
    let mut from_start = None;
    let query = match plan.kind {
        DisplayKind::Table(t) | DisplayKind::Phone(t) => {
            let since = venue.seen.last(me, t);
            if since == Some(0) {
                from_start = Some((t, venue.log.reads_from_start(venue.tournaments[t])));
            }
            let since = since.map(|seq| format!("&since={seq}")).unwrap_or_default();
            format!(
                "?tournament={}&token={}{since}",
                venue.tournaments[t],
                venue.viewer_token(t)
            )
        }
        DisplayKind::Venue => format!("?token={}", venue.td_token()),
    };
    let mut ws = match WsSession::connect(&query).await {
        Ok(ws) => ws,
        Err(ConnectError::Refused {
            status: 503,
            retry_after: Some(wait),
        }) => return Err(NoSocket::Busy(wait)),
        Err(e) => {
            venue.trace.record(me, format!("no socket: {e}"));
            return Err(NoSocket::Failed);
        }
    };
    // The first frame is `connected`; from then on the hub queues every live event.
    match tokio::time::timeout(SILENCE, ws.next()).await {
        Ok(Some(Frame::Json(message))) if message["type"] == "connected" => {
            venue.seen.connected(me);
            venue
                .trace
                .record(me, format!("connected as client {}", message["client_id"]));
        }
        other => {
            venue
                .trace
                .record(me, format!("no `connected` first: {other:?}"));
            return Err(NoSocket::Failed);
        }
    }
    if let Some((t, before)) = from_start
        && venue.log.reads_from_start(venue.tournaments[t]) > before
    {
        venue.seen.resumed_from_log();
        venue
            .trace
            .record(me, format!("resumes t{t} from 0 out of the log"));
    }
    if plan.kind == DisplayKind::Venue {
        // The socket is not read meanwhile: for the latency check, a stall.
        let from = now();
        let mut filled = Ok(());
        for &t in watches {
            filled = backfill(venue, me, t).await;
            if filled.is_err() {
                break;
            }
        }
        venue.seen.stalled(me, from, now());
        filled?;
    }
    Ok(ws)
}

/// Fetches a tournament's events after the last one the screen has, a page at a time until
/// the end (a page may hold fewer than asked for when the events are large).
async fn backfill(venue: &Venue, me: &str, t: usize) -> Result<(), NoSocket> {
    loop {
        let since = venue.seen.last(me, t).unwrap_or(0);
        let path = format!(
            "/api/v1/tournaments/{}/events?since={since}&limit={BACKFILL_PAGE}",
            venue.tournaments[t]
        );
        let answer = Call::get(&path).token(&venue.td_token()).answer().await;
        let (events, bytes) = match answer {
            Ok(answer) if answer.status == 200 => (
                answer.body["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                answer.bytes,
            ),
            Ok(Answer {
                status: 503,
                retry_after: Some(wait),
                ..
            }) => {
                venue
                    .trace
                    .record(me, format!("cannot backfill t{t}: 503 busy"));
                return Err(NoSocket::Busy(wait));
            }
            Ok(answer) => {
                venue.trace.record(
                    me,
                    format!("cannot backfill t{t}: {} {}", answer.status, answer.body),
                );
                return Err(NoSocket::Failed);
            }
            Err(e) => {
                venue.trace.record(me, format!("cannot backfill t{t}: {e}"));
                return Err(NoSocket::Failed);
            }
        };
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        venue.trace.record(
            me,
            format!("backfills t{t} {}..={}", first["seq"], last["seq"]),
        );
        for event in &events {
            if let Some(seq) = event["seq"].as_u64() {
                venue.seen.backfilled(me, t, seq);
            }
        }
        // A page is cut short only once it holds leaf's PAGE_BYTES of events: a short page
        // well under that is the end, and saves asking for the empty one.
        if events.len() < BACKFILL_PAGE && bytes < leaf::log::PAGE_BYTES / 2 {
            return Ok(());
        }
    }
}

/// Records one message.
fn handle(venue: &Venue, me: &str, message: &serde_json::Value) {
    let tournament = || {
        message["tournament_id"]
            .as_str()
            .and_then(|id| venue.tournaments.iter().position(|t| t.to_string() == id))
    };
    let seq = message["seq"].as_u64();
    match (message["type"].as_str(), seq) {
        (Some("snapshot"), Some(seq)) => {
            let t = tournament();
            venue.trace.record(
                me,
                format!("snapshot t{} at seq {seq}", t.map_or(-1, |t| t as i64)),
            );
            match t {
                Some(t) => venue.seen.snapshot(me, t, seq),
                None => venue
                    .seen
                    .violation(me, format!("snapshot of an unknown tournament: {message}")),
            }
        }
        (Some("event"), Some(seq)) => {
            let t = tournament();
            venue.trace.record(
                me,
                format!("event t{} seq {seq}", t.map_or(-1, |t| t as i64)),
            );
            venue.seen.event(me, t, seq, &message["event"]["data"]);
        }
        (Some("snapshot" | "event"), None) => venue
            .seen
            .violation(me, format!("a message without a seq: {message}")),
        (Some("error"), _) => venue
            .trace
            .record(me, format!("error from leaf: {}", message["data"])),
        // Announcements and anything newer than this client: not what it checks.
        _ => {}
    }
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
