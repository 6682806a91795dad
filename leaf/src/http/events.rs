//! `/api/v1/tournaments/{id}/events`: append (TD) and read (TD, or a viewer of it).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::responses::{
    BadRequest, Conflict, InsufficientStorage, NotFound, PayloadTooLarge,
};
use super::extract::{ApiJson, ApiQuery, Readable, ReqId, Td, TournamentPath, whole_number_text};
use crate::event::{Event, Seq, SubjectToken, TournamentId};
use crate::feed::Reader;
use crate::writer::{Actor, Appended, IdempotencyKey, InvalidIdempotencyKey, NewEvent};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, append))
}

// The body of an append: the writer's `NewEvent` before it has a key. Named `NewEvent` in
// the API document, as it always was.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEvent)]
pub struct AppendBody {
    #[serde(rename = "type")]
    pub kind: SubjectToken,
    /// A JSON object, at most 64 KiB.
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// Which events a read returns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Events after this seq (default 0: from the first).
    #[serde(default, deserialize_with = "since")]
    pub since: Option<u64>,
    pub limit: Option<PageLimit>,
}

fn since<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole_number_text(d).map(Some)
}

/// How many events a page may hold at most.
#[derive(Debug, Clone, Copy)]
pub struct PageLimit(usize);

impl<'de> Deserialize<'de> for PageLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::try_from(whole_number_text(d)?).map_err(serde::de::Error::custom)
    }
}

impl PageLimit {
    pub const DEFAULT: PageLimit = PageLimit(100);
    pub const MAX: usize = 1000;
}

impl TryFrom<u64> for PageLimit {
    type Error = String;

    fn try_from(n: u64) -> Result<Self, String> {
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or_else(|| format!("limit: 1 to {}, got {n}", Self::MAX))
    }
}

impl IntoParams for Page {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = |name: &str, schema, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            query(
                "since",
                crate::schema::integer(0, u64::MAX, "a seq"),
                "Events after this seq (default 0: from the first).",
            ),
            query(
                "limit",
                crate::schema::integer(1, PageLimit::MAX as u64, "events"),
                "At most this many events (default 100).",
            ),
        ]
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Events {
    pub events: Vec<Event>,
}

/// The optional `Idempotency-Key` header of an append, for the document.
struct KeyHeader;

impl IntoParams for KeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .schema(Some(<IdempotencyKey as utoipa::PartialSchema>::schema()))
                .build(),
        ]
    }
}

/// Appends an event (TD). Answers once JetStream has it durably; `seq` is contiguous per
/// tournament. A retry with the same `Idempotency-Key` returns the original answer.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/events", tag = "events", operation_id = "appendEvent",
    request_body = AppendBody,
    params(
        ("id" = inline(TournamentId), Path),
        KeyHeader,
    ),
    responses(
        (status = 201, description = "durable in the log", body = Appended),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 507, response = InsufficientStorage),
    ))]
async fn append(
    State(state): State<AppState>,
    Td(td): Td,
    ReqId(request_id): ReqId,
    TournamentPath(id): TournamentPath,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppendBody>,
) -> Result<(StatusCode, Json<Appended>), ApiError> {
    let key = idempotency_key(&headers)?;
    let actor = Actor {
        who: td.actor(),
        request_id,
    };
    let event = NewEvent::new(body.kind, serde_json::Value::Object(body.data)).with_key(key);
    let appended = state.writer.append(id, event, &actor).await?;
    Ok((StatusCode::CREATED, Json(appended)))
}

/// Events after `since`, in order, from the log (TD, or a viewer of this tournament): one page
/// of at most `limit`, fewer when the events are large (about 1 MiB a page). An empty page is
/// the end; page on with `since` set to the last seq received. Reads of the log by one token
/// are limited to a few at once: past that, 503 with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/events", tag = "events", operation_id = "listEvents",
    params(("id" = inline(TournamentId), Path), Page),
    responses(
        (status = 200, description = "a page of events; empty at the end", body = Events),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
async fn read(
    State(state): State<AppState>,
    Readable(id, reader): Readable,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Events>, ApiError> {
    let PageLimit(limit) = page.limit.unwrap_or(PageLimit::DEFAULT);
    let since = Seq(page.since.unwrap_or(0));
    let reader = Reader::new(reader.actor());
    let events = state.feed.read_events(&reader, id, since, limit).await?;
    Ok(Json(Events { events }))
}

/// The `Idempotency-Key` header, if given: once, and valid. Two of them are refused rather
/// than one picked: which one the client meant cannot be known, and picking wrong appends
/// twice or answers with another event. Surrounding spaces never reach leaf (HTTP drops
/// them), so ` abc ` is the key `abc`.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut given = headers.get_all("idempotency-key").iter();
    let (Some(value), None) = (given.next(), given.next()) else {
        return if headers.contains_key("idempotency-key") {
            Err(ApiError::BadRequest("Idempotency-Key: give it once".into()))
        } else {
            Ok(None)
        };
    };
    value
        .to_str()
        .ok()
        .and_then(|key| key.parse::<IdempotencyKey>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest(InvalidIdempotencyKey.to_string()))
}
