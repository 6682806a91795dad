//! `/api/v1/tournaments`: create (TD), list (TD), read one (TD, or a viewer of it).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller, ReqId, Td, tournament_id};
use crate::feed::state::TournamentInfo;
use crate::tournaments::{Actor, TournamentError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tournaments", get(list).post(create))
        .route("/api/v1/tournaments/{id}", get(read))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTournament {
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct TournamentList {
    pub tournaments: Vec<TournamentInfo>,
}

async fn create(
    State(state): State<AppState>,
    Td(td): Td,
    ReqId(request_id): ReqId,
    ApiJson(body): ApiJson<NewTournament>,
) -> Result<(StatusCode, Json<TournamentInfo>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "name: 1 to 200 characters, no control characters".into(),
        ));
    }
    let actor = Actor {
        who: td.actor(),
        request_id,
    };
    let info = state.tournaments.create(name.to_owned(), &actor).await?;
    tracing::info!(tournament = %info.id, name = %info.name, "tournament created");
    Ok((StatusCode::CREATED, Json(info)))
}

async fn list(State(state): State<AppState>, Td(_): Td) -> Json<TournamentList> {
    Json(TournamentList {
        tournaments: state.tournaments.feed().list(),
    })
}

async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(raw): Path<String>,
) -> Result<Json<TournamentInfo>, ApiError> {
    let id = tournament_id(&raw)?;
    if !caller.may_read(id) {
        return Err(ApiError::Forbidden(
            "this token is for another tournament".into(),
        ));
    }
    state
        .tournaments
        .feed()
        .info(id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tournament {id}")))
}

impl From<TournamentError> for ApiError {
    fn from(e: TournamentError) -> Self {
        match e {
            TournamentError::NotFound(_) => ApiError::NotFound(e.to_string()),
            TournamentError::Conflict(_) => ApiError::Conflict(e.to_string()),
            TournamentError::TooLarge(_) => ApiError::PayloadTooLarge(e.to_string()),
            TournamentError::Log(log) => log.into(),
        }
    }
}

impl From<crate::log::LogError> for ApiError {
    fn from(e: crate::log::LogError) -> Self {
        use crate::log::LogError;
        match e {
            LogError::Unavailable(_) | LogError::TimedOut => ApiError::Unavailable(format!(
                "the event log is not available right now ({e}); retry, with the same Idempotency-Key"
            )),
            LogError::TooLarge(_) => ApiError::PayloadTooLarge(e.to_string()),
            LogError::Conflict { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
