//! Concurrent JetStream writers for the nats-server suites. Each owns one tournament's
//! subjects, publishes one message at a time with a `Nats-Msg-Id`, and retries an
//! unacknowledged message with the same id, into the next cycle if a kill interrupts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use leaf::event::{MsgId, TournamentId};
use leaf::log::{EventLog, JetStreamLog, PublishOptions, Subject};
use tokio::sync::watch;

use crate::stream_ledger::{Probe, StreamLedger};

/// A publish with no ack by then is retried (with the same id).
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_DELAY: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct Writer {
    id: usize,
    tournament: TournamentId,
    /// The AUDIT subject and two STATE subjects of the writer's tournament.
    subjects: Vec<Subject>,
    next: u64,
    pending: Option<(Probe, Subject)>,
    rng: fastrand::Rng,
}

impl Writer {
    pub fn new(id: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let tournament =
            TournamentId::from_uuid(uuid::Uuid::from_u64_pair(rng.u64(..), rng.u64(..)));
        let subjects = vec![
            Subject::Audit(tournament),
            Subject::State(tournament, "level_up".parse().expect("a valid token")),
            Subject::State(tournament, "chip_count".parse().expect("a valid token")),
        ];
        Self {
            id,
            tournament,
            subjects,
            next: 1,
            pending: None,
            rng,
        }
    }

    pub fn tournament(&self) -> TournamentId {
        self.tournament
    }

    /// Publishes until `stop` turns true; hands itself back with any unacked message pending.
    pub async fn run(
        mut self,
        log: Arc<JetStreamLog>,
        ledger: Arc<Mutex<StreamLedger>>,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        while !*stop.borrow() {
            let (probe, subject) = self.pending.get_or_insert_with(|| {
                let probe = Probe {
                    id: format!("w{}-{}", self.id, self.next),
                    tournament: self.tournament,
                    writer: self.id,
                    n: self.next,
                };
                self.next += 1;
                let subject = self.subjects[self.rng.usize(..self.subjects.len())].clone();
                (probe, subject)
            });
            ledger
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sending(probe, &subject.to_string());
            let payload = Bytes::from(serde_json::to_vec(&*probe).unwrap_or_default());
            let options = PublishOptions {
                msg_id: MsgId::new(probe.id.clone()).ok(),
                expect_last: None,
            };
            let publish =
                tokio::time::timeout(ACK_TIMEOUT, log.publish(subject.clone(), payload, options));
            let outcome = tokio::select! {
                biased;
                _ = stop.changed() => break,
                outcome = publish => outcome,
            };
            match outcome {
                Ok(Ok(ack)) => {
                    ledger
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .acked(&probe.id, ack.stream, ack.seq);
                    self.pending = None;
                }
                _ => {
                    tokio::select! {
                        biased;
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
            }
        }
        self
    }
}
