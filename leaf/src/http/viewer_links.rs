//! Viewer links (TD): a read-only token for one tournament, as a join URL and a QR code, so a
//! TD can put a display or a phone on a tournament by scanning.
//!
//! - `POST /api/v1/tournaments/{id}/viewer-links` → `{"id","token","url","expires_at","qr_svg"}`
//! - `GET /api/v1/tournaments/{id}/viewer-links/{link}/qr.png` → the QR code as a PNG

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Td, tournament_id};
use crate::auth::VIEWER_TOKEN_TTL;
use crate::qr;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(revoke))
        .routes(routes!(qr_png))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// How long the link works, in hours (default 72, at most 720).
    pub ttl_hours: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub id: String,
    pub token: String,
    pub url: String,
    pub expires_at: u64,
    pub qr_svg: String,
}

/// A read-only link for one tournament, with its QR code (TD).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/viewer-links", tag = "viewer links", request_body = NewLink,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "tournament id (UUID)")),
    responses((status = 201, body = Link), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    Td(td): Td,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewLink>,
) -> Result<(StatusCode, Json<Link>), ApiError> {
    let tournament = tournament_id(&raw)?;
    if state.feed.summary(tournament).is_none() {
        return Err(ApiError::NotFound(format!("no tournament {tournament}")));
    }
    let ttl = match body.ttl_hours {
        None => VIEWER_TOKEN_TTL,
        Some(h @ 1..=720) => std::time::Duration::from_secs(h * 3600),
        Some(_) => return Err(ApiError::BadRequest("ttl_hours: 1 to 720".into())),
    };
    // The display page of the web app, on whatever address the TD reached leaf by.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        // A hostname and port, not a way to make the QR code too big to encode.
        .filter(|h| h.len() <= 260 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("leaf.local:8080");
    let link = state
        .auth
        .issue_viewer_link(tournament, ttl, host, &td)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Link {
            id: link.id,
            token: link.token,
            url: link.url,
            expires_at: link.expires_at,
            qr_svg: link.qr_svg,
        }),
    ))
}

/// Deletes a viewer link (TD); its token stops working at once.
#[utoipa::path(delete, path = "/api/v1/tournaments/{id}/viewer-links/{link}", tag = "viewer links",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "tournament id (UUID)"), ("link" = String, Path, description = "link id")),
    responses((status = 204, description = "revoked"), (status = 404, body = super::error::ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    Td(td): Td,
    Path((raw, link)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tournament = tournament_id(&raw)?;
    if !state
        .auth
        .revoke_viewer_link(tournament, &link, &td)
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "no viewer link {link:.40} for tournament {tournament}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The QR code of a viewer link as a PNG (TD).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/viewer-links/{link}/qr.png", tag = "viewer links",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "tournament id (UUID)"), ("link" = String, Path, description = "link id")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = super::error::ErrorBody)))]
async fn qr_png(
    State(state): State<AppState>,
    Td(_): Td,
    Path((raw, link)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tournament = tournament_id(&raw)?;
    let found = state
        .auth
        .viewer_link(tournament, &link)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no viewer link {link:.40} for tournament {tournament}"
            ))
        })?;
    let png = qr::png(&found.url).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
