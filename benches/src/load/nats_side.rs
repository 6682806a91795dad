//! The same workload against nats-server's own WebSocket listener: clients speak the NATS
//! protocol over WebSocket and subscribe to `tournament.<id>.>`; the writer publishes to a
//! JetStream stream with `sync_interval: always`, waiting for each ack as leaf's TD waits for
//! its 201.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use super::figures::{Figures, rss_bytes};
use super::leaf_side::free_port;
use super::scenario::{Kind, Scenario};
use super::sent::SentTimes;

const CONNECTS_IN_FLIGHT: usize = 128;

pub struct NatsSide {
    child: Child,
    client_port: u16,
    ws_port: u16,
    _dir: tempfile::TempDir,
}

impl NatsSide {
    pub async fn start(nats_server: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (client_port, ws_port) = (free_port()?, free_port()?);
        let config = format!(
            "listen: \"127.0.0.1:{client_port}\"\nmax_connections: 100000\n\
             websocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n}}\n\
             jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
            dir.path().join("js").display()
        );
        let conf = dir.path().join("nats.conf");
        std::fs::write(&conf, config)?;
        let child = Command::new(nats_server)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", nats_server.display()))?;
        let url = format!("nats://127.0.0.1:{client_port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while async_nats::connect(&url).await.is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            child,
            client_port,
            ws_port,
            _dir: dir,
        })
    }

    pub async fn run(&self, scenario: &Scenario) -> anyhow::Result<Figures> {
        let mut figures = Figures::new("nats-server", scenario.clients);
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", self.client_port)).await?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "STATE".into(),
            subjects: vec!["tournament.*.state.*".into()],
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating STATE: {e}"))?;
        let tournaments: Vec<String> = (0..scenario.tournaments)
            .map(|i| format!("t{i:04}"))
            .collect();
        let pid = self.child.id().context("nats-server has no pid")?;
        let rss_before = rss_bytes(pid);

        let sent = Arc::new(SentTimes::new(scenario.appends() + 1));
        let drops = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
        let begun = Instant::now();
        let mut connecting = Vec::new();
        for i in 0..scenario.clients {
            let subject = format!("tournament.{}.>", tournaments[i % tournaments.len()]);
            let url = format!("ws://127.0.0.1:{}", self.ws_port);
            let gate = gate.clone();
            connecting.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
                let hello = format!(
                    "CONNECT {{\"verbose\":false,\"pedantic\":false,\"protocol\":1}}\r\nSUB {subject} 1\r\nPING\r\n"
                );
                socket.send(Message::binary(hello.into_bytes())).await?;
                // Subscribed once the server answers the PING.
                let mut buffer = Vec::new();
                while !String::from_utf8_lossy(&buffer).contains("PONG\r\n") {
                    match socket.next().await {
                        Some(Ok(frame)) => buffer.extend_from_slice(&frame.into_data()),
                        _ => bail!("the NATS WebSocket closed during the handshake"),
                    }
                }
                anyhow::Ok(socket)
            }));
        }
        let mut sockets = Vec::new();
        for task in connecting {
            sockets.push(task.await??);
        }
        figures.connect_all = begun.elapsed();
        if let (Some(before), Some(after)) = (rss_before, rss_bytes(pid)) {
            figures.rss_per_client = Some(after.saturating_sub(before) / scenario.clients as u64);
        }

        let readers: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                let sent = sent.clone();
                let drops = drops.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let mut hist =
                        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                    let mut buffer: Vec<u8> = Vec::new();
                    loop {
                        let frame = tokio::select! {
                            _ = stopped.changed() => break,
                            frame = socket.next() => frame,
                        };
                        match frame {
                            Some(Ok(Message::Binary(data))) => buffer.extend_from_slice(&data),
                            Some(Ok(Message::Text(text))) => {
                                buffer.extend_from_slice(text.as_bytes())
                            }
                            Some(Ok(_)) => continue,
                            _ => {
                                drops.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                        let (payloads, pings) = drain_messages(&mut buffer);
                        for _ in 0..pings {
                            let _ = socket.send(Message::binary(b"PONG\r\n".to_vec())).await;
                        }
                        for payload in payloads {
                            if let Ok(message) = serde_json::from_slice::<Value>(&payload)
                                && let Some(n) = message["n"].as_u64()
                                && let Some(age) = sent.age_micros(n as usize)
                            {
                                let _ = hist.record(age.max(1));
                            }
                        }
                    }
                    hist
                })
            })
            .collect();

        let run_begun = Instant::now();
        if scenario.kind == Kind::Live {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / scenario.rate.max(1));
            let mut appends = Vec::new();
            for n in 1..=scenario.appends() {
                tick.tick().await;
                let subject = format!(
                    "tournament.{}.state.level_up",
                    tournaments[n % tournaments.len()]
                );
                let payload = format!("{{\"n\":{n}}}");
                let js = js.clone();
                sent.mark(n);
                appends.push(tokio::spawn(async move {
                    js.publish(subject, payload.into()).await?.await?;
                    anyhow::Ok(())
                }));
            }
            for append in appends {
                append.await??;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        } else {
            tokio::time::sleep(scenario.duration).await;
        }
        figures.elapsed = run_begun.elapsed();
        let _ = stop.send(true);
        for reader in readers {
            let hist = reader.await?;
            figures.deliveries += hist.len();
            figures.latency.add(&hist)?;
        }
        figures.drops = drops.load(Ordering::Relaxed);
        Ok(figures)
    }
}

/// Takes every complete `MSG` payload out of `buffer` and counts the server's PINGs; a
/// partial message stays for the next frame.
fn drain_messages(buffer: &mut Vec<u8>) -> (Vec<Vec<u8>>, usize) {
    let mut payloads = Vec::new();
    let mut pings = 0;
    let mut at = 0;
    while let Some(end) = find_crlf(&buffer[at..]) {
        let line = String::from_utf8_lossy(&buffer[at..at + end]).into_owned();
        if let Some(rest) = line.strip_prefix("MSG ") {
            let size: usize = rest
                .split_whitespace()
                .last()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let start = at + end + 2;
            if buffer.len() < start + size + 2 {
                break;
            }
            payloads.push(buffer[start..start + size].to_vec());
            at = start + size + 2;
        } else {
            if line == "PING" {
                pings += 1;
            }
            at += end + 2;
        }
    }
    buffer.drain(..at);
    (payloads, pings)
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_frames_come_out_whole() {
        let mut buffer = b"INFO {}\r\nPING\r\nMSG tournament.t1.state.x 1 8\r\n{\"n\":".to_vec();
        let (payloads, pings) = drain_messages(&mut buffer);
        assert!(payloads.is_empty());
        assert_eq!(pings, 1);
        buffer.extend_from_slice(b"42}\r\nMSG a 1 2\r\nhi\r\n");
        let (payloads, _) = drain_messages(&mut buffer);
        assert_eq!(payloads, vec![b"{\"n\":42}".to_vec(), b"hi".to_vec()]);
        assert!(buffer.is_empty());
    }
}
