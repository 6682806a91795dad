//! Viewer links (TD): a read-only token for one tournament, as a join URL and a QR code, so a
//! TD can put a display or a phone on a tournament by scanning.
//!
//! - `POST /api/v1/tournaments/{id}/viewer-links` → `{"id","token","url","expires_at","qr_svg"}`
//! - `GET /api/v1/tournaments/{id}/viewer-links/{link}/qr.png` → the QR code as a PNG

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::responses::{BadRequest, NotFound, PayloadTooLarge};
use super::extract::{ApiJson, LinkPath, Scheme, Td, TournamentPath, request_host, whole_number};
use crate::auth::{LinkId, VIEWER_TOKEN_TTL};
use crate::event::TournamentId;
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
    /// How long the link works (default 72 hours).
    pub ttl_hours: Option<TtlHours>,
}

/// How long a viewer link works, in hours: 1 to 720 (30 days).
#[derive(Debug, Clone, Copy)]
pub struct TtlHours(u64);

impl TtlHours {
    pub const MAX: u64 = 720;

    fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0 * 3600)
    }
}

impl<'de> Deserialize<'de> for TtlHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hours = whole_number(d)?;
        if (1..=Self::MAX).contains(&hours) {
            Ok(Self(hours))
        } else {
            Err(serde::de::Error::custom(format!(
                "1 to {}, got {hours}",
                Self::MAX
            )))
        }
    }
}

impl utoipa::PartialSchema for TtlHours {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::integer(1, Self::MAX, "Hours: 1 to 720 (30 days).")
    }
}

impl ToSchema for TtlHours {}

/// A PNG image, for the document.
struct Png;

impl utoipa::PartialSchema for Png {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("image/png")
            .into()
    }
}

impl ToSchema for Png {}

#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub id: LinkId,
    pub token: String,
    pub url: String,
    pub expires_at: u64,
    pub qr_svg: String,
}

/// A read-only link for one tournament, with its QR code (TD).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/viewer-links", tag = "viewer links",
    operation_id = "createViewerLink", request_body = NewLink,
    params(("id" = inline(TournamentId), Path)),
    responses(
        (status = 201, description = "the link, its token and QR code", body = Link),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
    ))]
async fn create(
    State(state): State<AppState>,
    Td(td): Td,
    TournamentPath(tournament): TournamentPath,
    headers: HeaderMap,
    scheme: Option<Extension<Scheme>>,
    ApiJson(body): ApiJson<NewLink>,
) -> Result<(StatusCode, Json<Link>), ApiError> {
    if state.feed.summary(tournament).is_none() {
        return Err(ApiError::NotFound(format!("no tournament {tournament}")));
    }
    let ttl = body.ttl_hours.map_or(VIEWER_TOKEN_TTL, TtlHours::duration);
    // The display page of the web app, on whatever address the TD reached leaf by.
    // A host and port, not a way to point the link elsewhere or make its QR code too big.
    let host = request_host(&headers)
        .and_then(|_| headers.get(header::HOST)?.to_str().ok())
        .unwrap_or("leaf.local:8080");
    // Served over TLS, the link is https://: a display must not be sent to plain HTTP.
    let scheme = scheme.map_or(Scheme::Http, |Extension(s)| s);
    let origin = format!("{}://{host}", scheme.as_str());
    let link = state
        .auth
        .issue_viewer_link(tournament, ttl, &origin, &td)
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
    operation_id = "revokeViewerLink",
    params(("id" = inline(TournamentId), Path), ("link" = inline(LinkId), Path)),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
async fn revoke(
    State(state): State<AppState>,
    Td(td): Td,
    LinkPath(tournament, link): LinkPath,
) -> Result<StatusCode, ApiError> {
    if !state
        .auth
        .revoke_viewer_link(tournament, link.as_str(), &td)
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "no viewer link {link} for tournament {tournament}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The QR code of a viewer link as a PNG (TD).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/viewer-links/{link}/qr.png", tag = "viewer links",
    operation_id = "getViewerLinkQr",
    params(("id" = inline(TournamentId), Path), ("link" = inline(LinkId), Path)),
    responses(
        (status = 200, description = "the QR code", content_type = "image/png", body = inline(Png)),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
async fn qr_png(
    State(state): State<AppState>,
    Td(_): Td,
    LinkPath(tournament, link): LinkPath,
) -> Result<Response, ApiError> {
    let found = state
        .auth
        .viewer_link(tournament, link.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("no viewer link {link} for tournament {tournament}"))
        })?;
    let png = qr::png(&found.url).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
