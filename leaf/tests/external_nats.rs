//! `--nats-url`: leaf uses a NATS server it did not start, and brings (or refuses) existing
//! streams to its configuration without deleting anything.

mod support;

use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use leaf::app::App;
use leaf::log::StreamName;
use tokio::process::{Child, Command};

/// A standalone JetStream server on a free loopback port, killed when dropped.
struct ExternalNats {
    _child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

async fn external_nats() -> ExternalNats {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(support::nats_server())
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    for _ in 0..100 {
        if async_nats::connect(&url).await.is_ok() {
            return ExternalNats {
                _child: child,
                url,
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the external nats-server did not start");
}

fn config_for(url: &str, data: &std::path::Path) -> leaf::config::Config {
    let mut config = support::config(data.to_path_buf());
    config.nats_url = Some(url.to_owned());
    config
}

#[tokio::test]
async fn leaf_uses_an_external_server_and_starts_no_child() {
    let nats = external_nats().await;
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(&config_for(&nats.url, dir.path()))
        .await
        .unwrap();
    let health = app.state().log.health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.streams, ["AUDIT", "STATE"]);
    // leaf cannot see an external server's config, and says so rather than guessing.
    assert_eq!(health.sync_interval, None);
    assert!(
        !dir.path().join("nats").exists(),
        "a child was prepared anyway"
    );
    support::stop_unserved(app).await;
}

#[tokio::test]
async fn a_stream_with_other_subjects_is_updated_and_keeps_its_messages() {
    let nats = external_nats().await;
    let js = jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    js.create_stream(stream::Config {
        name: "AUDIT".into(),
        subjects: vec!["tournament.*.audit".into(), "legacy.audit".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("legacy.audit", "kept".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let app = App::start(&config_for(&nats.url, dir.path()))
        .await
        .unwrap();
    let config = app
        .jetstream()
        .stream_config(StreamName::Audit)
        .await
        .unwrap();
    assert_eq!(config.subjects, ["tournament.*.audit"]);
    let mut audit = js.get_stream("AUDIT").await.unwrap();
    assert_eq!(
        audit.info().await.unwrap().state.messages,
        1,
        "a message was deleted"
    );
    support::stop_unserved(app).await;
}

#[tokio::test]
async fn a_stream_jetstream_cannot_convert_fails_startup_and_is_left_alone() {
    let nats = external_nats().await;
    let js = jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    js.create_stream(stream::Config {
        name: "STATE".into(),
        subjects: vec!["tournament.*.state.*".into()],
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err = match App::start(&config_for(&nats.url, dir.path())).await {
        Ok(_) => panic!("leaf started on a memory-backed STATE stream"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("STATE") && err.contains("storage"), "{err}");
    let mut state = js.get_stream("STATE").await.unwrap();
    assert_eq!(
        state.info().await.unwrap().config.storage,
        stream::StorageType::Memory
    );
}

#[tokio::test]
async fn an_unreachable_url_fails_startup_with_the_url_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let err = match App::start(&config_for(&url, dir.path())).await {
        Ok(_) => panic!("leaf started without NATS"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&url), "{err}");
}
