//! Talking to a running nats-server from the outside: its ports file and its HTTP monitoring
//! endpoint (`/healthz` for readiness, `/varz` for what it really runs with).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// The ports a started server announced in `<ports_dir>/nats-server_<pid>.ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub client: u16,
    pub monitor: u16,
}

#[derive(Deserialize)]
struct PortsFile {
    nats: Vec<String>,
    monitoring: Vec<String>,
}

/// Reads the ports file of the server with this pid, if it is there and complete.
pub fn read_ports(ports_dir: &Path, pid: u32) -> Option<Ports> {
    let text = std::fs::read_to_string(ports_dir.join(format!("nats-server_{pid}.ports"))).ok()?;
    parse_ports(&text)
}

fn parse_ports(text: &str) -> Option<Ports> {
    let file: PortsFile = serde_json::from_str(text).ok()?;
    let port_of = |urls: &[String]| -> Option<u16> {
        urls.iter()
            .find_map(|u| u.rsplit(':').next()?.trim_end_matches('/').parse().ok())
    };
    Some(Ports {
        client: port_of(&file.nats)?,
        monitor: port_of(&file.monitoring)?,
    })
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

/// GET `path` on the loopback monitoring port; the status and body, or a short reason.
pub async fn get(port: u16, path: &str, timeout: Duration) -> Result<(u16, Bytes), String> {
    tokio::time::timeout(timeout, get_inner(port, path))
        .await
        .map_err(|_| format!("GET {path} timed out"))?
}

async fn get_inner(port: u16, path: &str) -> Result<(u16, Bytes), String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to monitoring port {port}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let request = Request::get(path)
        .header("host", format!("127.0.0.1:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    conn.abort();
    Ok((status, body))
}

/// The parts of `/varz` leaf reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    pub version: String,
    /// `always` when the server fsyncs every write, else the interval it runs with.
    pub sync_interval: String,
}

pub async fn server_facts(monitor_port: u16) -> Result<ServerFacts, String> {
    let (status, body) = get(monitor_port, "/varz", Duration::from_secs(2)).await?;
    if status != 200 {
        return Err(format!("/varz answered {status}"));
    }
    parse_varz(&body)
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
    let varz: Varz = serde_json::from_slice(body).map_err(|e| format!("/varz: {e}"))?;
    let config = varz
        .jetstream
        .and_then(|j| j.config)
        .ok_or("/varz shows no JetStream config: JetStream is not enabled")?;
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
    use super::*;

    #[test]
    fn ports_file_parses_only_when_complete() {
        let full = r#"{"nats":["nats://127.0.0.1:39087"],"monitoring":["http://127.0.0.1:37047"]}"#;
        assert_eq!(
            parse_ports(full),
            Some(Ports {
                client: 39087,
                monitor: 37047
            })
        );
        assert_eq!(parse_ports(&full[..30]), None);
        assert_eq!(parse_ports(r#"{"nats":[],"monitoring":[]}"#), None);
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
