//! Signing in and tokens, against a real leaf.

mod support;

use support::{TestLeaf, add_td, login};

async fn post_login(leaf: &TestLeaf, body: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(leaf.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_td_signs_in_and_the_token_names_them() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "alice", "482193").await;
    let token = login(&leaf, "alice", "482193").await;
    let principal = leaf.app_state.auth.keys().verify(&token).unwrap();
    assert_eq!(
        principal,
        leaf::auth::Principal::Td {
            name: "alice".into()
        }
    );
    leaf.stop().await;
}

#[tokio::test]
async fn unknown_names_and_wrong_pins_get_the_same_401() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "alice", "482193").await;
    let (wrong_status, wrong) = post_login(&leaf, r#"{"name":"alice","pin":"000000"}"#).await;
    let (unknown_status, unknown) = post_login(&leaf, r#"{"name":"nobody","pin":"482193"}"#).await;
    let (short_status, short) = post_login(&leaf, r#"{"name":"alice","pin":"1"}"#).await;
    assert_eq!(
        (wrong_status, unknown_status, short_status),
        (401, 401, 401)
    );
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, short);
    assert_eq!(wrong["error"]["code"], "unauthorized");
    leaf.stop().await;
}

#[tokio::test]
async fn malformed_login_bodies_are_400_in_the_error_shape() {
    let leaf = TestLeaf::start().await;
    for body in [
        r#"{"name":"alice""#,
        r#"{"name":"alice"}"#,
        r#"{"name":1,"pin":"482193"}"#,
        r#"[]"#,
        r#"{"name":"alice","pin":"482193","role":"admin"}"#,
    ] {
        let (status, json) = post_login(&leaf, body).await;
        assert_eq!(status, 400, "{body}: {json}");
        assert_eq!(json["error"]["code"], "bad_request", "{body}");
    }
    leaf.stop().await;
}

#[tokio::test]
async fn repeated_attempts_from_one_address_are_rate_limited() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "alice", "482193").await;
    let mut statuses = Vec::new();
    for _ in 0..leaf::auth::limiter::MAX_ATTEMPTS + 1 {
        statuses.push(
            post_login(&leaf, r#"{"name":"alice","pin":"000000"}"#)
                .await
                .0,
        );
    }
    assert!(
        statuses[..leaf::auth::limiter::MAX_ATTEMPTS]
            .iter()
            .all(|s| *s == 401),
        "{statuses:?}"
    );
    let response = reqwest::Client::new()
        .post(leaf.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": "alice", "pin": "482193"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        429,
        "even the right PIN waits out the limit"
    );
    assert!(response.headers().contains_key("retry-after"));
    leaf.stop().await;
}

#[tokio::test]
async fn removing_a_td_revokes_their_tokens_at_once() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "bob", "482193").await;
    let token = login(&leaf, "bob", "482193").await;
    let list = |token: String| {
        let url = leaf.url("/api/v1/tournaments");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(list(token.clone()).await, 200);
    assert!(
        leaf.app_state
            .store
            .remove_operator(&"bob".parse().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(list(token).await, 401);
    leaf.stop().await;
}
