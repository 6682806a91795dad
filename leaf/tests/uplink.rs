//! The uplink's settings against the real nats-server, without a central cluster: the
//! server takes every kind of credentials in its config, leaf runs offline with the link
//! down, and says so. (The uplink itself, with a central cluster, is crash suite 8.)

mod support;

use std::time::Duration;

use support::TestLeaf;

async fn health(leaf: &TestLeaf) -> serde_json::Value {
    reqwest::get(leaf.url("/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_kind_of_credentials_makes_a_config_the_server_runs_and_the_venue_works_offline() {
    // The example user seed of the NATS documentation: a real one, which the server checks.
    let seed = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY".to_owned();
    let creds = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.x\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n------END USER NKEY SEED------\n";
    for (what, contents) in [
        ("user and password", "east:s3cret".to_owned()),
        ("token", "t0ken".to_owned()),
        ("nkey seed", seed),
        ("creds file", creds.to_owned()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("uplink.creds");
        std::fs::write(&file, contents).unwrap();
        let mut config = support::config(dir.path().join("data"));
        // Nothing listens there: the venue is offline from the start.
        config.uplink.uplink_urls = vec!["nats-leaf://127.0.0.1:1".into()];
        config.uplink.venue_id = Some("east".parse().unwrap());
        config.uplink.uplink_credentials = Some(file);
        let data_dir = dir.path().join("data");
        let leaf = TestLeaf::with_config(dir, &config).await;

        let t = leaf.tournament("Offline Friday").await;
        let response = reqwest::Client::new()
            .post(leaf.url(&format!("/api/v1/tournaments/{t}/events")))
            .bearer_auth(leaf.td_token())
            .json(&serde_json::json!({"type": "clock", "data": {"level": 1}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{what}");

        // The watcher looks once a second.
        let mut uplink = serde_json::Value::Null;
        for _ in 0..50 {
            uplink = health(&leaf).await["subsystems"]["uplink"].clone();
            if uplink["streams"]["STATE"]["venue_seq"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(uplink["venue_id"], "east", "{what}: {uplink}");
        assert_eq!(uplink["connected"], false, "{what}: {uplink}");
        assert_eq!(
            uplink["ok"], true,
            "{what}: offline is not a fault: {uplink}"
        );
        assert_eq!(uplink["streams"]["STATE"]["lacks"], 1, "{what}: {uplink}");

        let conf = std::fs::read_to_string(data_dir.join("nats/nats-server.conf")).unwrap();
        assert!(conf.contains("domain: \"venue-east\""), "{what}: {conf}");
        let box_name = std::fs::read_to_string(data_dir.join("nats/box-name")).unwrap();
        let box_name = box_name.split_whitespace().next().unwrap();
        assert!(
            conf.contains(&format!("server_name: \"venue-east-{box_name}\"")),
            "{what}: {conf}"
        );
        leaf.stop().await;
    }
}

#[tokio::test]
async fn a_leaf_without_an_uplink_shows_none_and_its_status_command_says_why() {
    let leaf = TestLeaf::start().await;
    assert!(
        health(&leaf).await["subsystems"].get("uplink").is_none(),
        "no uplink section without an uplink"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_leaf"))
        .arg("--data-dir")
        .arg(leaf.dir.path())
        .args(["uplink", "status"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("has no uplink"), "{text}");
    leaf.stop().await;
}
