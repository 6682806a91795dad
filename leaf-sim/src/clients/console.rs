//! A TD console: appends events to one tournament through the API, each with an
//! idempotency key, retrying the same key until leaf answers 201, and now and then sending an
//! answered append once more. The first console also creates the venue's tournaments.

use std::rc::Rc;
use std::time::Duration;

use serde_json::json;

use super::http::Call;
use crate::observe::Answer;
use crate::plan::ConsolePlan;
use crate::rng::Rng;
use crate::venue::Venue;

/// Event types a console appends: what a TD does during a tournament.
const KINDS: [&str; 5] = ["clock", "level", "seat", "chips", "payout"];
/// Attempts at one append before the console reports that leaf never took it.
const MAX_ATTEMPTS: u32 = 80;

pub async fn run(venue: Rc<Venue>, plan: ConsolePlan) -> turmoil::Result {
    let me = plan.name.as_str();
    let token = venue.td_token();
    if plan.tournament == 0 && me == "console-0" {
        create_tournaments(&venue, me, &token).await?;
    }
    while !venue.created.get() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut rng = Rng::new(venue.plan.seed).fork(me);
    let t = venue.tournaments[plan.tournament];
    let path = format!("/api/v1/tournaments/{t}/events");
    let mut burst = 0;
    for n in 0..plan.events {
        if burst > 0 {
            burst -= 1;
        } else {
            if rng.percent(plan.burst_percent) {
                burst = rng.between(8..=20);
                venue.trace.record(me, format!("starts a burst of {burst}"));
            }
            tokio::time::sleep(rng.millis(plan.pace.0..=plan.pace.1)).await;
        }
        let key = format!("{me}-{n}");
        let body = if plan.chart_percent > 0 && rng.percent(plan.chart_percent) {
            let bytes = rng.between(plan.chart_bytes.0..=plan.chart_bytes.1) as usize;
            json!({"type": "seating", "data": {"n": n, "by": me, "chart": chart(n, bytes)}})
        } else {
            json!({"type": rng.pick(&KINDS), "data": {"n": n, "by": me}})
        };
        let Some(seq) = append(&venue, me, &path, &token, &key, &body).await else {
            continue;
        };
        venue.seen.answered(Answer {
            tournament: plan.tournament,
            key: key.clone(),
            seq,
            at: now(),
        });
        if rng.percent(plan.duplicate_percent) {
            venue.seen.duplicate_sent();
            venue.trace.record(me, format!("sends {key} again"));
            let request_id = format!("{key}.again");
            let again = Call::post(&path, body.clone())
                .token(&token)
                .key(&key)
                .request_id(&request_id)
                .send()
                .await;
            match again {
                Ok((201, answer)) => match answer["seq"].as_u64() {
                    Some(again) => {
                        venue
                            .trace
                            .record(me, format!("{key} again: 201 seq {again}"));
                        venue.seen.answered(Answer {
                            tournament: plan.tournament,
                            key,
                            seq: again,
                            at: now(),
                        });
                    }
                    None => venue
                        .seen
                        .violation(me, format!("{key} again: 201 without a seq: {answer}")),
                },
                Ok((409, answer)) => conflict(&venue, me, &format!("{key} again"), &answer),
                // A retry of a valid request is valid: only the log or the network may fail it.
                Ok((status @ 400..=499, answer)) if !matches!(status, 408 | 429) => venue
                    .seen
                    .violation(me, format!("{key} again: refused with {status}: {answer}")),
                Ok((status, _)) => venue.trace.record(me, format!("{key} again: {status}")),
                Err(e) => venue.trace.record(me, format!("{key} again: {e}")),
            }
        }
    }
    venue.seen.console_done();
    venue.trace.record(me, "done");
    Ok(())
}

