//! `POST /api/v1/announcements` (TD): a venue-wide message to every connected screen.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Td};
use crate::hub::Scope;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/announcements", post(announce))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Delivered {
    /// Screens it was queued for.
    pub clients: usize,
}

async fn announce(
    State(state): State<AppState>,
    Td(td): Td,
    ApiJson(body): ApiJson<Announcement>,
) -> Result<(StatusCode, Json<Delivered>), ApiError> {
    let clients = state.hub.broadcast(Scope::All, "announcement", &body.data);
    tracing::info!(td = %td.actor(), clients, "announcement sent");
    Ok((StatusCode::ACCEPTED, Json(Delivered { clients })))
}
