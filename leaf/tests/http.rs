//! The HTTP surface of a real, in-process leaf with the real nats-server and LibSQL.

mod support;

use axum::routing::get;
use leaf::log::StreamName;
use support::TestLeaf;

#[tokio::test]
async fn health_reports_every_subsystem_ok() {
    let leaf = TestLeaf::start().await;
    let response = reqwest::get(leaf.url("/api/v1/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    // The disk under the test's data dir is the machine's: its figures are not the test's.
    let storage = &body["subsystems"]["storage"];
    assert_eq!(storage["ok"], true, "{storage}");
    assert_eq!(storage["limit_bytes"], 1024 * 1024 * 1024);
    assert!(
        storage["disk_free_bytes"].as_u64().unwrap() > 0,
        "{storage}"
    );
    insta::assert_json_snapshot!("health", body, {
        ".uptime_s" => "[uptime]",
        ".server_id" => "[uuid]",
        ".version" => "[version]",
        // Whichever nats-server the run was given; the pin is checked by `ci/deps.sh`.
        ".subsystems.nats.server_version" => "[version]",
        ".open_files_limit" => "[limit]",
        ".subsystems.storage.appends_left" => "[count]",
        ".subsystems.storage.disk_free_bytes" => "[bytes]",
        ".subsystems.storage.disk_total_bytes" => "[bytes]",
    });
    leaf.stop().await;
}

/// A health request as if it came from `peer` (never sent anywhere: the router is called
/// in-process with that connect info).
async fn health_from(leaf: &TestLeaf, peer: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    use tower::ServiceExt;
    let mut request = axum::http::Request::get("/api/v1/health");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    let addr = leaf::http::ClientAddr(peer.parse().unwrap());
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    let response = leaf::http::router(leaf.app_state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn health_tells_the_venue_network_only_whether_leaf_works() {
    let leaf = TestLeaf::start().await;
    let (status, phone) = health_from(&leaf, "192.0.2.7:50000", None).await;
    assert_eq!(status, 200);
    assert_eq!(phone["status"], "ok");
    assert_eq!(phone["subsystems"]["nats"], serde_json::json!({"ok": true}));
    assert_eq!(phone["subsystems"]["hub"], serde_json::json!({"ok": true}));
    for detail in ["uptime_s", "open_files_limit"] {
        assert!(phone.get(detail).is_none(), "{detail} shown: {phone}");
    }
    // A TD anywhere, and anything on the box itself, gets every detail.
    let (_, td) = health_from(&leaf, "192.0.2.7:50000", Some(&leaf.td_token())).await;
    assert!(td["subsystems"]["hub"]["clients"].is_number(), "{td}");
    let (_, local) = health_from(&leaf, "127.0.0.1:50000", None).await;
    assert!(
        local["subsystems"]["nats"]["server_version"].is_string(),
        "{local}"
    );
    assert!(
        local["open_files_limit"].as_u64().unwrap() >= 1024,
        "{local}"
    );
    leaf.stop().await;
}

#[tokio::test]
async fn both_streams_exist_with_their_subjects_and_the_server_syncs_always() {
    let leaf = TestLeaf::start().await;
    for (name, subject) in [
        (StreamName::Audit, "tournament.*.audit"),
        (StreamName::State, "tournament.*.state.*"),
    ] {
        let config = leaf.jetstream.stream_config(name).await.unwrap();
        assert_eq!(config.subjects, vec![subject.to_owned()], "{name}");
        assert_eq!(
            config.storage,
            async_nats::jetstream::stream::StorageType::File
        );
        assert_eq!(config.duplicate_window, leaf::log::DUPLICATE_WINDOW);
    }
    let health = leaf.app_state.log.health().await;
    assert_eq!(health.sync_interval.as_deref(), Some("always"));
    leaf.stop().await;
}

#[tokio::test]
async fn jetstream_keeps_the_event_log_contract() {
    let leaf = TestLeaf::start().await;
    leaf::log::contract::check_all(leaf.jetstream.as_ref())
        .await
        .unwrap();
    leaf.stop().await;
}

#[tokio::test]
async fn streams_survive_a_restart_on_the_same_data_dir() {
    let leaf = TestLeaf::start().await;
    let t = leaf::event::TournamentId::new_random();
    let subject = leaf::log::Subject::Audit(t);
    let first = leaf
        .app_state
        .log
        .publish(subject.clone(), "one".into(), Default::default())
        .await
        .unwrap();
    let dir = leaf.stop().await;

    let app = leaf::app::App::start(&support::config(dir.path().join("data")))
        .await
        .unwrap();
    let second = app
        .state()
        .log
        .publish(subject, "two".into(), Default::default())
        .await
        .unwrap();
    assert_eq!(second.seq.0, first.seq.0 + 1, "the acked event was lost");
    support::stop_unserved(app).await;
}

#[tokio::test]
async fn unknown_api_paths_get_the_json_error_shape() {
    let leaf = TestLeaf::start().await;
    for (method, path, status, code) in [
        ("GET", "/api/v1/no-such-thing", 404, "not_found"),
        ("GET", "/api", 404, "not_found"),
        ("DELETE", "/api/v2/anything/at/all", 404, "not_found"),
        ("POST", "/api/v1/health", 405, "method_not_allowed"),
    ] {
        // With a TD's token, so the role guard on mutations lets the request reach routing.
        let response = reqwest::Client::new()
            .request(method.parse().unwrap(), leaf.url(path))
            .bearer_auth(leaf.td_token())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        if status == 405 {
            assert!(
                response.headers().contains_key("allow"),
                "405 without Allow"
            );
        }
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    leaf.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_rejected_with_413_in_the_error_shape_after_authentication() {
    let leaf = TestLeaf::start().await;
    let client = reqwest::Client::new();
    let oversized = || vec![b'x'; leaf::http::middleware::BODY_LIMIT + 1];
    let post = |path: &str, token: Option<String>| {
        let request = client
            .post(leaf.url(path))
            .header("content-type", "application/json")
            .body(oversized());
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let code = |body: serde_json::Value| body["error"]["code"].as_str().map(str::to_owned);
    // Sign-in is open to anyone: its body is read, and refused for its size.
    let response = post("/api/v1/auth/login", None).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        code(response.json().await.unwrap()).as_deref(),
        Some("payload_too_large")
    );
    // Anywhere else an anonymous caller is told to sign in, whatever it sends.
    let response = post("/api/v1/tournaments", None).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        code(response.json().await.unwrap()).as_deref(),
        Some("unauthorized")
    );
    let response = post("/api/v1/tournaments", Some(leaf.td_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        code(response.json().await.unwrap()).as_deref(),
        Some("payload_too_large")
    );
    leaf.stop().await;
}

/// Query parameters an operation does not declare are 400, wherever they are sent; a
/// repeated `Idempotency-Key` is refused, not half-heard.
#[tokio::test]
async fn undeclared_query_parameters_and_repeated_keys_are_400() {
    let leaf = TestLeaf::start().await;
    let client = reqwest::Client::new();
    let t = leaf.tournament("T").await;
    let td = leaf.td_token();
    for path in [
        format!("/api/v1/tournaments/{t}?bogus=1"),
        "/api/v1/tournaments?x".to_owned(),
        format!("/api/v1/tournaments/{t}/events?since=0&bogus=1"),
        "/api/v1/health?verbose=1".to_owned(),
    ] {
        let response = client
            .get(leaf.url(&path))
            .bearer_auth(&td)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
    }
    let ok = client
        .get(leaf.url(&format!("/api/v1/tournaments/{t}/events?since=0&limit=5.0")))
        .bearer_auth(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let twice = client
        .post(leaf.url(&format!("/api/v1/tournaments/{t}/events")))
        .bearer_auth(&td)
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .json(&serde_json::json!({"type": "x", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    assert_eq!(
        leaf.app_state.feed.summary(t).unwrap().last_seq.0,
        0,
        "nothing appended"
    );
    leaf.stop().await;
}

/// Authentication comes before any look at the path, the query or the body.
#[tokio::test]
async fn anonymous_requests_are_401_whatever_they_send() {
    let leaf = TestLeaf::start().await;
    let client = reqwest::Client::new();
    let t = leaf.tournament("T").await;
    let cases = [
        ("GET", "/api/v1/tournaments/not-a-uuid".to_owned(), None),
        (
            "GET",
            format!("/api/v1/tournaments/{t}/events?limit=abc&bogus=1"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/tournaments/{t}/events"),
            Some("{not json"),
        ),
        (
            "POST",
            "/api/v1/tournaments/NOPE/events".to_owned(),
            Some(r#"{"type":"","data":1}"#),
        ),
        (
            "POST",
            "/api/v1/tournaments".to_owned(),
            Some(r#"{"name":""}"#),
        ),
        (
            "DELETE",
            format!("/api/v1/tournaments/{t}/viewer-links/zz"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/tournaments/{t}/viewer-links/zz/qr.png"),
            None,
        ),
        ("POST", "/api/v1/announcements".to_owned(), None),
        ("PUT", "/api/v1/tournaments".to_owned(), None),
    ];
    for (method, path, body) in cases {
        let mut request = client.request(method.parse().unwrap(), leaf.url(&path));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
    }
    leaf.stop().await;
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let leaf = TestLeaf::start().await;
    let client = reqwest::Client::new();
    let generated = client.get(leaf.url("/api/v1/health")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let echoed = client
        .get(leaf.url("/nowhere"))
        .header("x-request-id", "td-console-7")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "td-console-7");

    // An id is kept up to 128 characters of [A-Za-z0-9._:/+=@-]; anything else is replaced,
    // never echoed, logged or stored as it came.
    let longest = "r".repeat(leaf::http::middleware::MAX_REQUEST_ID);
    let kept = client
        .get(leaf.url("/api/v1/health"))
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], longest.as_str());
    let too_long = "r".repeat(leaf::http::middleware::MAX_REQUEST_ID + 1);
    for bad in [
        too_long.as_str(),
        "",
        "tab\there",
        "caf\u{e9}",
        "x} path=/api/v1/forged",
    ] {
        let replaced = client
            .get(leaf.url("/api/v1/health"))
            .header(
                "x-request-id",
                reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let id = replaced.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "{bad:?} came back as {id:?}");
    }
    let twice = client
        .get(leaf.url("/api/v1/health"))
        .header("x-request-id", "one")
        .header("x-request-id", "two")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.headers()["x-request-id"].len(), 36);
    leaf.stop().await;
}

#[tokio::test]
async fn the_spa_is_served_and_unknown_paths_fall_back_to_index() {
    let leaf = TestLeaf::start().await;
    let index = reqwest::get(leaf.url("/")).await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = index.headers()["etag"].clone();
    let index = index.text().await.unwrap();
    assert!(index.contains("Felt"), "{index}");

    for path in ["/display/abc", "/tournaments/abc", "/index.html"] {
        let deep = reqwest::get(leaf.url(path)).await.unwrap();
        assert_eq!(deep.status(), 200, "{path}");
        assert_eq!(deep.text().await.unwrap(), index, "{path}");
    }
    let cached = reqwest::Client::new()
        .get(leaf.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let missing_asset = reqwest::get(leaf.url("/_app/immutable/gone.js"))
        .await
        .unwrap();
    assert_eq!(missing_asset.status(), 404);
    let post = reqwest::Client::new()
        .post(leaf.url("/td"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    leaf.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let state = TestLeaf::start().await;
    let routes = leaf::http::routes(state.app_state.clone()).route(
        "/api/v1/boom",
        get(|| async {
            panic!("the dealer dropped the deck");
            #[allow(unreachable_code)]
            ""
        }),
    );
    let router = leaf::http::middleware::apply(routes, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(leaf::app::serve(listener, router, std::future::pending()));

    let boom = reqwest::get(format!("http://{addr}/api/v1/boom"))
        .await
        .unwrap();
    assert_eq!(boom.status(), 500);
    let body: serde_json::Value = boom.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert!(
        !body.to_string().contains("dealer"),
        "a 500 must not reveal internals: {body}"
    );
    for _ in 0..3 {
        let ok = reqwest::get(format!("http://{addr}/api/v1/health"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
    state.stop().await;
}

#[tokio::test]
async fn cors_is_permissive_only_in_dev_mode() {
    let leaf = TestLeaf::start().await;
    let preflight = |router: axum::Router| async move {
        use tower::ServiceExt;
        let request = axum::http::Request::builder()
            .method("OPTIONS")
            .uri("/api/v1/health")
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "GET")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        response
            .headers()
            .get("access-control-allow-origin")
            .cloned()
    };
    let mut dev_state = leaf.app_state.clone();
    dev_state.dev = true;
    assert!(preflight(leaf::http::router(dev_state)).await.is_some());
    assert!(
        preflight(leaf::http::router(leaf.app_state.clone()))
            .await
            .is_none()
    );
    leaf.stop().await;
}

#[tokio::test]
async fn the_access_layer_protects_a_route_whose_handler_forgets_to() {
    use tower::ServiceExt;
    let leaf = TestLeaf::start().await;
    let forgetful = axum::Router::new()
        .route(
            "/api/v1/forgetful/{id}",
            axum::routing::get(|| async { "read" }).post(|| async { "done" }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            leaf.app_state.clone(),
            leaf::http::access::authenticate,
        ));
    let call = |method: &str, token: Option<String>| {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri("/api/v1/forgetful/not-an-id");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(axum::body::Body::empty()).unwrap()
    };
    let status = |r: axum::response::Response| r.status().as_u16();
    for method in ["GET", "POST"] {
        assert_eq!(
            status(forgetful.clone().oneshot(call(method, None)).await.unwrap()),
            401,
            "{method} without a token"
        );
    }
    let viewer = leaf.viewer_token(leaf.tournament("T").await).await;
    assert_eq!(
        status(
            forgetful
                .clone()
                .oneshot(call("POST", Some(viewer.clone())))
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            forgetful
                .clone()
                .oneshot(call("GET", Some(viewer)))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            forgetful
                .clone()
                .oneshot(call("POST", Some(leaf.td_token())))
                .await
                .unwrap()
        ),
        200
    );
    leaf.stop().await;
}
