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
    let account = leaf
        .app_state
        .store
        .operator_account(&"alice".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        principal,
        leaf::auth::Principal::Td {
            name: "alice".into(),
            account,
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
    // A different name each time: only the address's own limit is in play.
    for n in 0..leaf::auth::limiter::MAX_ATTEMPTS + 1 {
        let body = format!(r#"{{"name":"guess{n}","pin":"000000"}}"#);
        statuses.push(post_login(&leaf, &body).await.0);
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

/// A sign-in from `from` (an address in 127.0.0.0/8: a client of its own to leaf).
async fn login_from(leaf: &TestLeaf, from: [u8; 4], name: &str, pin: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap()
        .post(leaf.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": name, "pin": pin}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn guesses_at_one_account_from_many_addresses_are_slowed_like_one() {
    use leaf::auth::limiter::FREE_FAILURES;
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "alice", "482193").await;
    add_td(&leaf, "bob", "591204").await;
    // 12 addresses, one guess each: only the first FREE_FAILURES reach a PIN check.
    let mut statuses = Vec::new();
    for n in 0..12u8 {
        let response = login_from(&leaf, [127, 0, 0, 10 + n], "alice", "000000").await;
        statuses.push(response.status().as_u16());
    }
    let free = FREE_FAILURES as usize;
    assert!(statuses[..free].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[free..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another account is not slowed by alice's guessers.
    let bob = login_from(&leaf, [127, 0, 0, 40], "bob", "591204").await;
    assert_eq!(bob.status(), 200);
    // Alice herself waits out the back-off, then signs in, which clears it.
    let waiting = login_from(&leaf, [127, 0, 0, 41], "alice", "482193").await;
    assert_eq!(waiting.status(), 429);
    let retry: u64 = waiting.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let signed_in = login_from(&leaf, [127, 0, 0, 41], "alice", "482193").await;
    assert_eq!(signed_in.status(), 200);
    let again = login_from(&leaf, [127, 0, 0, 42], "alice", "000000").await;
    assert_eq!(again.status(), 401, "a success starts the count over");
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
    assert_eq!(list(token.clone()).await, 401);
    // The name added again is a new account: the old token stays refused, new ones work.
    add_td(&leaf, "bob", "591204").await;
    assert_eq!(
        list(token).await,
        401,
        "a re-added name revived an old token"
    );
    let fresh = login(&leaf, "bob", "591204").await;
    assert_eq!(list(fresh).await, 200);
    leaf.stop().await;
}
