//! One connection's lifecycle, driven through channels instead of a socket.

use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::*;
use crate::event::TournamentId;
use crate::hub::{Hub, Scope};

/// The client's end of a fake socket.
struct Peer {
    /// Frames the server sent.
    from_server: mpsc::Receiver<Message>,
    /// Frames to send to the server.
    to_server: mpsc::Sender<Result<Message, ReadError>>,
}

impl Peer {
    async fn next_text(&mut self) -> serde_json::Value {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.from_server.recv()).await {
                Ok(Some(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
                Ok(Some(Message::Ping(_))) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    async fn next_close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(60), self.from_server.recv()).await {
                Ok(Some(Message::Close(frame))) => return frame.map(|f| f.code),
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(_) => panic!("no close frame"),
            }
        }
    }
}

fn incoming(
    rx: mpsc::Receiver<Result<Message, ReadError>>,
) -> impl Stream<Item = Result<Message, ReadError>> + Unpin + Send + 'static {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }))
}

/// Connects a client with a fake socket whose outgoing buffer holds `buffer` frames.
fn connect(hub: &Hub, scope: Scope, buffer: usize) -> (Peer, tokio::task::JoinHandle<Disconnect>) {
    let session = hub.register(scope).unwrap();
    let (out_tx, from_server) = mpsc::channel(buffer);
    let (to_server, in_rx) = mpsc::channel(16);
    let task = tokio::spawn(run(session, PollSender::new(out_tx), incoming(in_rx)));
    (
        Peer {
            from_server,
            to_server,
        },
        task,
    )
}

fn hub_with(config: ClientConfig) -> Hub {
    Hub::new("test".into(), config)
}

#[tokio::test]
async fn connected_then_broadcasts_arrive_in_order() {
    let hub = hub_with(ClientConfig::default());
    let t = TournamentId::new_random();
    let (mut peer, _task) = connect(&hub, Scope::Tournament(t), 64);
    assert_eq!(peer.next_text().await["type"], "connected");
    for i in 0..10 {
        hub.broadcast(Scope::Tournament(t), "tick", &i);
    }
    for i in 0..10 {
        assert_eq!(peer.next_text().await["data"], i);
    }
}

