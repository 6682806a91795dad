//! The same workload against nats-server's own WebSocket listener: clients speak the NATS
//! protocol over WebSocket and subscribe to `tournament.<id>.>`; the writer publishes to a
//! JetStream stream with `sync_interval: always`, waiting for each ack as leaf's TD waits for
//! its 201.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
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

    /// One run of `scenario`, its clients reading the way `reading` says.
    pub async fn run(&self, scenario: &Scenario, reading: Reading) -> anyhow::Result<Figures> {
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
        let resumable = reading == Reading::Consumer;
        let connect = |i: usize, since: Option<u64>| {
            let filter = format!("tournament.{}.>", tournaments[i % tournaments.len()]);
            let url = ws_url.clone();
            let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
            async move {
                let (socket, _) = tokio_tungstenite::connect_async(url).await?;
                let mut subscriber = Subscriber {
                    socket,
                    buffer: Vec::new(),
                    stream_seq: since,
                };
                if resumable {
                    subscriber.consume(id, &filter, since).await?;
                } else {
                    subscriber.subscribe(&filter).await?;
                }
                anyhow::Ok(subscriber)
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
        workload::run(reading.system(), scenario, pid, connect, append).await
    }
}

/// How a NATS client gets a tournament's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A core subscription: the fastest fan-out nats-server has. It hands each message to
    /// subscribers as it arrives, before JetStream has stored (let alone synced) it.
    Subscription,
    /// A JetStream push consumer per client: messages only once stored, as leaf's displays
    /// get them, and resumable from a stream seq.
    Consumer,
}

impl Reading {
    pub fn system(self) -> &'static str {
        match self {
            Reading::Subscription => "nats-server",
            Reading::Consumer => "nats-server JetStream",
        }
    }
}

/// Distinct inboxes for the JetStream consumers of every connection.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// A NATS client over WebSocket: MSG payloads carry the append number.
struct Subscriber {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    buffer: Vec<u8>,
    /// The last JetStream stream seq delivered, for a client that reads through a consumer.
    stream_seq: Option<u64>,
}

impl Subscriber {
    /// A plain subscription: nats-server's fastest fan-out, with nothing to resume from.
    async fn subscribe(&mut self, filter: &str) -> anyhow::Result<()> {
        let hello = format!("{CONNECT}SUB {filter} 1\r\nPING\r\n");
        self.socket
            .send(Message::binary(hello.into_bytes()))
            .await?;
        // Subscribed once the server answers the PING.
        while !String::from_utf8_lossy(&self.buffer).contains("PONG\r\n") {
            self.read_frame().await?;
        }
        self.buffer.clear();
        Ok(())
    }

    /// What a NATS browser client does to resume: an ephemeral push consumer on STATE for the
    /// tournament, from the stream seq after `since` (or only new messages).
    async fn consume(&mut self, id: u64, filter: &str, since: Option<u64>) -> anyhow::Result<()> {
        let deliver = format!("deliver.{id}");
        let reply = format!("reply.{id}");
        let start = match since {
            Some(seq) => format!(
                r#""deliver_policy":"by_start_sequence","opt_start_seq":{}"#,
                seq + 1
            ),
            None => r#""deliver_policy":"new""#.to_owned(),
        };
        let request = format!(
            r#"{{"stream_name":"STATE","config":{{"deliver_subject":"{deliver}","filter_subject":"{filter}",{start},"ack_policy":"none","replay_policy":"instant"}}}}"#
        );
        let hello = format!(
            "{CONNECT}SUB {deliver} 1\r\nSUB {reply} 2\r\nPUB $JS.API.CONSUMER.CREATE.STATE {reply} {}\r\n{request}\r\n",
            request.len()
        );
        self.socket
            .send(Message::binary(hello.into_bytes()))
            .await?;
        // Consuming once the API answers; deliveries may already be in the same frames.
        loop {
            self.read_frame().await?;
            let messages = self.drain();
            let Some(answer) = messages.iter().find(|m| m.subject == reply) else {
                self.buffer
                    .splice(0..0, messages.iter().flat_map(Msg::encode));
                continue;
            };
            if answer.payload.windows(7).any(|w| w == b"\"error\"") {
                bail!(
                    "creating a consumer: {}",
                    String::from_utf8_lossy(&answer.payload)
                );
            }
            let early: Vec<u8> = messages
                .iter()
                .filter(|m| m.subject != reply)
                .flat_map(Msg::encode)
                .collect();
            self.buffer.splice(0..0, early);
            return Ok(());
        }
    }

    async fn read_frame(&mut self) -> anyhow::Result<()> {
        match self.socket.next().await {
            Some(Ok(frame)) => {
                self.buffer.extend_from_slice(&frame.into_data());
                Ok(())
            }
            _ => bail!("the NATS WebSocket closed"),
        }
    }

    /// The complete messages in the buffer; answers the server's PINGs.
    fn drain(&mut self) -> Vec<Msg> {
        let (messages, _) = drain_messages(&mut self.buffer);
        messages
    }
}

const CONNECT: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n";