/// Posts one event until leaf answers 201 (the seq), or a 4xx says the request itself is
/// wrong (a violation: every request a console sends is valid).
async fn append(
    venue: &Venue,
    me: &str,
    path: &str,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> Option<u64> {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=MAX_ATTEMPTS {
        let answer = Call::post(path, body.clone())
            .token(token)
            .key(key)
            .answer()
            .await;
        // leaf may say when to come back (503 busy: its feed is catching up).
        let told = answer.as_ref().ok().and_then(|a| a.retry_after);
        match answer.map(|a| (a.status, a.body)) {
            Ok((201, body)) => match body["seq"].as_u64() {
                Some(seq) => {
                    venue.trace.record(me, format!("{key}: 201 seq {seq}"));
                    return Some(seq);
                }
                None => {
                    venue
                        .seen
                        .violation(me, format!("{key}: 201 without a seq: {body}"));
                    return None;
                }
            },
            // There is no other writer: a conflict is leaf's own. Retried, as a TD would.
            Ok((409, body)) => conflict(venue, me, key, &body),
            // Refused for good: the request was valid, so leaf is wrong.
            Ok((status @ 400..=499, body)) if !matches!(status, 408 | 429) => {
                venue
                    .seen
                    .violation(me, format!("{key}: refused with {status}: {body}"));
                return None;
            }
            Ok((status, body)) => {
                let code = body["error"]["code"].as_str().unwrap_or("-").to_owned();
                venue
                    .trace
                    .record(me, format!("{key}: {status} {code} (attempt {attempt})"));
            }
            Err(e) => venue
                .trace
                .record(me, format!("{key}: {e} (attempt {attempt})")),
        }
        tokio::time::sleep(backoff.max(told.unwrap_or_default())).await;
        backoff = (backoff * 2).min(Duration::from_millis(800));
    }
    venue
        .seen
        .violation(me, format!("{key}: no 201 after {MAX_ATTEMPTS} attempts"));
    None
}

/// Invariant 8: no append answers 409 without another writer. Every console appends
/// through the one leaf, which serialises a tournament's appends, and nothing else writes to
/// the log, so a conflict can only be leaf losing track of its own appends (a feed behind the
/// log must answer 503 busy, not 409).
fn conflict(venue: &Venue, me: &str, what: &str, body: &serde_json::Value) {
    venue.seen.violation(
        me,
        format!(
            "{what}: 409 without another writer: {}",
            body["error"]["message"]
        ),
    );
}

/// A seating chart of about `bytes` bytes: every table and seat with its player, as a TD's
/// redraw posts it.
fn chart(n: u32, bytes: usize) -> String {
    let mut chart = String::with_capacity(bytes + 16);
    let mut seat = 0u32;
    while chart.len() < bytes {
        chart.push_str(&format!(
            "t{}s{}:p{};",
            seat / 9 + 1,
            seat % 9 + 1,
            seat * 7 + n
        ));
        seat += 1;
    }
    chart
}

/// Creates the plan's tournaments, in order, and checks each got the id the simulated world
/// promised (so displays can know them in advance).
async fn create_tournaments(venue: &Venue, me: &str, token: &str) -> turmoil::Result {
    for (n, expected) in venue.tournaments.iter().enumerate() {
        let body = json!({"name": format!("Saturday {n}")});
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request_id = format!("create-{n}.{attempt}");
            let answer = Call::post("/api/v1/tournaments", body.clone())
                .token(token)
                .request_id(&request_id)
                .send()
                .await;
            match answer {
                Ok((201, created)) if created["id"] == expected.to_string() => break,
                Ok((201, created)) => {
                    return Err(
                        format!("tournament {n} got {created}, expected id {expected}").into(),
                    );
                }
                // Creation is not idempotent, so only a clear refusal is retried.
                Ok((503, _)) | Err(_) if attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return Err(format!("creating tournament {n}: {other:?}").into()),
            }
        }
        venue.trace.record(me, format!("created t{n}"));
    }
    venue.created.set(true);
    Ok(())
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