#[tokio::test]
async fn the_client_can_ping_and_bad_frames_get_an_error_not_a_disconnect() {
    let hub = hub_with(ClientConfig::default());
    let (mut peer, task) = connect(&hub, Scope::All, 64);
    peer.next_text().await;

    peer.to_server
        .send(Ok(Message::Text(r#"{"type":"ping"}"#.into())))
        .await
        .unwrap();
    assert_eq!(peer.next_text().await["type"], "pong");

    for bad in ["not json", r#"{"type":"subscribe_everything"}"#, "{}"] {
        peer.to_server
            .send(Ok(Message::Text(bad.into())))
            .await
            .unwrap();
        let answer = peer.next_text().await;
        assert_eq!(answer["type"], "error", "{bad}");
        assert_eq!(answer["code"], "bad_request", "{bad}");
    }
    peer.to_server
        .send(Ok(Message::Binary(vec![1, 2, 3].into())))
        .await
        .unwrap();
    assert_eq!(peer.next_text().await["code"], "bad_request");
    assert!(!task.is_finished(), "bad input must not end the connection");
}

#[tokio::test]
async fn a_peer_close_ends_the_connection_and_unregisters_it() {
    let hub = hub_with(ClientConfig::default());
    let (mut peer, task) = connect(&hub, Scope::All, 64);
    peer.next_text().await;
    peer.to_server.send(Ok(Message::Close(None))).await.unwrap();
    assert_eq!(task.await.unwrap(), Disconnect::ConnectionClosed);
    assert_eq!(hub.stats().clients, 0);
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_client_with_1009() {
    let hub = hub_with(ClientConfig::default());
    let (mut bad, bad_task) = connect(&hub, Scope::All, 64);
    let (mut good, _good_task) = connect(&hub, Scope::All, 64);
    bad.next_text().await;
    good.next_text().await;

    bad.to_server.send(Err(ReadError::TooBig)).await.unwrap();
    assert_eq!(bad.next_close_code().await, Some(1009));
    assert_eq!(bad_task.await.unwrap(), Disconnect::MessageTooBig);

    hub.broadcast(Scope::All, "still", &"here");
    assert_eq!(good.next_text().await["data"], "here");
}

#[tokio::test]
async fn shutdown_flushes_queued_messages_then_closes_with_1001() {
    let hub = hub_with(ClientConfig::default());
    let (mut peer, task) = connect(&hub, Scope::All, 64);
    peer.next_text().await;
    hub.broadcast(Scope::All, "last", &1);
    hub.shutdown(Duration::from_secs(5)).await;
    assert_eq!(peer.next_text().await["type"], "last");
    assert_eq!(peer.next_close_code().await, Some(1001));
    assert_eq!(task.await.unwrap(), Disconnect::Shutdown);
}

#[tokio::test]
async fn a_stalled_client_is_closed_as_slow_without_delaying_a_fast_one() {
    let hub = hub_with(ClientConfig::default());
    let t = TournamentId::new_random();
    // The stalled peer never reads: its socket takes one frame, then every write blocks.
    let (_stalled, stalled_task) = connect(&hub, Scope::Tournament(t), 1);
    let (mut fast, _fast_task) = connect(&hub, Scope::Tournament(t), 1024);
    fast.next_text().await;

    let n = crate::hub::queue::QUEUE_CAPACITY * 2;
    for i in 0..n {
        hub.broadcast(Scope::Tournament(t), "tick", &i);
        // Read as we go: the fast client is never behind by more than one message.
        assert_eq!(fast.next_text().await["data"], i);
    }
    let reason = tokio::time::timeout(Duration::from_secs(5), stalled_task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason, Disconnect::Slow);
    assert_eq!(hub.stats().slow_disconnects, 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_declared_dead_within_thirty_seconds() {
    let config = ClientConfig::default();
    let hub = hub_with(config.clone());
    let (mut peer, task) = connect(&hub, Scope::All, 64);
    peer.next_text().await;
    let started = tokio::time::Instant::now();
    // The peer never answers a ping.
    assert_eq!(peer.next_close_code().await, Some(4010));
    assert_eq!(task.await.unwrap(), Disconnect::NoPong);
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(30), "took {took:?}");
    assert!(took > config.dead_after, "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_pings_stays_connected() {
    let hub = hub_with(ClientConfig::default());
    let (mut peer, task) = connect(&hub, Scope::All, 64);
    peer.next_text().await;
    for _ in 0..10 {
        match peer.from_server.recv().await {
            Some(Message::Ping(p)) => peer.to_server.send(Ok(Message::Pong(p))).await.unwrap(),
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    assert!(!task.is_finished());
}

/// Connects a client whose start ends with `replay`.
fn connect_replaying(
    hub: &Hub,
    scope: Scope,
    replay: crate::hub::Replay,
) -> (Peer, tokio::task::JoinHandle<Disconnect>) {
    let mut session = hub.register(scope).unwrap();
    session.replay = Some(replay);
    let (out_tx, from_server) = mpsc::channel(64);
    let (to_server, in_rx) = mpsc::channel(16);
    let task = tokio::spawn(run(session, PollSender::new(out_tx), incoming(in_rx)));
    (
        Peer {
            from_server,
            to_server,
        },
        task,
    )
}

#[tokio::test(start_paused = true)]
async fn a_replay_that_waits_still_pings_and_a_client_that_answers_stays() {
    let hub = hub_with(ClientConfig {
        ping_interval: Duration::from_secs(1),
        dead_after: Duration::from_secs(3),
        ..ClientConfig::default()
    });
    let t = TournamentId::new_random();
    // A replay whose next page takes 10 s (waiting for a place in the read budget).
    let replay = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(Utf8Bytes::from_static(r#"{"type":"event","seq":1}"#))
    })
    .boxed();
    let (mut peer, task) = connect_replaying(&hub, Scope::Tournament(t), replay);
    let mut pings = 0;
    loop {
        match peer.from_server.recv().await {
            Some(Message::Ping(_)) => {
                pings += 1;
                peer.to_server
                    .send(Ok(Message::Pong(Default::default())))
                    .await
                    .unwrap();
            }
            Some(Message::Text(t)) => {
                assert!(t.as_str().contains("connected") || t.as_str().contains("event"));
                if t.as_str().contains("event") {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 5, "pinged during the replay's wait ({pings})");
    assert!(!task.is_finished(), "and the client is still there");
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_mid_replay_does_not_flush_live_events_past_the_gap() {
    let hub = hub_with(ClientConfig::default());
    let t = TournamentId::new_random();
    let replay = futures_util::stream::pending().boxed();
    let (mut peer, task) = connect_replaying(&hub, Scope::Tournament(t), replay);
    assert_eq!(peer.next_text().await["type"], "connected");
    hub.broadcast(Scope::Tournament(t), "tick", &301);
    hub.shutdown(Duration::from_secs(1)).await;
    loop {
        match peer.from_server.recv().await {
            Some(Message::Text(t)) => panic!("sent {t} before the replay was done"),
            Some(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| f.code), Some(1001));
                break;
            }
            Some(_) => continue,
            None => panic!("no close frame"),
        }
    }
    assert_eq!(task.await.unwrap(), Disconnect::Shutdown);
}
