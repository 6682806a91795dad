//! `GET /ws`: upgrades to a WebSocket and hands the socket to the hub. Nothing else.
//!
//! `?tournament=<uuid>` watches one tournament; without it the client watches the venue.

use std::collections::HashMap;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::{Stream, StreamExt};

use super::AppState;
use super::error::ApiError;
use crate::event::TournamentId;
use crate::hub::client::{self, ReadError};
use crate::hub::{HubError, Scope};

pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let scope = match params.get("tournament") {
        None => Scope::All,
        Some(raw) => Scope::Tournament(
            raw.parse::<TournamentId>()
                .map_err(|e| ApiError::BadRequest(format!("tournament: {e}")))?,
        ),
    };
    let session = state.hub.register(scope).map_err(|e| match e {
        HubError::ShuttingDown => ApiError::Unavailable(e.to_string()),
    })?;
    let limit = state.hub.config().max_message_size;
    Ok(ws.max_message_size(limit).max_frame_size(limit).on_upgrade(
        move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            client::run(session, sink, read_errors(stream)).await;
        },
    ))
}

/// Names the read failures the hub acts on; the rest only need their text.
fn read_errors(
    stream: impl Stream<Item = Result<Message, axum::Error>>,
) -> impl Stream<Item = Result<Message, ReadError>> {
    stream.map(|frame| {
        frame.map_err(|e| {
            let inner = e.into_inner();
            match inner.downcast_ref::<tungstenite::Error>() {
                Some(tungstenite::Error::Capacity(_)) => ReadError::TooBig,
                _ => ReadError::Other(inner.to_string()),
            }
        })
    })
}
