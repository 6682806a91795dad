//! WebSocket clients that watch tournaments and report each event they receive, so a bench
//! can wait for the last of them.

use futures_util::StreamExt;
use leaf::event::TournamentId;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// One receipt: which tournament's event, which seq.
pub type Receipt = (TournamentId, u64);

pub struct Watchers {
    receipts: mpsc::UnboundedReceiver<Receipt>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watchers {
    /// Opens `per_tournament` sockets on each of `urls` and waits until all are connected.
    pub async fn open(
        urls: &[(TournamentId, String)],
        per_tournament: usize,
    ) -> anyhow::Result<Self> {
        let (tx, receipts) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (tournament, url) in urls {
            for _ in 0..per_tournament {
                let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
                // `connected` and the snapshot come first; a watcher is ready once it has both.
                for _ in 0..2 {
                    socket.next().await;
                }
                let tx = tx.clone();
                let tournament = *tournament;
                tasks.push(tokio::spawn(async move {
                    while let Some(Ok(frame)) = socket.next().await {
                        let Message::Text(text) = frame else { continue };
                        let Ok(message) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        if message["type"] == "event"
                            && let Some(seq) = message["seq"].as_u64()
                            && tx.send((tournament, seq)).is_err()
                        {
                            return;
                        }
                    }
                }));
            }
        }
        Ok(Self { receipts, tasks })
    }

    /// Waits until `count` watchers reported `tournament`'s event `seq`.
    pub async fn wait_for(&mut self, tournament: TournamentId, seq: u64, count: usize) {
        let mut seen = 0;
        while seen < count {
            match self.receipts.recv().await {
                Some((t, s)) if t == tournament && s == seq => seen += 1,
                Some(_) => {}
                None => return,
            }
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
