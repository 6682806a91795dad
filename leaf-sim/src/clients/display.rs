//! Displays: table TVs and phones watch one tournament with a viewer token; a venue screen
//! watches every tournament with a TD token. Each reconnects on its own when its socket is
//! closed, fails or falls silent, resuming with `since` (a venue screen, which has no
//! `since`, fills the gap over HTTP), and follows the plan's drops, stalls and departure.

use std::rc::Rc;
use std::time::Duration;

use super::http::Call;
use super::ws::{Frame, WsSession};
use crate::plan::{DisplayKind, DisplayPlan};
use crate::venue::Venue;

/// Silence after which a display gives up on its socket. leaf pings every second in the
/// simulation, so three seconds without a frame means the link is gone.
const SILENCE: Duration = Duration::from_secs(3);
/// How often a display looks at its schedule and the clock while waiting for frames.
const TICK: Duration = Duration::from_millis(25);

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
    let mut backoff = Duration::from_millis(50);

    'session: while !over(&venue, &plan) {
        let Some(mut ws) = connect(&venue, &plan, &watches).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
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
        Err(e) if e.to_string().contains("403") => {
            venue.trace.record(me, format!("refused on t{other}: 403"))
        }
        Err(e) => venue.trace.record(me, format!("snooping on t{other}: {e}")),
    }
}

fn over(venue: &Venue, plan: &DisplayPlan) -> bool {
    venue.stop.get() || plan.leave.is_some_and(|leave| leave <= now())
}

/// Opens a socket (resuming with `since` where it can) and, for a venue screen, fills what it
/// missed over HTTP. `None` if that failed; the caller backs off and tries again.
async fn connect(venue: &Venue, plan: &DisplayPlan, watches: &[usize]) -> Option<WsSession> {
    let me = plan.name.as_str();
    let query = match plan.kind {
        DisplayKind::Table(t) | DisplayKind::Phone(t) => {
            let since = venue
                .seen
                .last(me, t)
                .map(|seq| format!("&since={seq}"))
                .unwrap_or_default();
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
        Err(e) => {
            venue.trace.record(me, format!("no socket: {e}"));
            return None;
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
            return None;
        }
    }
    if plan.kind == DisplayKind::Venue {
        for &t in watches {
            if !backfill(venue, me, t).await {
                return None;
            }
        }
    }
    Some(ws)
}

/// Fetches a tournament's events after the last one the screen has.
async fn backfill(venue: &Venue, me: &str, t: usize) -> bool {
    let since = venue.seen.last(me, t).unwrap_or(0);
    let path = format!(
        "/api/v1/tournaments/{}/events?since={since}&limit=1000",
        venue.tournaments[t]
    );
    match Call::get(&path).token(&venue.td_token()).send().await {
        Ok((200, body)) => {
            let events = body["events"].as_array().cloned().unwrap_or_default();
            if let (Some(first), Some(last)) = (events.first(), events.last()) {
                venue.trace.record(
                    me,
                    format!("backfills t{t} {}..={}", first["seq"], last["seq"]),
                );
            }
            for event in events {
                if let Some(seq) = event["seq"].as_u64() {
                    venue.seen.backfilled(me, t, seq);
                }
            }
            true
        }
        other => {
            venue
                .trace
                .record(me, format!("cannot backfill t{t}: {other:?}"));
            false
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
