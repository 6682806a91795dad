//! TDs appending at once, each to a tournament of their own, and the check of the log against
//! what they were told: for the suites that take room, backups or leaf itself away under load.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::leaf_api::Api;
use crate::leaf_node::LeafNode;

/// `LEAF_NATS_SERVER`, else the one `make deps` installs.
pub fn nats_server() -> PathBuf {
    if let Some(path) = std::env::var_os("LEAF_NATS_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/nats-server")
}

/// One append of the load's shape: (status, body); status 0 when no answer came.
pub async fn append(api: &Api, token: &str, t: &str, n: u64) -> (u16, Value) {
    let response = api
        .http
        .post(format!("{}/api/v1/tournaments/{t}/events", api.base))
        .bearer_auth(token)
        .json(&json!({"type": "chips", "data": {"n": n, "pad": "x".repeat(512)}}))
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }
        Err(e) => (0, json!({"transport": e.to_string()})),
    }
}

/// `GET /api/v1/health`.
pub async fn health_of(api: &Api) -> Value {
    api.http
        .get(format!("{}/api/v1/health", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every stored event of `t`: (seq, the `n` its appender gave it). Pages refused for the
/// read budget (503 `busy`) are asked again after their `Retry-After`.
pub async fn events(api: &Api, token: &str, t: &str) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    loop {
        let since = out.last().map_or(0, |(seq, _)| *seq);
        let response = api
            .http
            .get(format!(
                "{}/api/v1/tournaments/{t}/events?since={since}&limit=1000",
                api.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let page: Value = response.json().await.unwrap_or_default();
        match status {
            200 => {}
            503 => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            other => panic!("reading {t}: {other} {page}"),
        }
        let page = page["events"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        out.extend(page.iter().map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["data"]["n"].as_u64().unwrap_or(u64::MAX),
            )
        }));
    }
}

/// What one appender saw.
#[derive(Default)]
pub struct Ledger {
    /// (seq, n) of every 201.
    pub acked: Vec<(u64, u64)>,
    /// When each 201 came.
    pub acked_at: Vec<SystemTime>,
    /// The `n` of every 507: none may be stored.
    pub refused: Vec<u64>,
    /// 503s: their outcome is unknown, and the checks allow it either way.
    pub unknown: u64,
}

/// TDs appending at once, until stopped.
pub struct Load {
    pub tournaments: Vec<String>,
    pub ledgers: Vec<Arc<Mutex<Ledger>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `appenders` TDs, each on a new tournament.
    pub async fn start(api: &Api, token: &str, appenders: usize) -> Self {
        let mut load = Load {
            tournaments: Vec::new(),
            ledgers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            tasks: Vec::new(),
        };
        for i in 0..appenders {
            let t = api
                .create_tournament(token, &format!("Full store {i}"))
                .await
                .unwrap()
                .to_string();
            let ledger = Arc::new(Mutex::new(Ledger::default()));
            let (api, token, stop) = (api.clone(), token.to_owned(), load.stop.clone());
            let (t_, ledger_) = (t.clone(), ledger.clone());
            load.tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (status, body) = append(&api, &token, &t_, n).await;
                    // Checked after the lock is let go: a failed check must not poison it.
                    let problem = {
                        let mut ledger = ledger_.lock().unwrap();
                        match status {
                            201 => {
                                ledger.acked.push((body["seq"].as_u64().unwrap_or(0), n));
                                ledger.acked_at.push(SystemTime::now());
                                None
                            }
                            507 if body["error"]["code"] == "storage_full" => {
                                ledger.refused.push(n);
                                None
                            }
                            // 503, or no answer at all (leaf killed): the outcome is unknown.
                            0 | 503 => {
                                ledger.unknown += 1;
                                None
                            }
                            _ => Some(format!("an append got {status}: {body}")),
                        }
                    };
                    if let Some(problem) = problem {
                        panic!("{problem}");
                    }
                    if status == 201 {
                        continue;
                    }
                    // Refused: a TD's console waits a moment before the next try.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
            load.tournaments.push(t);
            load.ledgers.push(ledger);
        }
        load
    }

    /// Waits until `done` holds for the ledgers (a panicked appender fails the test here).
    /// Waits until `done` holds for the ledgers; fails the test after `within`.
    pub async fn until(&self, within: Duration, what: &str, done: impl Fn(&[&Ledger]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            assert!(
                !self.tasks.iter().any(|t| t.is_finished()),
                "an appender stopped while waiting for {what}"
            );
            let guards: Vec<_> = self.ledgers.iter().map(|l| l.lock().unwrap()).collect();
            let ledgers: Vec<&Ledger> = guards.iter().map(|g| &**g).collect();
            if done(&ledgers) {
                return;
            }
            drop(guards);
            assert!(Instant::now() < deadline, "no {what} within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every appender; each tournament with its ledger.
    pub async fn stop(self) -> Vec<(String, Ledger)> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("an appender panicked");
        }
        self.tournaments
            .into_iter()
            .zip(self.ledgers)
            .map(|(t, l)| (t, std::mem::take(&mut *l.lock().unwrap())))
            .collect()
    }
}

/// Every acknowledged event is stored at its seq, nothing refused is, and seqs have no gaps.
pub async fn check_log(api: &Api, token: &str, ledgers: &[(String, Ledger)]) {
    for (t, ledger) in ledgers {
        let stored = events(api, token, t).await;
        let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "seqs with gaps in {t}"
        );
        for ack in &ledger.acked {
            assert!(stored.contains(ack), "acknowledged {ack:?} of {t} is lost");
        }
        for n in &ledger.refused {
            assert!(
                !stored.iter().any(|(_, stored_n)| stored_n == n),
                "append {n} of {t} was refused with 507 (nothing stored), yet it is in the log"
            );
        }
    }
}

/// A client of `leaf`'s API.
pub fn api_for(leaf: &LeafNode) -> Api {
    Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: leaf.base_url(),
    }
}
