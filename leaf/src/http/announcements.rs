//! `POST /api/v1/announcements` (TD): a venue-wide message to every connected screen.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::responses::{BadRequest, PayloadTooLarge};
use super::extract::{ApiJson, Td};
use crate::hub::{Scope, protocol};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(announce))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivered {
    /// Screens it was queued for.
    pub clients: usize,
}

/// A venue-wide message to every connected screen (TD).
#[utoipa::path(post, path = "/api/v1/announcements", tag = "announcements", operation_id = "announce",
    request_body = Announcement,
    responses(
        (status = 202, description = "queued for every connected screen", body = Delivered),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    ))]
async fn announce(
    State(state): State<AppState>,
    Td(td): Td,
    ApiJson(body): ApiJson<Announcement>,
) -> Result<(StatusCode, Json<Delivered>), ApiError> {
    let clients = state
        .hub
        .broadcast(Scope::All, protocol::ANNOUNCEMENT, &body.data);
    tracing::info!(td = %td.actor(), clients, "announcement sent");
    Ok((StatusCode::ACCEPTED, Json(Delivered { clients })))
}
