//! `/api/v1/tournaments`: create (TD), list (TD), read one (TD, or a viewer of it).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::responses::{BadRequest, InsufficientStorage, NotFound, PayloadTooLarge};
use super::extract::{ApiJson, Readable, ReadsAll, ReqId, Td};
use crate::event::{TournamentId, TournamentName, TournamentSummary};
use crate::writer::Actor;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTournament {
    pub name: TournamentName,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TournamentList {
    pub tournaments: Vec<TournamentSummary>,
}

/// Creates a tournament (TD). Recorded in the log first.
#[utoipa::path(post, path = "/api/v1/tournaments", tag = "tournaments", operation_id = "createTournament",
    request_body = NewTournament,
    responses(
        (status = 201, description = "created", body = TournamentSummary),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 507, response = InsufficientStorage),
    ))]
async fn create(
    State(state): State<AppState>,
    Td(td): Td,
    ReqId(request_id): ReqId,
    ApiJson(body): ApiJson<NewTournament>,
) -> Result<(StatusCode, Json<TournamentSummary>), ApiError> {
    let actor = Actor {
        who: td.actor(),
        request_id,
    };
    let created = state.writer.create(body.name, &actor).await?;
    tracing::info!(tournament = %created.id, name = %created.name, "tournament created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every tournament (TD; anyone on the central reader).
#[utoipa::path(get, path = "/api/v1/tournaments", tag = "tournaments", operation_id = "listTournaments",
    responses((status = 200, description = "every tournament, oldest first", body = TournamentList)))]
async fn list(State(state): State<AppState>, _: ReadsAll) -> Json<TournamentList> {
    Json(TournamentList {
        tournaments: state.feed.list(),
    })
}

/// One tournament with its current `last_seq` (TD, or a viewer of this tournament).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}", tag = "tournaments", operation_id = "getTournament",
    params(("id" = inline(TournamentId), Path)),
    responses(
        (status = 200, description = "the tournament", body = TournamentSummary),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
async fn read(
    State(state): State<AppState>,
    Readable(id, _): Readable,
) -> Result<Json<TournamentSummary>, ApiError> {
    state
        .feed
        .summary(id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tournament {id}")))
}