impl Client for Subscriber {
    async fn receive(&mut self) -> Option<Vec<usize>> {
        // Messages left from the handshake come first.
        if self.buffer.is_empty() || drain_would_block(&self.buffer) {
            self.read_frame().await.ok()?;
        }
        let (messages, pings) = drain_messages(&mut self.buffer);
        for _ in 0..pings {
            let _ = self
                .socket
                .send(Message::binary(b"PONG\r\n".to_vec()))
                .await;
        }
        if let Some(seq) = messages.iter().filter_map(Msg::stream_seq).max() {
            self.stream_seq = Some(seq);
        }
        Some(
            messages
                .iter()
                .filter_map(|m| serde_json::from_slice::<Payload>(&m.payload).ok()?.n)
                .collect(),
        )
    }

    fn position(&self) -> Option<u64> {
        self.stream_seq
    }
}

/// What the writer publishes.
#[derive(serde::Deserialize)]
struct Payload {
    n: Option<usize>,
}

/// One `MSG` from the server.
#[derive(Debug, PartialEq)]
struct Msg {
    subject: String,
    reply: Option<String>,
    payload: Vec<u8>,
}

impl Msg {
    /// JetStream's ack subject names the stream seq: `$JS.ACK.<stream>.<consumer>.<delivered>.
    /// <stream seq>.…` (nine tokens), or with a domain and account hash first (twelve).
    fn stream_seq(&self) -> Option<u64> {
        let reply = self.reply.as_deref()?.strip_prefix("$JS.ACK.")?;
        let tokens: Vec<&str> = reply.split('.').collect();
        let at = match tokens.len() {
            7 => 3,
            n if n >= 9 => 5,
            _ => return None,
        };
        tokens.get(at)?.parse().ok()
    }

    /// Back to the wire form, to put a message back in the buffer.
    fn encode(&self) -> Vec<u8> {
        let reply = self
            .reply
            .as_deref()
            .map(|r| format!("{r} "))
            .unwrap_or_default();
        let mut out =
            format!("MSG {} 1 {reply}{}\r\n", self.subject, self.payload.len()).into_bytes();
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// True when the buffer holds no complete line: a read must come first.
fn drain_would_block(buffer: &[u8]) -> bool {
    let Some(end) = find_crlf(buffer) else {
        return true;
    };
    let line = String::from_utf8_lossy(&buffer[..end]);
    let size = line
        .strip_prefix("MSG ")
        .and_then(|rest| rest.split_whitespace().last()?.parse::<usize>().ok());
    size.is_some_and(|size| buffer.len() < end + 2 + size + 2)
}

/// Takes every complete `MSG` out of `buffer` and counts the server's PINGs; a partial
/// message stays for the next frame.
fn drain_messages(buffer: &mut Vec<u8>) -> (Vec<Msg>, usize) {
    let mut messages = Vec::new();
    let mut pings = 0;
    let mut at = 0;
    while let Some(end) = find_crlf(&buffer[at..]) {
        let line = String::from_utf8_lossy(&buffer[at..at + end]).into_owned();
        if let Some(rest) = line.strip_prefix("MSG ") {
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            let size: usize = tokens.last().and_then(|s| s.parse().ok()).unwrap_or(0);
            let start = at + end + 2;
            if buffer.len() < start + size + 2 {
                break;
            }
            messages.push(Msg {
                subject: tokens.first().copied().unwrap_or_default().to_owned(),
                reply: (tokens.len() == 4).then(|| tokens[2].to_owned()),
                payload: buffer[start..start + size].to_vec(),
            });
            at = start + size + 2;
        } else {
            if line == "PING" {
                pings += 1;
            }
            at += end + 2;
        }
    }
    buffer.drain(..at);
    (messages, pings)
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
        let (messages, pings) = drain_messages(&mut buffer);
        assert!(messages.is_empty());
        assert_eq!(pings, 1);
        assert!(drain_would_block(&buffer));
        buffer.extend_from_slice(b"42}\r\nMSG a 1 r.1 2\r\nhi\r\n");
        assert!(!drain_would_block(&buffer));
        let (messages, _) = drain_messages(&mut buffer);
        let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
        assert_eq!(payloads, vec![&b"{\"n\":42}"[..], &b"hi"[..]]);
        assert_eq!(messages[1].reply.as_deref(), Some("r.1"));
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_message_put_back_reads_the_same() {
        let msg = Msg {
            subject: "deliver.7".into(),
            reply: Some("$JS.ACK.STATE.c.1.42.1.1700000000.0".into()),
            payload: b"{}".to_vec(),
        };
        let mut buffer = msg.encode();
        let (messages, _) = drain_messages(&mut buffer);
        assert_eq!(messages, vec![msg]);
    }

    #[test]
    fn the_stream_seq_comes_from_either_ack_subject_form() {
        let with = |reply: &str| Msg {
            subject: "s".into(),
            reply: Some(reply.into()),
            payload: Vec::new(),
        };
        assert_eq!(
            with("$JS.ACK.STATE.c.1.42.7.1700000000.3").stream_seq(),
            Some(42)
        );
        assert_eq!(
            with("$JS.ACK.dom.acchash.STATE.c.1.42.7.1700000000.3.rnd").stream_seq(),
            Some(42)
        );
        assert_eq!(with("_INBOX.x").stream_seq(), None);
    }
}
