//! The messages the hub itself speaks, server to client and client to server.
//!
//! Every server message is one JSON text frame with a `type`. See `docs/protocol.md` for the
//! whole protocol; the hub owns `connected`, `pong` and `error`, and the envelope of
//! broadcasts.

use serde::{Deserialize, Serialize};

use super::{ClientId, Scope};

/// Bumped when a change would break an existing client.
pub const PROTOCOL_VERSION: u32 = 1;

/// The first message on every connection.
#[derive(Debug, Serialize)]
pub struct Connected<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub protocol: u32,
    /// Changes whenever leaf restarts, so a client can tell a reconnect from a restart.
    pub server_id: &'a str,
    pub client_id: ClientId,
    pub scope: &'a Scope,
    /// Milliseconds between the server's pings; a client that hears nothing for three of them
    /// may assume the connection is dead.
    pub ping_interval_ms: u64,
    /// The state as of now. Empty until tournaments have state.
    pub snapshot: serde_json::Value,
}

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// An application-level ping, for browsers, which cannot send WebSocket pings.
    Ping,
}

/// A broadcast's envelope: `{"type", "tournament_id"?, "data"}`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tournament_id: Option<crate::event::TournamentId>,
    pub data: &'a T,
}

pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_owned()
}

pub fn error(code: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "code": code, "message": message}).to_string()
}
