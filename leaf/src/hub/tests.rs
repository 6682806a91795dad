//! The hub's registry and fan-out, driven without sockets.

use super::*;
use proptest::prelude::*;

fn hub() -> Hub {
    Hub::new("test-server".into(), ClientConfig::default())
}

fn drain(session: &mut Session) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = std::mem::take(&mut session.preamble)
        .iter()
        .map(|text| serde_json::from_str(text.as_str()).expect("the hub sends JSON"))
        .collect();
    while let Ok(text) = session.queue.try_recv() {
        out.push(serde_json::from_str(text.as_str()).expect("the hub sends JSON"));
    }
    out
}

#[test]
fn the_first_message_is_connected_with_the_clients_scope() {
    let hub = hub();
    let t = TournamentId::new_random();
    let mut session = hub.register(Scope::Tournament(t)).unwrap();
    let messages = drain(&mut session);
    assert_eq!(messages.len(), 1);
    let connected = &messages[0];
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["protocol"], protocol::PROTOCOL_VERSION);
    assert_eq!(connected["server_id"], "test-server");
    assert_eq!(connected["scope"]["kind"], "tournament");
    assert_eq!(connected["scope"]["tournament_id"], t.to_string());
    assert_eq!(connected["snapshot"], serde_json::json!({}));
}

#[test]
fn a_tournament_broadcast_reaches_its_clients_and_the_venue_but_no_other_tournament() {
    let hub = hub();
    let (a, b) = (TournamentId::new_random(), TournamentId::new_random());
    let mut on_a = hub.register(Scope::Tournament(a)).unwrap();
    let mut on_b = hub.register(Scope::Tournament(b)).unwrap();
    let mut venue = hub.register(Scope::All).unwrap();
    for s in [&mut on_a, &mut on_b, &mut venue] {
        drain(s);
    }

    let reached = hub.broadcast(
        Scope::Tournament(a),
        "clock",
        &serde_json::json!({"level": 3}),
    );

    assert_eq!(reached, 2);
    let got = drain(&mut on_a);
    assert_eq!(
        got,
        vec![serde_json::json!({"type": "clock", "tournament_id": a, "data": {"level": 3}})]
    );
    assert_eq!(drain(&mut venue), got);
    assert!(
        drain(&mut on_b).is_empty(),
        "tournament b saw tournament a's message"
    );
}

#[test]
fn an_all_scope_broadcast_reaches_everyone() {
    let hub = hub();
    let mut sessions: Vec<Session> = (0..3)
        .map(|_| {
            hub.register(Scope::Tournament(TournamentId::new_random()))
                .unwrap()
        })
        .chain([hub.register(Scope::All).unwrap()])
        .collect();
    sessions.iter_mut().for_each(|s| {
        drain(s);
    });
    assert_eq!(hub.broadcast(Scope::All, "announcement", &"break in 5"), 4);
    for s in &mut sessions {
        let got = drain(s);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "announcement");
        assert!(got[0].get("tournament_id").is_none());
    }
}

#[tokio::test]
async fn a_full_queue_drops_closes_that_client_as_slow_and_spares_the_others() {
    let hub = hub();
    let t = TournamentId::new_random();
    let stalled = hub.register(Scope::Tournament(t)).unwrap();
    let mut fast = hub.register(Scope::Tournament(t)).unwrap();
    drain(&mut fast);

    for i in 0..=queue::QUEUE_CAPACITY {
        hub.broadcast(Scope::Tournament(t), "tick", &i);
        assert_eq!(
            drain(&mut fast).len(),
            1,
            "the fast client missed message {i}"
        );
    }

    assert_eq!(stalled.closer.reason(), Some(Disconnect::Slow));
    let stats = hub.stats();
    assert_eq!(stats.slow_disconnects, 1);
    assert_eq!(stats.dropped_messages, 1);
    assert_eq!(stats.clients, 1, "the slow client is no longer registered");
    // Later broadcasts only go to the fast client.
    assert_eq!(hub.broadcast(Scope::Tournament(t), "tick", &"after"), 1);
}

#[test]
fn dropping_a_session_unregisters_it() {
    let hub = hub();
    let session = hub.register(Scope::All).unwrap();
    assert_eq!(hub.stats().clients, 1);
    drop(session);
    assert_eq!(hub.stats().clients, 0);
    assert_eq!(hub.broadcast(Scope::All, "x", &()), 0);
}

