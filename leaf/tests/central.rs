//! The central reader against a real central server: a venue's leaf replicates through its
//! uplink to a one-node "central cluster", and a central reader serves that venue's copy,
//! read-only and without tokens, live over WebSocket with resume by seq. (Under link cuts
//! and with a cluster of three, it is in crash suite 8.)

mod support;

use std::process::Stdio;
use std::time::Duration;

use leaf::central::CentralReader;
use support::{TestLeaf, next_json, ws_connect};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// A one-node central cluster: JetStream in the domain `central`, and a leafnode port for
/// venues. Killed when dropped.
struct Central {
    _child: Child,
    url: String,
    leafnodes: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn central() -> Central {
    let dir = tempfile::tempdir().unwrap();
    let (port, leaf_port) = (free_port(), free_port());
    let conf = dir.path().join("central.conf");
    std::fs::write(
        &conf,
        format!(
            "server_name: central-1\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: {:?}, domain: central }}\nleafnodes {{ listen: 127.0.0.1:{leaf_port} }}\n",
            dir.path().join("js")
        ),
    )
    .unwrap();
    let child = Command::new(support::nats_server())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    for _ in 0..100 {
        if async_nats::connect(&url).await.is_ok() {
            return Central {
                _child: child,
                url,
                leafnodes: format!("nats-leaf://127.0.0.1:{leaf_port}"),
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the central nats-server did not start");
}

/// The venue's seq `seq` is in its central STATE copy.
async fn copied(central: &Central, seq: u64) {
    let js = async_nats::jetstream::new(async_nats::connect(&central.url).await.unwrap());
    for _ in 0..200 {
        if let Ok(mut stream) = js.get_stream("VENUE_east_STATE").await
            && stream.info().await.unwrap().state.last_sequence >= seq
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("seq {seq} did not reach the central copy within 10 s");
}

struct Reader {
    base: String,
    ws: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn reader(central: &Central) -> Reader {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path().join("data"));
    config.nats_server = None;
    config.nats_url = Some(central.url.clone());
    config.central.enabled = true;
    let reader = CentralReader::start(&config).await.unwrap();
    let addr = reader.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(reader.serve(shutdown.clone()));
    Reader {
        base: format!("http://{addr}"),
        ws: format!("ws://{addr}"),
        shutdown,
        task,
        _dir: dir,
    }
}

async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The next `event` message's seq, skipping anything else.
async fn next_event(ws: &mut support::Ws) -> u64 {
    loop {
        let m = next_json(ws).await;
        if m["type"] == "event" {
            return m["seq"].as_u64().unwrap();
        }
    }
}

#[tokio::test]
async fn the_central_reader_serves_a_venues_copy_to_anyone_read_only_and_live() {
    let central = central().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path().join("data"));
    config.uplink.uplink_urls = vec![central.leafnodes.clone()];
    config.uplink.venue_id = Some("east".parse().unwrap());
    config.uplink.uplink_replicas = Some(1);
    let venue = TestLeaf::with_config(dir, &config).await;
    let t = venue.tournament("Sunday Major").await;
    let first = venue
        .append(t, "clock", serde_json::json!({"level": 1}))
        .await;
    let second = venue
        .append(t, "clock", serde_json::json!({"level": 2}))
        .await;
    copied(&central, second).await;

    let reader = reader(&central).await;
    let east = format!("{}/venues/east", reader.base);
    // Found at start; ready once its feed has replayed the copy.
    let mut venues = serde_json::Value::Null;
    for _ in 0..100 {
        venues = get(&format!("{}/api/v1/venues", reader.base), None).await.1;
        if venues["venues"][0]["ready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(venues["venues"][0]["venue"], "east", "{venues}");
    assert_eq!(venues["venues"][0]["tournaments"], 1, "{venues}");

    // Reads need no token, and see the venue's seqs.
    let (status, list) = get(&format!("{east}/api/v1/tournaments"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["tournaments"][0]["id"], t.to_string(), "{list}");
    assert_eq!(list["tournaments"][0]["name"], "Sunday Major", "{list}");
    let (status, events) = get(&format!("{east}/api/v1/tournaments/{t}/events"), None).await;
    assert_eq!(status, 200, "{events}");
    let seqs: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [first, second], "{events}");

    // A venue's token is refused, and nothing is written here.
    let (status, body) = get(
        &format!("{east}/api/v1/tournaments"),
        Some(&venue.td_token()),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("takes no tokens"),
        "{body}"
    );
    let response = reqwest::Client::new()
        .post(format!("{east}/api/v1/tournaments/{t}/events"))
        .json(&serde_json::json!({"type": "clock", "data": {"level": 9}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = reqwest::Client::new()
        .post(format!("{east}/api/v1/auth/login"))
        .json(&serde_json::json!({"name": "test-td", "pin": "test-pin-0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "no sign-in on the central reader");
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/venues/east/ws?tournament={t}&token={}",
        reader.ws,
        venue.td_token()
    ))
    .await;
    assert!(
        refused.is_err(),
        "a WebSocket with a venue token is refused"
    );

    // Unknown and malformed venues.
    let (status, body) = get(
        &format!("{}/venues/north/api/v1/tournaments", reader.base),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(
        &format!("{}/venues/EAST/api/v1/tournaments", reader.base),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&format!("{}/api/v1/health", reader.base), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["venues"], 1, "{body}");

    // A display: the snapshot, then each event the venue appends, live.
    let (mut display, _) =
        ws_connect(&format!("{}/venues/east/ws?tournament={t}", reader.ws)).await;
    let snapshot = next_json(&mut display).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["seq"], second, "{snapshot}");
    let third = venue
        .append(t, "clock", serde_json::json!({"level": 3}))
        .await;
    assert_eq!(next_event(&mut display).await, third);

    // A display that saw only the first event resumes after it, gap-free, then live.
    let (mut resumed, _) = ws_connect(&format!(
        "{}/venues/east/ws?tournament={t}&since={first}",
        reader.ws
    ))
    .await;
    assert_eq!(next_event(&mut resumed).await, second);
    assert_eq!(next_event(&mut resumed).await, third);
    let fourth = venue
        .append(t, "clock", serde_json::json!({"level": 4}))
        .await;
    assert_eq!(next_event(&mut resumed).await, fourth);
    assert_eq!(next_event(&mut display).await, fourth);

    reader.shutdown.cancel();
    reader.task.await.unwrap().unwrap();
    venue.stop().await;
}
