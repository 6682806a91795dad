//! HTTPS and WSS end to end, with certificates from `leaf tls self-signed`: a client that
//! trusts the venue's CA signs in, appends and watches over WSS; one that does not is refused
//! at the handshake; a certificate swapped under a running leaf is served on the next
//! connection while open ones keep going; a pair leaf cannot use is refused at start and, at
//! a reload, keeps the old certificate in service with a warning.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use leaf::config::TlsFlags;
use leaf::tls::self_signed::Issued;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{TEST_TD, TestLeaf, next_json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;

/// A CA and a certificate for this box (localhost and 127.0.0.1 among its names) in `dir`.
fn issue(dir: &Path) -> Issued {
    let names = leaf::tls::names::box_names(&[]).unwrap();
    leaf::tls::self_signed::issue(dir, &names, time::OffsetDateTime::now_utc()).unwrap()
}

fn trusting(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(leaf::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS connection to `leaf` as `localhost`.
async fn handshake(
    leaf: &TestLeaf,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(leaf.addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn https(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn url(leaf: &TestLeaf, path: &str) -> String {
    format!("https://localhost:{}{path}", leaf.addr.port())
}

async fn start(dir: tempfile::TempDir, cert: &Path, key: &Path) -> TestLeaf {
    let mut config = support::config(dir.path().join("data"));
    config.tls = TlsFlags {
        tls_cert: Some(cert.to_path_buf()),
        tls_key: Some(key.to_path_buf()),
        http_redirect: Some("127.0.0.1:0".parse().unwrap()),
    };
    TestLeaf::with_config(dir, &config).await
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

async fn wss(leaf: &TestLeaf, config: Arc<rustls::ClientConfig>, query: &str) -> Wss {
    let stream = handshake(leaf, config).await.unwrap();
    let url = format!("wss://localhost:{}/ws{query}", leaf.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connected");
    ws
}

/// The next `event` on `ws`, skipping anything else.
async fn next_event(ws: &mut Wss) -> serde_json::Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] == "event" {
            return message;
        }
    }
}

async fn append(client: &reqwest::Client, leaf: &TestLeaf, token: &str, id: &str, level: u32) {
    let response = client
        .post(url(leaf, &format!("/api/v1/tournaments/{id}/events")))
        .bearer_auth(token)
        .json(&serde_json::json!({"type": "level_started", "data": {"level": level}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// `POST path` with a JSON body (and a TD's token): the JSON answer.
async fn post(
    client: &reqwest::Client,
    leaf: &TestLeaf,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut request = client.post(url(leaf, path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn health(client: &reqwest::Client, leaf: &TestLeaf) -> serde_json::Value {
    client
        .get(url(leaf, "/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_td_who_trusts_the_venue_ca_signs_in_appends_and_watches_over_wss() {
    let pki = tempfile::tempdir().unwrap();
    let issued = issue(pki.path());
    let leaf = start(tempfile::tempdir().unwrap(), &issued.cert, &issued.key).await;
    let client = https(&issued.ca_cert);

    let signed_in = post(
        &client,
        &leaf,
        "/api/v1/auth/login",
        None,
        serde_json::json!({"name": TEST_TD, "pin": "test-pin-0"}),
    )
    .await;
    let token = signed_in["token"].as_str().expect("a token").to_owned();
    let created = post(
        &client,
        &leaf,
        "/api/v1/tournaments",
        Some(&token),
        serde_json::json!({"name": "Friday turbo"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();

    let mut ws = wss(
        &leaf,
        trusting(&issued.ca_cert),
        &format!("?tournament={id}&token={token}"),
    )
    .await;
    append(&client, &leaf, &token, &id, 1).await;
    let event = next_event(&mut ws).await;
    assert_eq!(event["event"]["data"]["level"], 1, "{event}");

    // The link a TD hands to displays and phones is https:// as well.
    let link = post(
        &client,
        &leaf,
        &format!("/api/v1/tournaments/{id}/viewer-links"),
        Some(&token),
        serde_json::json!({}),
    )
    .await;
    let link_url = link["url"].as_str().unwrap();
    let expected = format!("https://localhost:{}/display/{id}?token=", leaf.addr.port());
    assert!(link_url.starts_with(&expected), "{link_url}");

    // The plain-HTTP port sends everything to HTTPS, path and query kept.
    let redirect = leaf.redirect.expect("a redirect port");
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "http://127.0.0.1:{}/display/{id}?x=1",
            redirect.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 307);
    assert_eq!(
        answer.headers()["location"].to_str().unwrap(),
        format!("https://127.0.0.1:{}/display/{id}?x=1", leaf.addr.port())
    );

    // Plain HTTP on the HTTPS port gets no answer it could mistake for leaf's.
    let plain = reqwest::get(format!(
        "http://127.0.0.1:{}/api/v1/health",
        leaf.addr.port()
    ))
    .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() == 400));

    let said = health(&client, &leaf).await;
    assert_eq!(said["subsystems"]["tls"]["state"], "ok", "{said}");
    drop(ws);
    leaf.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused_at_the_handshake() {
    let pki = tempfile::tempdir().unwrap();
    let issued = issue(pki.path());
    let stranger = tempfile::tempdir().unwrap();
    let other = issue(stranger.path());
    let leaf = start(tempfile::tempdir().unwrap(), &issued.cert, &issued.key).await;

    let refused = handshake(&leaf, trusting(&other.ca_cert)).await;
    let error = refused.expect_err("a CA it does not trust").to_string();
    assert!(
        error.contains("UnknownIssuer") || error.contains("invalid peer certificate"),
        "{error}"
    );
    let refused = https(&other.ca_cert)
        .get(url(&leaf, "/api/v1/health"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // Nothing about leaf broke for the clients that do trust it.
    assert!(handshake(&leaf, trusting(&issued.ca_cert)).await.is_ok());
    leaf.stop().await;
}

/// Replaces `dir`'s cert.pem and key.pem with `from`'s, as a renewal would: each file
/// written beside and renamed in, the key first.
fn swap_in(dir: &Path, from: &Issued) {
    for (source, name) in [(&from.key, "key.pem"), (&from.cert, "cert.pem")] {
        let temporary = dir.join(format!(".{name}.new"));
        std::fs::copy(source, &temporary).unwrap();
        std::fs::rename(&temporary, dir.join(name)).unwrap();
    }
}

#[tokio::test]
async fn a_swapped_certificate_is_served_on_the_next_connection_and_open_ones_keep_going() {
    let served = tempfile::tempdir().unwrap();
    let first = issue(served.path());
    let renewal = tempfile::tempdir().unwrap();
    let second = issue(renewal.path());
    let leaf = start(tempfile::tempdir().unwrap(), &first.cert, &first.key).await;
    let token = leaf.td_token();
    let id = leaf.tournament("Sunday main").await.to_string();

    let mut open = wss(
        &leaf,
        trusting(&first.ca_cert),
        &format!("?tournament={id}&token={token}"),
    )
    .await;
    swap_in(served.path(), &second);

    // leaf looks at the files every second; well within 10 s the next handshake has the new one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handshake(&leaf, trusting(&second.ca_cert)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        handshake(&leaf, trusting(&first.ca_cert)).await.is_err(),
        "the old certificate is still served to new connections"
    );

    // The WebSocket opened under the old certificate still gets events.
    let client = https(&second.ca_cert);
    append(&client, &leaf, &token, &id, 7).await;
    assert_eq!(next_event(&mut open).await["event"]["data"]["level"], 7);
    let said = health(&client, &leaf).await;
    // At least once: a rename landing between leaf's look at the files and its read of them
    // makes it load the same pair twice.
    assert!(
        said["subsystems"]["tls"]["reloads"].as_u64() >= Some(1),
        "{said}"
    );

    // Files leaf cannot use keep the certificate in service, with a warning once they stay so.
    std::fs::write(served.path().join("cert.pem"), b"not a certificate").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let said = health(&client, &leaf).await;
        if said["subsystems"]["tls"]["state"] == "warning" {
            assert_eq!(said["status"], "warning", "{said}");
            let message = said["subsystems"]["tls"]["message"].as_str().unwrap();
            assert!(message.contains("cert.pem"), "{message}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no warning: {said}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(handshake(&leaf, trusting(&second.ca_cert)).await.is_ok());

    // Good files again: the warning goes.
    swap_in(served.path(), &second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while health(&client, &leaf).await["subsystems"]["tls"]["state"] != "ok" {
        assert!(tokio::time::Instant::now() < deadline, "the warning stayed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(open);
    leaf.stop().await;
}

#[tokio::test]
async fn a_pair_leaf_cannot_use_stops_it_at_start_saying_why() {
    let one = tempfile::tempdir().unwrap();
    let first = issue(one.path());
    let two = tempfile::tempdir().unwrap();
    let second = issue(two.path());
    let dir = tempfile::tempdir().unwrap();
    let start = |cert: &Path, key: &Path| {
        let mut config = support::config(dir.path().join("data"));
        config.tls = TlsFlags {
            tls_cert: Some(cert.to_path_buf()),
            tls_key: Some(key.to_path_buf()),
            http_redirect: None,
        };
        config
    };

    let mismatched = leaf::app::App::start(&start(&first.cert, &second.key)).await;
    let error = format!("{:#}", mismatched.err().expect("refused"));
    assert!(error.contains("does not belong"), "{error}");

    let missing = leaf::app::App::start(&start(&one.path().join("nope.pem"), &first.key)).await;
    let error = format!("{:#}", missing.err().expect("refused"));
    assert!(error.contains("nope.pem"), "{error}");

    // A key where the certificate should be.
    let swapped = leaf::app::App::start(&start(&first.key, &first.cert)).await;
    let error = format!("{:#}", swapped.err().expect("refused"));
    assert!(error.contains("--tls-cert"), "{error}");
}
