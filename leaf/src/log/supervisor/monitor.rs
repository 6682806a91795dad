//! Talking to a running nats-server from the outside: its ports file, and its monitoring
//! answers (`HEALTHZ` for readiness, `VARZ` for what it really runs with), asked over NATS as
//! the system account. The server has no HTTP monitoring port: that one would answer any
//! local user without a password.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::config::SYS_USER;

/// The port a started server announced in `<ports_dir>/nats-server_<pid>.ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub client: u16,
}

#[derive(Deserialize)]
struct PortsFile {
    nats: Vec<String>,
}

/// Reads the ports file of the server with this pid, if it is there and complete.
pub fn read_ports(ports_dir: &Path, pid: u32) -> Option<Ports> {
    let text = std::fs::read_to_string(ports_dir.join(format!("nats-server_{pid}.ports"))).ok()?;
    parse_ports(&text)
}

fn parse_ports(text: &str) -> Option<Ports> {
    let file: PortsFile = serde_json::from_str(text).ok()?;
    let client = file
        .nats
        .iter()
        .find_map(|u| u.rsplit(':').next()?.trim_end_matches('/').parse().ok())?;
    Some(Ports { client })
}

/// Removes every ports file: a stale one from a killed server would name dead ports.
pub fn clear_ports_dir(ports_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(ports_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ports") {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// The system account's view of the server on loopback `port`.
pub struct SysClient {
    client: async_nats::Client,
    timeout: Duration,
}

impl SysClient {
    /// Signs in as the system account; fails fast if the server does not answer yet.
    pub async fn connect(port: u16, password: &str, timeout: Duration) -> Result<Self, String> {
        let options = async_nats::ConnectOptions::with_user_and_password(
            SYS_USER.to_owned(),
            password.to_owned(),
        )
        .name("leaf-supervisor")
        .connection_timeout(timeout)
        .max_reconnects(Some(1));
        let client =
            tokio::time::timeout(timeout, options.connect(format!("nats://127.0.0.1:{port}")))
                .await
                .map_err(|_| format!("connecting to port {port} timed out"))?
                .map_err(|e| format!("connect to port {port}: {e}"))?;
        Ok(Self { client, timeout })
    }

    /// The `data` of the server's answer to `$SYS.REQ.SERVER.PING.<what>`.
    async fn ask(&self, what: &str) -> Result<Bytes, String> {
        let subject = format!("$SYS.REQ.SERVER.PING.{what}");
        let reply = tokio::time::timeout(self.timeout, self.client.request(subject, Bytes::new()))
            .await
            .map_err(|_| format!("{what} timed out"))?
            .map_err(|e| format!("{what}: {e}"))?;
        #[derive(Deserialize)]
        struct Envelope {
            data: Box<serde_json::value::RawValue>,
        }
        let envelope: Envelope =
            serde_json::from_slice(&reply.payload).map_err(|e| format!("{what}: {e}"))?;
        Ok(Bytes::from(envelope.data.get().to_owned()))
    }

    /// Whether the server says it is healthy (JetStream included).
    pub async fn healthy(&self) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Healthz {
            status: String,
        }
        let body = self.ask("HEALTHZ").await?;
        let health: Healthz = serde_json::from_slice(&body).map_err(|e| format!("HEALTHZ: {e}"))?;
        match health.status.as_str() {
            "ok" => Ok(()),
            other => Err(format!("HEALTHZ says {other}")),
        }
    }

    /// Whether JetStream takes no writes until the server restarts: shut down by the
    /// server itself after a store write it could not make (`JSZ` says `disabled`), or, since
    /// 2.14, a stream that failed a write and refuses every one after it, without an answer
    /// to the publisher (`HEALTHZ` says "write error").
    pub async fn jetstream_disabled(&self) -> Result<bool, String> {
        #[derive(Deserialize)]
        struct Jsz {
            #[serde(default)]
            disabled: bool,
        }
        let body = self.ask("JSZ").await?;
        let jsz: Jsz = serde_json::from_slice(&body).map_err(|e| format!("JSZ: {e}"))?;
        if jsz.disabled {
            return Ok(true);
        }
        #[derive(Deserialize)]
        struct Problem {
            #[serde(default)]
            error: String,
        }
        #[derive(Deserialize)]
        struct Healthz {
            /// The first problem found.
            #[serde(default)]
            error: String,
            /// Every problem, when the server lists them.
            #[serde(default)]
            errors: Vec<Problem>,
        }
        let body = self.ask("HEALTHZ").await?;
        let health: Healthz = serde_json::from_slice(&body).map_err(|e| format!("HEALTHZ: {e}"))?;
        Ok(std::iter::once(health.error.as_str())
            .chain(health.errors.iter().map(|p| p.error.as_str()))
            .any(stuck_on_a_write_error))
    }

    /// The leafnode connections the server holds (the uplink is one), each by the server's
    /// id and its connection id: a new pair is a new connection, so a link lost and made
    /// again between two looks still shows, also across a restart of the server (which
    /// counts its connection ids from 1 again, under a new server id).
    pub async fn leafnode_links(&self) -> Result<Vec<(String, u64)>, String> {
        let body = self.ask("LEAFZ").await?;
        parse_leafz(&body)
    }

    /// What the server runs with.
    pub async fn server_facts(&self) -> Result<ServerFacts, String> {
        parse_varz(&self.ask("VARZ").await?)
    }

    pub async fn close(self) {
        let _ = self.client.drain().await;
    }
}

fn parse_leafz(body: &[u8]) -> Result<Vec<(String, u64)>, String> {
    #[derive(Deserialize)]
    struct Leafz {
        server_id: String,
        #[serde(default)]
        leafs: Vec<Leaf>,
    }
    #[derive(Deserialize)]
    struct Leaf {
        id: u64,
    }
    let leafz: Leafz = serde_json::from_slice(body).map_err(|e| format!("LEAFZ: {e}"))?;
    Ok(leafz
        .leafs
        .into_iter()
        .map(|leaf| (leafz.server_id.clone(), leaf.id))
        .collect())
}

/// `HEALTHZ`'s error for a stream that failed a store write: "JetStream stream '$G > STATE'
/// write error: write …/1.blk: no space left on device".
fn stuck_on_a_write_error(error: &str) -> bool {
    error.starts_with("JetStream stream ") && error.contains(" write error")
}

/// The parts of `VARZ` leaf reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    pub version: String,
    /// `always` when the server fsyncs every write, else the interval it runs with.
    pub sync_interval: String,
}

