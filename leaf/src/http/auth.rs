//! `POST /api/v1/auth/login`: a TD's name and PIN for a token.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::responses::{BadRequest, PayloadTooLarge, TooManyRequests, Unauthorized};
use super::extract::{ApiJson, PeerIp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub name: String,
    pub pin: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginToken {
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// A TD's name and PIN for a token (role `td`). Unknown names and wrong PINs get the same 401.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login", request_body = Login,
    responses(
        (status = 200, description = "signed in", body = LoginToken),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
    ))]
async fn login(
    State(state): State<AppState>,
    PeerIp(addr): PeerIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<LoginToken>, ApiError> {
    let issued = state.auth.login(&body.name, &body.pin, addr).await?;
    Ok(Json(LoginToken {
        token: issued.token,
        expires_at: issued.expires_at,
    }))
}
