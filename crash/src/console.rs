//! A TD console under load: appends events with an `Idempotency-Key` and retries the same key
//! until leaf answers 201, through crashes, as the real console does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use leaf::event::TournamentId;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::event_ledger::{Answer, EventLedger};

/// Event types the consoles post, all valid subject tokens.
const KINDS: [&str; 4] = ["level_up", "break", "chip_count", "seat_change"];
/// Wait between retries of one key while leaf is down or busy.
const RETRY_DELAY: Duration = Duration::from_millis(40);

/// One append not yet answered with 201; it is retried with the same key, next cycle too.
#[derive(Debug, Clone)]
struct Pending {
    key: String,
    kind: &'static str,
    data: Value,
}

#[derive(Debug)]
pub struct Console {
    id: usize,
    tournament: TournamentId,
    next: u64,
    pending: Option<Pending>,
    rng: fastrand::Rng,
    /// Appends answered 201, across all cycles.
    pub answered: u64,
    /// Attempts that got no 201 (leaf down, timed out, 503) and were retried.
    pub retries: u64,
}

impl Console {
    pub fn new(id: usize, tournament: TournamentId, seed: u64) -> Self {
        Self {
            id,
            tournament,
            next: 1,
            pending: None,
            rng: fastrand::Rng::with_seed(seed),
            answered: 0,
            retries: 0,
        }
    }

    pub fn tournament(&self) -> TournamentId {
        self.tournament
    }

    /// Appends until `stop` turns true, then hands itself back with any unanswered append
    /// still pending.
    pub async fn run(
        mut self,
        http: reqwest::Client,
        base_url: String,
        token: String,
        ledger: Arc<Mutex<EventLedger>>,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        let url = format!("{base_url}/api/v1/tournaments/{}/events", self.tournament);
        while !*stop.borrow() {
            let pending = self.pending.get_or_insert_with(|| {
                let kind = KINDS[self.rng.usize(..KINDS.len())];
                let key = format!("c{}-{}", self.id, self.next);
                let data = json!({"console": self.id, "n": self.next, "key": key});
                self.next += 1;
                Pending { key, kind, data }
            });
            let request = http
                .post(&url)
                .bearer_auth(&token)
                .header("idempotency-key", &pending.key)
                .json(&json!({"type": pending.kind, "data": pending.data}))
                .send();
            let response = tokio::select! {
                biased;
                _ = stop.changed() => break,
                response = request => response,
            };
            // A body cut off by the kill is no answer: status 0, and the key is retried.
            let outcome = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    match r.json::<Value>().await {
                        Ok(body) => (status, body),
                        Err(_) => (0, Value::Null),
                    }
                }
                Err(_) => (0, Value::Null),
            };
            match outcome {
                (201, body) => {
                    let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
                    match body["seq"].as_u64() {
                        Some(seq) => ledger.answered(
                            self.tournament,
                            &pending.key,
                            Answer {
                                seq,
                                kind: pending.kind.to_owned(),
                                data: pending.data.clone(),
                            },
                        ),
                        None => ledger.problem(format!("a 201 without a seq: {body}")),
                    }
                    self.answered += 1;
                    self.pending = None;
                }
                // Leaf down or restarting (0, 503), or another console won the race (409):
                // the same key again is always safe.
                (0 | 409 | 503 | 502 | 504, _) => {
                    self.retries += 1;
                    tokio::select! {
                        biased;
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
                (status, body) => {
                    ledger
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .problem(format!("append {} answered {status}: {body}", pending.key));
                    self.pending = None;
                }
            }
        }
        self
    }
}