fn parse_varz(body: &[u8]) -> Result<ServerFacts, String> {
    #[derive(Deserialize)]
    struct Varz {
        version: String,
        jetstream: Option<Js>,
    }
    #[derive(Deserialize)]
    struct Js {
        config: Option<JsConfig>,
    }
    #[derive(Deserialize)]
    struct JsConfig {
        #[serde(default)]
        sync_always: bool,
        /// Nanoseconds.
        #[serde(default)]
        sync_interval: u64,
    }
    let varz: Varz = serde_json::from_slice(body).map_err(|e| format!("VARZ: {e}"))?;
    let config = varz
        .jetstream
        .and_then(|j| j.config)
        .ok_or("VARZ shows no JetStream config: JetStream is not enabled")?;
    let sync_interval = if config.sync_always {
        "always".to_owned()
    } else {
        format!("{}s", config.sync_interval / 1_000_000_000)
    };
    Ok(ServerFacts {
        version: varz.version,
        sync_interval,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stream_stuck_on_a_write_error_is_told_from_other_trouble() {
        assert!(super::stuck_on_a_write_error(
            "JetStream stream '$G > STATE' write error: write /d/nats/jetstream/$G/streams/STATE/msgs/1.blk: no space left on device"
        ));
        assert!(!super::stuck_on_a_write_error(
            "JetStream is not current with the meta leader"
        ));
        assert!(!super::stuck_on_a_write_error(""));
    }

    #[test]
    fn leafz_gives_each_link_by_its_connection_id() {
        // As nats-server 2.14.6 answers, trimmed.
        let one = br#"{"server_id":"N","now":"2026-12-02T03:35:57Z","leafnodes":1,"leafs":[{"id":5,"name":"N2","is_spoke":true,"account":"$G","ip":"127.0.0.1","port":17422,"rtt":"542\u00b5s","in_msgs":0,"subscriptions":5}]}"#;
        assert_eq!(super::parse_leafz(one).unwrap(), [("N".to_owned(), 5)]);
        let none = br#"{"server_id":"N","now":"2026-12-02T03:35:57Z","leafnodes":0}"#;
        assert!(super::parse_leafz(none).unwrap().is_empty());
        assert!(super::parse_leafz(b"not json").is_err());
    }

    use super::*;

    #[test]
    fn ports_file_parses_only_when_complete() {
        let full = r#"{"nats":["nats://127.0.0.1:39087"]}"#;
        assert_eq!(parse_ports(full), Some(Ports { client: 39087 }));
        assert_eq!(parse_ports(&full[..20]), None);
        assert_eq!(parse_ports(r#"{"nats":[]}"#), None);
    }

    #[test]
    fn varz_reports_sync_always_as_the_server_runs_it() {
        let body = br#"{"version":"2.12.4","jetstream":{"config":{"sync_interval":120000000000,"sync_always":true}}}"#;
        assert_eq!(parse_varz(body).unwrap().sync_interval, "always");
        let body = br#"{"version":"2.12.4","jetstream":{"config":{"sync_interval":120000000000}}}"#;
        assert_eq!(parse_varz(body).unwrap().sync_interval, "120s");
        assert!(parse_varz(br#"{"version":"2.12.4"}"#).is_err());
    }
}
