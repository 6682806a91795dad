//! Hostile clients against a real leaf and nats-server: what one viewer link, scripted, can
//! make leaf do. The issue "Hostile clients" lists nine ways a client could freeze a
//! tournament, exhaust leaf or outlive its rights; the first three are reproduced here, the
//! others where their subject lives:
//! 1. resumes from 0 in a burst: [`forty_resumes_from_zero_freeze_no_append_and_no_display`];
//!    a tail that misses an acknowledged event: `feed::watchdog` unit tests
//! 2. a replay held whole per socket: [`resumes_that_never_read_hold_a_page_each_not_a_replay`]
//! 3. a consumer per read: [`a_flood_of_reads_leaves_no_consumer_behind`]
//! 4. revocation at the socket: `tests/rights.rs`
//! 5. a re-added TD name: `tests/auth.rs`, `removing_a_td_revokes_their_tokens_at_once`
//! 6. connection limits: `tests/limits.rs`; open-files limit: `app::open_files`
//! 7. PIN guessing: `tests/auth.rs`, `guesses_at_one_account_from_many_addresses_…`,
//!    `auth::pin_checks`
//! 8. file modes: `tests/process.rs`, `sigterm_exits_zero…` (`open_to_others`), `datadir`
//! 9. `x-request-id`: `tests/http.rs`, `request_ids_are_generated_or_echoed`
//!
//! And nats-server's monitoring port, which answered any local user:
//! [`the_log_answers_nobody_else_on_the_box`].

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use support::TestLeaf;
use tokio_tungstenite::tungstenite;

/// One test at a time: the memory test reads the whole process's RSS.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A tournament of `n` events of about 48 KB: 14 MB for 300, far past the resume cache.
async fn big_tournament(leaf: &TestLeaf, n: usize) -> leaf::event::TournamentId {
    let t = leaf.tournament("Main Event").await;
    let text = "x".repeat(48_000);
    for _ in 0..n {
        leaf.append_direct(t, "note", serde_json::json!({"text": text}))
            .await;
    }
    t
}

/// What a resume got: refused at the door (with its `Retry-After`), or a socket.
enum Resume {
    Refused { status: u16, retry_after: bool },
    Open(Box<support::Ws>),
}

async fn resume(url: &str) -> Resume {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Resume::Open(Box::new(ws)),
        Err(tungstenite::Error::Http(response)) => Resume::Refused {
            status: response.status().as_u16(),
            retry_after: response.headers().contains_key("retry-after"),
        },
        Err(e) => panic!("resume failed: {e}"),
    }
}

/// Reads a socket until `last` arrived; the seqs of its events.
async fn read_replay(ws: &mut support::Ws, last: u64) -> Vec<u64> {
    let read = support::event_seqs_until(ws, last);
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the replay arrived")
}

async fn health(leaf: &TestLeaf) -> serde_json::Value {
    leaf.call("GET", "/api/v1/health", None, None).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_resumes_from_zero_freeze_no_append_and_no_display() {
    let _alone = ALONE.lock().await;
    let leaf = TestLeaf::start().await;
    let t = big_tournament(&leaf, 300).await;
    let viewer = leaf.viewer_token(t).await;
    let (mut display, _) = support::ws_connect(&leaf.ws_tournament(t)).await;
    let _snapshot = support::next_json(&mut display).await;

    // 40 phones of one table resume from 0 at once: the first 4 let in read, the rest never do.
    let url = leaf.ws_url(&format!("?tournament={t}&token={viewer}&since=0"));
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let resumes: Vec<_> = (0..40)
        .map(|_| {
            let (url, opened) = (url.clone(), opened.clone());
            tokio::spawn(async move {
                match resume(&url).await {
                    Resume::Open(mut ws)
                        if opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 4 =>
                    {
                        let seqs = read_replay(&mut ws, 300).await;
                        assert_eq!(seqs, (1..=300).collect::<Vec<_>>(), "every event once");
                        Some(true)
                    }
                    Resume::Open(ws) => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        drop(ws);
                        Some(false)
                    }
                    Resume::Refused {
                        status,
                        retry_after,
                    } => {
                        assert_eq!(status, 503, "a refused resume is told to come back");
                        assert!(retry_after, "with Retry-After");
                        None
                    }
                }
            })
        })
        .collect();

    // Meanwhile the TD goes on: every append is answered with its seq, and the display
    // gets it.
    let td = leaf.td_token();
    for n in 1..=20u64 {
        let (status, body) = leaf
            .call(
                "POST",
                &format!("/api/v1/tournaments/{t}/events"),
                Some(&td),
                Some(serde_json::json!({"type": "clock", "data": {"tick": n}})),
            )
            .await;
        assert_eq!(status, 201, "append {n} during the burst: {body}");
        assert_eq!(body["seq"], 300 + n);
    }
    let seen = tokio::time::timeout(
        Duration::from_secs(10),
        support::event_seqs_until(&mut display, 320),
    )
    .await
    .expect("the display got every append of the burst");
    assert_eq!(seen, (301..=320).collect::<Vec<_>>());

    let mut read_whole = 0;
    for resume in resumes {
        if resume.await.unwrap() == Some(true) {
            read_whole += 1;
        }
    }
    assert!(read_whole > 0, "some resumes were served, not all refused");
    let health = settled_health(&leaf).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["subsystems"]["feed"]["behind"]["state"], 0);
}

