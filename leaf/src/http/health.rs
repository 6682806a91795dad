//! `GET /api/v1/health`: a real check of every subsystem, 200 when all work, 503 otherwise.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::hub::HubHealth;
use crate::log::LogHealth;
use crate::store::StoreHealth;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_s: u64,
    /// Changes at every leaf start; the same value as in WebSocket `connected` messages.
    pub server_id: String,
    pub subsystems: Subsystems,
}

#[derive(Debug, Serialize)]
pub struct Subsystems {
    pub libsql: StoreHealth,
    pub nats: LogHealth,
    pub hub: HubHealth,
}

/// Every subsystem, checked for real: 200 when all work, 503 otherwise.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses(
        (status = 200, description = "every subsystem works", body = Object),
        (status = 503, description = "a subsystem is degraded", body = Object),
    ))]
async fn health(State(state): State<AppState>) -> Response {
    let (libsql, nats) = tokio::join!(state.store.health(), state.log.health());
    let hub = state.hub.health();
    let ok = libsql.ok && nats.ok && hub.ok;
    let body = Health {
        status: if ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        server_id: state.server_id.to_string(),
        subsystems: Subsystems { libsql, nats, hub },
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
