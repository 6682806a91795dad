//! Open sockets end with the rights they were opened with: a deleted viewer link, a removed
//! TD, an expired token.

mod support;

use std::time::{Duration, Instant};

use support::{TestLeaf, add_td, close_code, login, stays_quiet, ws_connect};

/// A viewer link made through the API: (id, token).
async fn viewer_link(leaf: &TestLeaf, t: leaf::event::TournamentId) -> (String, String) {
    let (status, link) = leaf
        .call(
            "POST",
            &format!("/api/v1/tournaments/{t}/viewer-links"),
            Some(&leaf.td_token()),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    (
        link["id"].as_str().unwrap().to_owned(),
        link["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn deleting_a_viewer_link_closes_its_open_sockets_within_a_second() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let (revoked, revoked_token) = viewer_link(&leaf, t).await;
    let (_kept, kept_token) = viewer_link(&leaf, t).await;
    let (mut gone, _) = ws_connect(&leaf.ws_url(&format!("?token={revoked_token}"))).await;
    let (mut stays, _) = ws_connect(&leaf.ws_url(&format!("?token={kept_token}"))).await;
    for ws in [&mut gone, &mut stays] {
        assert_eq!(support::next_json(ws).await["type"], "snapshot");
    }

    let begun = Instant::now();
    let (status, _) = leaf
        .call(
            "DELETE",
            &format!("/api/v1/tournaments/{t}/viewer-links/{revoked}"),
            Some(&leaf.td_token()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(close_code(&mut gone).await, Some(4501));
    assert!(
        begun.elapsed() < Duration::from_secs(1),
        "closed after {:?}",
        begun.elapsed()
    );
    // Another link of the same tournament is untouched, and live.
    assert!(stays_quiet(&mut stays, Duration::from_millis(300)).await);
    leaf.append(t, "level", serde_json::json!({"level": 2}))
        .await;
    assert_eq!(support::next_json(&mut stays).await["type"], "event");
    // The revoked token cannot come back either.
    let refused =
        tokio_tungstenite::connect_async(leaf.ws_url(&format!("?token={revoked_token}"))).await;
    assert!(refused.is_err(), "a revoked token opened a socket");
    leaf.stop().await;
}

#[tokio::test]
async fn removing_a_td_with_leaf_td_closes_their_venue_socket() {
    let leaf = TestLeaf::start().await;
    add_td(&leaf, "carol", "482193").await;
    let token = login(&leaf, "carol", "482193").await;
    let (mut carol, connected) = ws_connect(&leaf.ws_url(&format!("?token={token}"))).await;
    assert_eq!(connected["scope"]["kind"], "all");
    let (mut other_td, _) = ws_connect(&leaf.ws_venue()).await;

    // `leaf td remove carol` is another process with its own connection to leaf.db.
    let outside = leaf::store::Store::open(&leaf.database_path())
        .await
        .unwrap();
    let begun = Instant::now();
    assert!(
        outside
            .remove_operator(&"carol".parse().unwrap())
            .await
            .unwrap()
    );
    outside.close().await;
    assert_eq!(close_code(&mut carol).await, Some(4501));
    let limit = leaf::auth::OUTSIDE_CHANGES_EVERY + Duration::from_secs(1);
    assert!(
        begun.elapsed() < limit,
        "closed after {:?}",
        begun.elapsed()
    );
    assert!(stays_quiet(&mut other_td, Duration::from_millis(300)).await);
    leaf.stop().await;
}

#[tokio::test]
async fn an_expired_token_loses_its_socket() {
    let leaf = TestLeaf::start().await;
    let t = leaf.tournament("Main Event").await;
    let (link, _) = viewer_link(&leaf, t).await;
    let viewer = leaf::auth::Principal::Viewer {
        link,
        tournament: t,
    };
    let (short, expires_at) = leaf
        .app_state
        .auth
        .keys()
        .issue(&viewer, Duration::from_secs(2))
        .unwrap();
    let (mut ws, _) = ws_connect(&leaf.ws_url(&format!("?token={short}"))).await;
    assert_eq!(close_code(&mut ws).await, Some(4502));
    let now = leaf::auth::unix_now();
    assert!(
        now >= expires_at && now <= expires_at + 1,
        "closed at {now}, the token expired at {expires_at}"
    );
    leaf.stop().await;
}
