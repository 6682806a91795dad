//! `/api/v1/tournaments/{id}/events`: append (TD) and read (TD, or a viewer of it).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Readable, ReqId, Td, tournament_id};
use crate::event::{Event, Seq, SubjectToken};
use crate::feed::Reader;
use crate::writer::{Actor, Appended, NewEvent};

/// Events per page when the client does not say, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 64;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, append))
}

// The body of an append: the writer's `NewEvent` before its type is checked. Named `NewEvent`
// in the API document, as it always was.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEvent)]
pub struct AppendBody {
    /// One subject token: `[a-z0-9_-]{1,64}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A JSON object, at most 64 KiB.
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Events after this seq (default 0: from the first).
    pub since: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Events {
    pub events: Vec<Event>,
}

/// Appends an event (TD). Answers once JetStream has it durably; `seq` is contiguous per
/// tournament. A retry with the same `Idempotency-Key` returns the original answer.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/events", tag = "events", request_body = AppendBody,
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "tournament id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 64 visible ASCII characters"),
    ),
    responses(
        (status = 201, body = Appended),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody),
        (status = 413, body = super::error::ErrorBody),
        (status = 503, body = super::error::ErrorBody),
    ))]
async fn append(
    State(state): State<AppState>,
    Td(td): Td,
    ReqId(request_id): ReqId,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppendBody>,
) -> Result<(StatusCode, Json<Appended>), ApiError> {
    let id = tournament_id(&raw)?;
    let kind: SubjectToken = body
        .kind
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("type: {e}")))?;
    let key = idempotency_key(&headers)?;
    let actor = Actor {
        who: td.actor(),
        request_id,
    };
    let event = NewEvent::new(kind, serde_json::Value::Object(body.data)).with_key(key);
    let appended = state.writer.append(id, event, &actor).await?;
    Ok((StatusCode::CREATED, Json(appended)))
}

/// Events after `since`, in order, from the log (TD, or a viewer of this tournament): one page
/// of at most `limit`, fewer when the events are large (about 1 MiB a page). An empty page is
/// the end; page on with `since` set to the last seq received. Reads of the log by one token
/// are limited to a few at once: past that, 503 with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/events", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path, description = "tournament id (UUID)"), Page),
    responses(
        (status = 200, body = Events),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 503, body = super::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait"))),
    ))]
async fn read(
    State(state): State<AppState>,
    Readable(id, reader): Readable,
    Query(page): Query<Page>,
) -> Result<Json<Events>, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let since = Seq(page.since.unwrap_or(0));
    let reader = Reader::new(reader.actor());
    let events = state.feed.read_events(&reader, id, since, limit).await?;
    Ok(Json(Events { events }))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key: 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}
