//! `/metrics` after real traffic, read by a Prometheus text parser.

mod support;

use std::collections::HashMap;

use serde_json::json;
use support::{TestLeaf, next_json, ws_connect};

/// Every sample of the page: metric name with its labels sorted (`name{a="1",b="2"}`) → value.
fn parse(page: &str) -> HashMap<String, f64> {
    let lines = page.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("a page Prometheus reads");
    scrape
        .samples
        .into_iter()
        .map(|sample| {
            let mut labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            let labels: Vec<String> = labels
                .into_iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let value = match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            };
            let name = if labels.is_empty() {
                sample.metric
            } else {
                format!("{}{{{}}}", sample.metric, labels.join(","))
            };
            (name, value)
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples.get(name).unwrap_or_else(|| {
        let mut names: Vec<&String> = samples.keys().collect();
        names.sort();
        panic!("no {name} among {names:#?}")
    })
}

#[tokio::test]
async fn metrics_after_real_traffic_are_what_happened() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let (mut display, _) = ws_connect(&leaf.ws_tournament(t)).await;
    let snapshot = next_json(&mut display).await;
    assert_eq!(snapshot["type"], "snapshot");
    for level in 1..=3 {
        leaf.append(t, "clock", json!({"level": level})).await;
    }
    for _ in 1..=3 {
        assert_eq!(next_json(&mut display).await["type"], "event");
    }
    let td = leaf.td_token();
    let (status, _) = leaf
        .call(
            "GET",
            &format!("/api/v1/tournaments/{t}/events"),
            Some(&td),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = leaf
        .call(
            "POST",
            &format!("/api/v1/tournaments/{t}/events"),
            Some(&td),
            Some(json!({"type": "bad type!", "data": {}})),
        )
        .await;
    assert_eq!(status, 400);

    let response = reqwest::get(leaf.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let page = response.text().await.unwrap();
    let samples = parse(&page);

    let events = "route=\"/api/v1/tournaments/:id/events\"";
    assert_eq!(
        value(
            &samples,
            &format!("leaf_http_requests_total{{method=\"POST\",{events},status=\"201\"}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("leaf_http_requests_total{{method=\"POST\",{events},status=\"400\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("leaf_http_requests_total{{method=\"GET\",{events},status=\"200\"}}")
        ),
        1.0
    );
    assert!(
        value(
            &samples,
            &format!("leaf_http_request_duration_seconds_count{{method=\"POST\",{events}}}")
        ) >= 4.0
    );
    assert_eq!(
        value(&samples, "leaf_appends_total{outcome=\"stored\"}"),
        3.0
    );
    assert_eq!(value(&samples, "leaf_append_ack_seconds_count"), 3.0);
    assert_eq!(
        value(&samples, "leaf_append_to_last_queued_seconds_count"),
        3.0
    );
    assert_eq!(
        value(&samples, "leaf_ws_clients{scope=\"tournament\"}"),
        1.0
    );
    assert_eq!(value(&samples, "leaf_ws_clients{scope=\"venue\"}"), 0.0);
    assert_eq!(value(&samples, "leaf_ws_dropped_messages_total"), 0.0);
    assert_eq!(
        value(&samples, "leaf_feed_lag_messages{stream=\"STATE\"}"),
        0.0
    );
    assert_eq!(value(&samples, "leaf_nats_server_restarts_total"), 0.0);
    assert_eq!(
        value(&samples, "leaf_event_store_limit_bytes"),
        1024.0 * 1024.0 * 1024.0
    );
    assert!(value(&samples, "leaf_event_store_bytes") > 0.0);
    assert_eq!(value(&samples, "leaf_backup_failing"), 0.0);
    assert!(page.ends_with("# EOF\n"), "{page}");
    leaf.stop().await;
}

/// The Grafana dashboard in `docs/` asks only for names leaf serves.
#[tokio::test]
async fn the_dashboard_uses_only_metrics_leaf_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = leaf::config::Config {
        backups: leaf::config::BackupFlags {
            backup_dir: Some(dir.path().join("backups")),
            backup_every: "10s".parse().unwrap(),
            backup_keep: 1,
        },
        ..support::config(dir.path().join("data"))
    };
    let leaf = TestLeaf::with_config(dir, &config).await;
    let t = leaf.tournament("Main Event").await;
    leaf.append(t, "clock", json!({"level": 1})).await;
    let (_display, _) = ws_connect(&leaf.ws_tournament(t)).await;
    // The backup metrics appear with the first backup.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let page = loop {
        let page = reqwest::get(leaf.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("leaf_last_backup_age_seconds") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "no backup: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let served: std::collections::HashSet<String> = parse(&page)
        .keys()
        .map(|k| k.split('{').next().unwrap().to_owned())
        .collect();

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/grafana-leaf.json")).unwrap();
    let mut asked = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            asked.extend(
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("leaf_"))
                    .map(str::to_owned),
            );
        }
    }
    assert!(asked.len() >= 12, "{asked:?}");
    for name in &asked {
        // A histogram's series are its name with `_bucket`, `_count` and `_sum`.
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(
            served.contains(name) || served.contains(base),
            "the dashboard asks for {name}, which leaf does not serve"
        );
    }
    leaf.stop().await;
}
