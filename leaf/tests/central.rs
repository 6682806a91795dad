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
async fn copied(central: &Central, venue: &str, seq: u64) {
    let js = async_nats::jetstream::new(async_nats::connect(&central.url).await.unwrap());
    for _ in 0..200 {
        if let Ok(mut stream) = js.get_stream(format!("VENUE_{venue}_STATE")).await
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
    dir: tempfile::TempDir,
}

impl Reader {
    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.dir
    }
}

async fn reader(central: &Central) -> Reader {
    reader_on(central, tempfile::tempdir().unwrap()).await
}

/// A reader on the data dir of one that stopped.
async fn reader_on(central: &Central, dir: tempfile::TempDir) -> Reader {
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
        dir,
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

/// A venue's leaf linked to `central` as `id`.
async fn linked(central: &Central, id: &str) -> TestLeaf {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path().join("data"));
    config.uplink.uplink_urls = vec![central.leafnodes.clone()];
    config.uplink.venue_id = Some(id.parse().unwrap());
    config.uplink.uplink_replicas = Some(1);
    TestLeaf::with_config(dir, &config).await
}

#[tokio::test]
async fn the_central_reader_serves_each_venues_copy_to_anyone_read_only_and_live() {
    let central = central().await;
    let venue = linked(&central, "east").await;
    let west = linked(&central, "west").await;
    let t = venue.tournament("Sunday Major").await;
    let level = |n: u64| serde_json::json!({ "level": n });
    let first = venue.append(t, "clock", level(1)).await;
    let second = venue.append(t, "clock", level(2)).await;
    let elsewhere = west.tournament("West Deepstack").await;
    let west_seq = west.append(elsewhere, "clock", level(7)).await;
    copied(&central, "east", second).await;
    copied(&central, "west", west_seq).await;

    let reader = reader(&central).await;
    let east = format!("{}/venues/east", reader.base);
    // Found at start; ready once their feeds have replayed the copies.
    let mut venues = serde_json::Value::Null;
    for _ in 0..100 {
        venues = get(&format!("{}/api/v1/venues", reader.base), None).await.1;
        if venues["venues"][0]["ready"] == true && venues["venues"][1]["ready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(venues["venues"][0]["venue"], "east", "{venues}");
    assert_eq!(venues["venues"][0]["tournaments"], 1, "{venues}");
    assert_eq!(venues["venues"][1]["venue"], "west", "{venues}");
    assert_eq!(venues["venues"][1]["ready"], true, "{venues}");

    // Reads need no token, and see the venue's seqs.
    let (status, list) = get(&format!("{east}/api/v1/tournaments"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["tournaments"].as_array().unwrap().len(), 1, "{list}");
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

    // Each venue's tournaments under its own path only.
    let west_path = format!("{}/venues/west", reader.base);
    let (status, list) = get(&format!("{west_path}/api/v1/tournaments"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["tournaments"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list["tournaments"][0]["id"],
        elsewhere.to_string(),
        "{list}"
    );
    for path in [
        format!("{east}/api/v1/tournaments/{elsewhere}"),
        format!("{east}/api/v1/tournaments/{elsewhere}/events"),
    ] {
        let (status, body) = get(&path, None).await;
        assert_eq!(status, 404, "west's tournament under east: {path}: {body}");
    }

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
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "a WebSocket with a venue token")
        }
        other => panic!("a WebSocket with a venue token was not refused: {other:?}"),
    }

    // Unknown and malformed venues; neither the web app nor /metrics (the reader is not the
    // venue's box); the reader's own health.
    for (path, expected) in [
        ("/venues/north/api/v1/tournaments", 404),
        ("/venues/EAST/api/v1/tournaments", 400),
        ("/venues/east/", 404),
        ("/venues/east/display/x", 404),
        ("/venues/east/metrics", 404),
        ("/", 404),
    ] {
        let (status, body) = get(&format!("{}{path}", reader.base), None).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, body) = get(&format!("{}/api/v1/health", reader.base), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["venues"], 2, "{body}");
    // Any site's pages may read.
    let response = reqwest::Client::new()
        .get(format!("{east}/api/v1/tournaments"))
        .header("origin", "https://league.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");

    // A display: the snapshot, then each event the venue appends, live. Without a
    // tournament, the public gets a 400, never every tournament's events.
    let (mut display, _) =
        ws_connect(&format!("{}/venues/east/ws?tournament={t}", reader.ws)).await;
    let snapshot = next_json(&mut display).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["seq"], second, "{snapshot}");
    // Without a tournament: 400, not every tournament's events (and no lobby: no TD
    // announces anything there).
    match tokio_tungstenite::connect_async(format!("{}/venues/east/ws", reader.ws)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(
                response.status(),
                400,
                "a public socket without a tournament"
            )
        }
        other => panic!("a public socket without a tournament was not refused: {other:?}"),
    }
    let third = venue.append(t, "clock", level(3)).await;
    assert_eq!(next_event(&mut display).await, third);

    // A display that saw only the first event resumes after it, gap-free, then live.
    let (mut resumed, _) = ws_connect(&format!(
        "{}/venues/east/ws?tournament={t}&since={first}",
        reader.ws
    ))
    .await;
    assert_eq!(next_event(&mut resumed).await, second);
    assert_eq!(next_event(&mut resumed).await, third);
    let fourth = venue.append(t, "clock", level(4)).await;
    assert_eq!(next_event(&mut resumed).await, fourth);
    assert_eq!(next_event(&mut display).await, fourth);

    // Restarted, the reader starts from its projection and replays only what is new: a
    // display resuming further back is served from the copy itself, a page at a time.
    let reader = reader_on(&central, reader.stop().await).await;
    let mut ready = false;
    for _ in 0..100 {
        let (status, _) = get(
            &format!("{}/venues/east/api/v1/tournaments", reader.base),
            None,
        )
        .await;
        if status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the restarted reader does not serve east");
    let (mut again, _) = ws_connect(&format!(
        "{}/venues/east/ws?tournament={t}&since={first}",
        reader.ws
    ))
    .await;
    for seq in [second, third, fourth] {
        assert_eq!(next_event(&mut again).await, seq);
    }
    reader.stop().await;
    venue.stop().await;
    west.stop().await;
}