#[tokio::test]
async fn shutdown_closes_everyone_refuses_newcomers_and_is_idempotent() {
    let hub = hub();
    let session = hub.register(Scope::All).unwrap();
    let closer = session.closer.clone();
    let waiter = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown(Duration::from_secs(5)).await }
    });
    assert_eq!(closer.closed().await, Disconnect::Shutdown);
    drop(session);
    waiter.await.unwrap();
    assert!(matches!(
        hub.register(Scope::All),
        Err(HubError::ShuttingDown)
    ));
    assert!(!hub.health().ok);
    hub.shutdown(Duration::from_millis(10)).await;
}

#[test]
fn health_reports_counts_without_deadlocking() {
    let hub = hub();
    let _a = hub.register(Scope::All).unwrap();
    let health = hub.health();
    assert!(health.ok);
    assert_eq!(health.stats.clients, 1);
}

proptest! {
    /// Whatever the mix of subscriptions and broadcasts, a tournament client only ever sees
    /// its own tournament's messages and venue-wide ones, a lobby screen only venue-wide ones,
    /// and each sees all of what it should.
    #[test]
    fn no_client_ever_sees_another_tournaments_message(
        subs in prop::collection::vec(0usize..6, 1..12),
        sends in prop::collection::vec(0usize..6, 0..40),
    ) {
        let hub = hub();
        let tournaments: Vec<TournamentId> = (0..4).map(|_| TournamentId::new_random()).collect();
        // 0..4: a tournament, 4: all, 5: lobby.
        let scope_of = |i: usize| match i {
            4 => Scope::All,
            5 => Scope::Lobby,
            i => Scope::Tournament(tournaments[i]),
        };
        let mut sessions: Vec<(Scope, Session)> = subs
            .iter()
            .map(|s| (scope_of(*s), hub.register(scope_of(*s)).unwrap()))
            .collect();
        for (_, s) in &mut sessions {
            drain(s);
        }
        for (n, send) in sends.iter().enumerate() {
            hub.broadcast(scope_of(*send), "m", &n);
        }
        for (scope, session) in &mut sessions {
            let got: Vec<u64> = drain(session).iter().map(|m| m["data"].as_u64().unwrap()).collect();
            let expected: Vec<u64> = sends
                .iter()
                .enumerate()
                .filter(|(_, send)| match (scope_of(**send), *scope) {
                    (Scope::All, _) => true,
                    (Scope::Tournament(a), Scope::Tournament(b)) => a == b,
                    (Scope::Tournament(_), Scope::All) => true,
                    (Scope::Tournament(_), Scope::Lobby) => false,
                    (Scope::Lobby, target) => target == Scope::Lobby,
                })
                .map(|(n, _)| n as u64)
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn the_queue_capacity_comes_from_the_client_config() {
    let config = ClientConfig {
        queue_capacity: 2,
        ..ClientConfig::default()
    };
    let hub = Hub::new("test".into(), config);
    let t = TournamentId::new_random();
    let stalled = hub.register(Scope::Tournament(t)).unwrap();
    for i in 0..2 {
        hub.broadcast(Scope::Tournament(t), "tick", &i);
        assert_eq!(stalled.closer.reason(), None, "closed after {i} messages");
    }
    hub.broadcast(Scope::Tournament(t), "tick", &2);
    assert_eq!(stalled.closer.reason(), Some(Disconnect::Slow));
}

#[test]
fn lobby_screens_are_capped_on_their_own() {
    let hub = Hub::new(
        "test-server".into(),
        ClientConfig {
            max_lobby_clients: 2,
            ..ClientConfig::default()
        },
    );
    let first = hub.register(Scope::Lobby).unwrap();
    let _second = hub.register(Scope::Lobby).unwrap();
    assert!(matches!(
        hub.register(Scope::Lobby),
        Err(HubError::LobbyFull(2))
    ));
    let t = TournamentId::new_random();
    assert!(
        hub.register(Scope::Tournament(t)).is_ok() && hub.register(Scope::All).is_ok(),
        "screens with a token are not counted against the lobby"
    );
    drop(first);
    assert!(
        hub.register(Scope::Lobby).is_ok(),
        "a closed lobby screen frees its place"
    );
}
