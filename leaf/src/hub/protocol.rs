//! The WebSocket protocol: every message leaf sends, and the ones it accepts.
//!
//! One home for the wire format, mirroring `docs/protocol.md` and the web app's
//! `frontend/src/lib/protocol.ts`, in the same order: `connected`, `snapshot`, `event`,
//! `announcement`, then `pong` and `error`. Each message's exact text is pinned by a snapshot
//! test below, so a change to the protocol shows up in review as a change to these snapshots.
//!
//! Every server message is one JSON text frame with a `type`, serialised once and shared by
//! every client it goes to ([`Utf8Bytes`] is reference counted).

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};

use super::{ClientId, Scope};
use crate::event::{Event, Seq, TournamentId};

/// Bumped when a change would break an existing client.
pub const PROTOCOL_VERSION: u32 = 1;

/// 1. `connected`: the first message on every connection.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "connected")]
pub struct Connected<'a> {
    pub protocol: u32,
    /// Changes whenever leaf restarts, so a client can tell a reconnect from a restart.
    pub server_id: &'a str,
    pub client_id: ClientId,
    pub scope: &'a Scope,
    /// Milliseconds between the server's pings; a client that hears nothing for three of them
    /// may assume the connection is dead.
    pub ping_interval_ms: u64,
    /// Always `{}`, kept for clients written against protocol 1's first draft; a tournament's
    /// state arrives in the [`Snapshot`] that follows.
    pub snapshot: serde_json::Value,
}

/// 2. `snapshot`: a tournament's state at `seq`, the newest event of each type.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "snapshot")]
pub struct Snapshot<'a> {
    pub tournament_id: TournamentId,
    pub seq: Seq,
    pub state: &'a serde_json::Value,
}

/// 3. `event`: one event, sent only once the log has made it durable.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "event")]
pub struct EventMessage<'a> {
    pub tournament_id: TournamentId,
    pub seq: Seq,
    pub ts: &'a str,
    pub event: EventBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct EventBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub data: &'a serde_json::Value,
}

/// 4. A broadcast (`announcement` is the one leaf sends): `{"type", "tournament_id"?, "data"}`.
#[derive(Debug, Serialize)]
pub struct Broadcast<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournament_id: Option<TournamentId>,
    pub data: &'a T,
}

/// The `type` of a TD's venue-wide message.
pub const ANNOUNCEMENT: &str = "announcement";

/// The answer to a client's [`ClientMessage::Ping`].
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "pong")]
pub struct Pong {}

/// What was wrong with a client's message; the connection stays open.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "error")]
pub struct ErrorMessage<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// An application-level ping, for browsers, which cannot send WebSocket pings.
    Ping,
}

/// The `event` message of `event` in `tournament`.
pub fn event(tournament: TournamentId, event: &Event) -> Utf8Bytes {
    text(&EventMessage {
        tournament_id: tournament,
        seq: event.seq,
        ts: &event.ts,
        event: EventBody {
            kind: &event.kind,
            data: &event.data,
        },
    })
}

pub fn snapshot(tournament: TournamentId, seq: Seq, state: &serde_json::Value) -> Utf8Bytes {
    text(&Snapshot {
        tournament_id: tournament,
        seq,
        state,
    })
}

pub fn pong() -> Utf8Bytes {
    text(&Pong {})
}

pub fn error(code: &str, message: &str) -> Utf8Bytes {
    text(&ErrorMessage { code, message })
}

/// One message as a text frame.
pub fn text<T: Serialize>(message: &T) -> Utf8Bytes {
    // Serialising our own types (strings, numbers, maps with string keys) cannot fail; if it
    // ever did, the client is told rather than sent an empty frame.
    match serde_json::to_string(message) {
        Ok(text) => text.into(),
        Err(e) => {
            let message = e.to_string();
            let fallback = ErrorMessage {
                code: "internal",
                message: &message,
            };
            serde_json::to_string(&fallback).unwrap_or_default().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tournament() -> TournamentId {
        "0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11".parse().unwrap()
    }

    #[test]
    fn connected() {
        let scope = Scope::Tournament(tournament());
        let message = text(&Connected {
            protocol: PROTOCOL_VERSION,
            server_id: "6c1f9b1e-0000-4000-8000-000000000001",
            client_id: ClientId(17),
            scope: &scope,
            ping_interval_ms: 10_000,
            snapshot: serde_json::json!({}),
        });
        insta::assert_snapshot!(message.as_str(), @r#"{"type":"connected","protocol":1,"server_id":"6c1f9b1e-0000-4000-8000-000000000001","client_id":17,"scope":{"kind":"tournament","tournament_id":"0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11"},"ping_interval_ms":10000,"snapshot":{}}"#);
    }

    #[test]
    fn snapshot_message() {
        let state = serde_json::json!({"level_up": {"seq": 22, "ts": "2026-11-28T21:04:11.123Z", "data": {"n": 22}}});
        let message = snapshot(tournament(), Seq(22), &state);
        insta::assert_snapshot!(message.as_str(), @r#"{"type":"snapshot","tournament_id":"0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11","seq":22,"state":{"level_up":{"data":{"n":22},"seq":22,"ts":"2026-11-28T21:04:11.123Z"}}}"#);
    }

    #[test]
    fn event_message() {
        let e = Event {
            seq: Seq(23),
            ts: "2026-11-28T21:05:00.000Z".into(),
            kind: "level_up".into(),
            data: serde_json::json!({"n": 23}),
        };
        let message = event(tournament(), &e);
        insta::assert_snapshot!(message.as_str(), @r#"{"type":"event","tournament_id":"0b9d6f3e-5c1a-4c39-9a57-1f3f0e2c7d11","seq":23,"ts":"2026-11-28T21:05:00.000Z","event":{"type":"level_up","data":{"n":23}}}"#);
    }

    #[test]
    fn announcement() {
        let data = serde_json::json!({"text": "Dinner break in 10 minutes"});
        let message = text(&Broadcast {
            kind: ANNOUNCEMENT,
            tournament_id: None,
            data: &data,
        });
        insta::assert_snapshot!(message.as_str(), @r#"{"type":"announcement","data":{"text":"Dinner break in 10 minutes"}}"#);
    }

    #[test]
    fn pong_and_error() {
        insta::assert_snapshot!(pong().as_str(), @r#"{"type":"pong"}"#);
        let message = error("bad_request", "unknown message: unknown variant `pingg`");
        insta::assert_snapshot!(message.as_str(), @r#"{"type":"error","code":"bad_request","message":"unknown message: unknown variant `pingg`"}"#);
    }

    #[test]
    fn clients_may_send_ping_and_nothing_else() {
        assert!(matches!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        ));
        for other in [r#"{"type":"pong"}"#, r#"{}"#, "ping", r#"{"type":"PING"}"#] {
            assert!(
                serde_json::from_str::<ClientMessage>(other).is_err(),
                "{other}"
            );
        }
    }
}