/// Health once the consumers on leaf's streams are the feed's two tails again: a tail the
/// feed reopened is gone from the server within seconds, and no read leaves one.
async fn settled_health(leaf: &TestLeaf) -> serde_json::Value {
    for _ in 0..100 {
        let health = health(leaf).await;
        if health["subsystems"]["nats"]["consumers"] == 2 {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "consumers other than the feed's tails linger: {}",
        health(leaf).await
    );
}

/// The resident memory of this process (leaf runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_that_never_read_hold_a_page_each_not_a_replay() {
    let _alone = ALONE.lock().await;
    let leaf = TestLeaf::start().await;
    let t = big_tournament(&leaf, 300).await;
    let viewer = leaf.viewer_token(t).await;
    let url = leaf.ws_url(&format!("?tournament={t}&token={viewer}&since=0"));
    let before = rss();
    // Six sockets that never read, each asking for 14 MB: held whole, that was +133–168 MiB.
    let mut sockets = Vec::new();
    for _ in 0..6 {
        // Refused while the others take the token's share of reads: come back, as a client
        // told `Retry-After` does.
        let mut tries = 0;
        loop {
            match resume(&url).await {
                Resume::Open(ws) => break sockets.push(ws),
                Resume::Refused { status, .. } if tries < 50 => {
                    assert_eq!(status, 503);
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Resume::Refused { status, .. } => panic!("refused with {status} {tries} times"),
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 40 * 1024 * 1024,
        "six stalled resumes grew leaf by {} MiB",
        grown / (1024 * 1024)
    );
    drop(sockets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_reads_leaves_no_consumer_behind() {
    let _alone = ALONE.lock().await;
    let leaf = TestLeaf::start().await;
    let t = big_tournament(&leaf, 20).await;
    let viewer = leaf.viewer_token(t).await;
    let client = reqwest::Client::new();
    let url = leaf.url(&format!(
        "/api/v1/tournaments/{t}/events?since=0&limit=1000"
    ));
    let answers: Vec<(u16, bool)> = futures_util::stream::iter(0..1000)
        .map(|_| {
            let (client, url, viewer) = (client.clone(), url.clone(), viewer.clone());
            async move {
                let response = client.get(url).bearer_auth(viewer).send().await.unwrap();
                let retry_after = response.headers().contains_key("retry-after");
                (response.status().as_u16(), retry_after)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (status, retry_after) in &answers {
        match status {
            200 => {}
            503 => assert!(retry_after, "a busy answer says when to come back"),
            other => panic!("a read answered {other}"),
        }
    }
    assert!(answers.iter().any(|(s, _)| *s == 200));
    let health = settled_health(&leaf).await;
    assert_eq!(health["subsystems"]["feed"]["reads"], 0, "{health}");

    // An idle venue keeps its tails: a while later an append still reaches a display.
    let (mut display, _) = support::ws_connect(&leaf.ws_tournament(t)).await;
    let _snapshot = support::next_json(&mut display).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let seq = leaf.append(t, "clock", serde_json::json!({})).await;
    let seen = tokio::time::timeout(
        Duration::from_secs(5),
        support::event_seqs_until(&mut display, seq),
    )
    .await
    .expect("the display got the append after an idle while");
    assert_eq!(seen, vec![seq]);
    assert_eq!(
        settled_health(&leaf).await["subsystems"]["nats"]["consumers"],
        2
    );
}

/// The nats-server child has no HTTP monitoring port (it would answer any local user), and
/// its client port answers only leaf's passwords.
#[tokio::test]
async fn the_log_answers_nobody_else_on_the_box() {
    let _alone = ALONE.lock().await;
    let leaf = TestLeaf::start().await;
    let run = leaf.dir.path().join("data").join("nats").join("run");
    let ports = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "ports"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("a ports file");
    let ports: serde_json::Value = serde_json::from_str(&ports).unwrap();
    assert!(
        ports.get("monitoring").is_none(),
        "no monitoring port: {ports}"
    );
    let config =
        std::fs::read_to_string(leaf.dir.path().join("data/nats/nats-server.conf")).unwrap();
    assert!(!config.contains("http"), "{config}");

    let client_url = ports["nats"][0].as_str().unwrap().to_owned();
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(client_url.as_str())
        .await;
    assert!(
        anonymous.is_err(),
        "a connection without leaf's password is refused"
    );
    let guessing = async_nats::ConnectOptions::with_user_and_password("sys".into(), "guess".into())
        .connection_timeout(Duration::from_secs(2))
        .connect(client_url.as_str())
        .await;
    assert!(guessing.is_err());
    let health = health(&leaf).await;
    assert_eq!(
        health["subsystems"]["nats"]["sync_interval"], "always",
        "what the server runs with is still read, over NATS: {health}"
    );
}
