//! A table display watching one tournament over `/ws` with a viewer token (or none, on the
//! central reader): it resumes with `since` after every drop, and records every event it is shown so the suite can prove it
//! saw each one exactly once and in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use leaf::event::TournamentId;
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Between reconnect attempts while leaf is down.
const RECONNECT_DELAY: Duration = Duration::from_millis(50);
/// Longer than leaf's ping interval: silence this long means the connection is dead.
const SILENCE: Duration = Duration::from_secs(15);

/// What one display has been shown.
#[derive(Debug, Default)]
pub struct Seen {
    /// The seq of the last event applied (or of the first snapshot).
    pub last: Option<u64>,
    /// seq → (type, data) of every event received live or on resume.
    pub events: BTreeMap<u64, (String, Value)>,
    pub connects: u32,
    /// Broken promises, as they happened: gaps, repeats, other tournaments' events, resumes
    /// answered with a snapshot although the display was not far behind.
    pub problems: Vec<String>,
    pub leaked: u32,
    pub duplicated: u32,
}

pub struct Display {
    pub id: usize,
    pub tournament: TournamentId,
    pub seen: Arc<Mutex<Seen>>,
}

impl Display {
    /// Starts watching; the task ends when `stop` turns true.
    pub fn spawn(
        id: usize,
        tournament: TournamentId,
        ws_url: String,
        token: Option<String>,
        stop: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(watch_loop(
            id,
            tournament,
            ws_url,
            token,
            seen.clone(),
            stop,
        ));
        (
            Self {
                id,
                tournament,
                seen,
            },
            task,
        )
    }

    pub fn last(&self) -> Option<u64> {
        self.lock().last
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn watch_loop(
    id: usize,
    tournament: TournamentId,
    ws_url: String,
    token: Option<String>,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
) {
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    while !*stop.borrow() {
        let since = lock().last;
        let mut url = format!("{ws_url}?tournament={tournament}");
        if let Some(token) = &token {
            url.push_str(&format!("&token={token}"));
        }
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        let connected = tokio::select! {
            biased;
            _ = stop.changed() => return,
            c = tokio_tungstenite::connect_async(url) => c,
        };
        let Ok((mut socket, _)) = connected else {
            tokio::time::sleep(RECONNECT_DELAY).await;
            continue;
        };
        lock().connects += 1;
        loop {
            let frame = tokio::select! {
                biased;
                _ = stop.changed() => return,
                frame = tokio::time::timeout(SILENCE, socket.next()) => frame,
            };
            let text = match frame {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) => continue,
                // Closed, failed or silent: resume from the last event.
                _ => break,
            };
            let Ok(message) = serde_json::from_str::<Value>(&text) else {
                lock()
                    .problems
                    .push(format!("display {id}: not JSON: {text}"));
                continue;
            };
            if !apply(id, tournament, since, &message, &mut lock()) {
                break;
            }
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Applies one message; false when the display must reconnect to repair a gap.
fn apply(
    id: usize,
    tournament: TournamentId,
    since: Option<u64>,
    message: &Value,
    seen: &mut Seen,
) -> bool {
    let own = tournament.to_string();
    match message["type"].as_str() {
        Some("snapshot") => {
            if message["tournament_id"].as_str() != Some(own.as_str()) {
                seen.leaked += 1;
                seen.problems
                    .push(format!("display {id} of {own} got a snapshot of {message}"));
                return true;
            }
            let seq = message["seq"].as_u64().unwrap_or(0);
            match since {
                None => seen.last = Some(seq),
                Some(since) => seen.problems.push(format!(
                    "display {id}: resumed since {since} but got a snapshot at {seq}"
                )),
            }
            true
        }
        Some("event") => {
            if message["tournament_id"].as_str() != Some(own.as_str()) {
                seen.leaked += 1;
                seen.problems.push(format!(
                    "display {id} of {own} got another tournament's event"
                ));
                return true;
            }
            let Some(seq) = message["seq"].as_u64() else {
                seen.problems
                    .push(format!("display {id}: event without seq"));
                return true;
            };
            let last = seen.last.unwrap_or(0);
            if seq <= last {
                seen.duplicated += 1;
                seen.problems
                    .push(format!("display {id}: seq {seq} again after {last}"));
                return true;
            }
            if seq != last + 1 {
                seen.problems
                    .push(format!("display {id}: seq {seq} after {last}, a gap"));
                return false;
            }
            let kind = message["event"]["type"].as_str().unwrap_or("").to_owned();
            seen.events
                .insert(seq, (kind, message["event"]["data"].clone()));
            seen.last = Some(seq);
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(n: u128) -> TournamentId {
        TournamentId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn event(t: TournamentId, seq: u64) -> Value {
        json!({"type":"event","tournament_id":t.to_string(),"seq":seq,
               "event":{"type":"level_up","data":{"n":seq}}})
    }

    #[test]
    fn events_in_order_are_applied_and_a_repeat_or_gap_is_reported() {
        let mut seen = Seen::default();
        let snap = json!({"type":"snapshot","tournament_id":t(1).to_string(),"seq":2});
        assert!(apply(0, t(1), None, &snap, &mut seen));
        assert!(apply(0, t(1), None, &event(t(1), 3), &mut seen));
        assert_eq!(seen.last, Some(3));
        assert!(apply(0, t(1), None, &event(t(1), 3), &mut seen));
        assert_eq!(seen.duplicated, 1);
        assert!(!apply(0, t(1), None, &event(t(1), 5), &mut seen));
        assert_eq!(seen.last, Some(3));
        assert_eq!(seen.problems.len(), 2);
    }

    #[test]
    fn another_tournaments_event_is_a_leak() {
        let mut seen = Seen::default();
        assert!(apply(0, t(1), Some(0), &event(t(2), 1), &mut seen));
        assert_eq!(seen.leaked, 1);
        assert!(seen.events.is_empty());
    }

    #[test]
    fn a_snapshot_instead_of_a_resume_is_reported() {
        let mut seen = Seen::default();
        let snap = json!({"type":"snapshot","tournament_id":t(1).to_string(),"seq":9});
        apply(0, t(1), Some(4), &snap, &mut seen);
        assert_eq!(seen.problems.len(), 1);
    }
}
