//! The same workload against nats-server's own WebSocket listener: clients speak the NATS
//! protocol over WebSocket and subscribe to `tournament.<id>.>`; the writer publishes to a
//! JetStream stream with `sync_interval: always`, waiting for each ack as leaf's TD waits for
//! its 201.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::figures::Figures;
use super::leaf_side::free_port;
use super::scenario::Scenario;
use super::workload::{self, Client};

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
        let ws_url = format!("ws://127.0.0.1:{}", self.ws_port);
        let connect = |i: usize| {
            let subject = format!("tournament.{}.>", tournaments[i % tournaments.len()]);
            let url = ws_url.clone();
            async move {
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
                anyhow::Ok(Subscriber {
                    socket,
                    buffer: Vec::new(),
                })
            }
        };
        let append = |n: usize| {
            let subject = format!(
                "tournament.{}.state.level_up",
                tournaments[n % tournaments.len()]
            );
            let js = js.clone();
            async move {
                js.publish(subject, format!("{{\"n\":{n}}}").into())
                    .await?
                    .await?;
                anyhow::Ok(())
            }
        };
        workload::run("nats-server", scenario, pid, connect, append).await
    }
}

/// A NATS client over WebSocket: MSG payloads carry the append number.
struct Subscriber {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    buffer: Vec<u8>,
}

impl Client for Subscriber {
    async fn receive(&mut self) -> Option<Vec<usize>> {
        match self.socket.next().await? {
            Ok(Message::Binary(data)) => self.buffer.extend_from_slice(&data),
            Ok(Message::Text(text)) => self.buffer.extend_from_slice(text.as_bytes()),
            Ok(_) => return Some(Vec::new()),
            Err(_) => return None,
        }
        let (payloads, pings) = drain_messages(&mut self.buffer);
        for _ in 0..pings {
            let _ = self
                .socket
                .send(Message::binary(b"PONG\r\n".to_vec()))
                .await;
        }
        Some(
            payloads
                .iter()
                .filter_map(|p| serde_json::from_slice::<Value>(p).ok()?["n"].as_u64())
                .map(|n| n as usize)
                .collect(),
        )
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
