//! `POST /api/v1/auth/login`: a TD's name and PIN for a token.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, PeerIp};
use crate::auth::{AuthError, Pin, Principal, TD_TOKEN_TTL, pin};
use crate::event::OperatorName;

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
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses(
        (status = 200, body = LoginToken),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody),
        (status = 429, description = "too many attempts from this address; see Retry-After", body = super::error::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    PeerIp(addr): PeerIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<LoginToken>, ApiError> {
    if let Err(retry) = state.auth.limiter.attempt(addr) {
        return Err(AuthError::RateLimited(retry.as_secs().max(1)).into());
    }
    // Unknown names and malformed input answer exactly like a wrong PIN, after the same work.
    let name = body.name.parse::<OperatorName>().ok();
    let stored = match &name {
        Some(name) => state.store.operator_pin_hash(name).await?,
        None => None,
    };
    let pin = Pin::new(&body.pin).ok();
    let matches = tokio::task::spawn_blocking(move || {
        let hash = stored.as_deref().unwrap_or_else(|| pin::decoy_hash());
        pin.is_some_and(|pin| pin.verify(hash)) && stored.is_some()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("PIN check failed: {e}")))?;
    let Some(name) = name.filter(|_| matches) else {
        tracing::info!(addr = ?addr, "failed sign-in");
        return Err(AuthError::BadCredentials.into());
    };
    let principal = Principal::Td {
        name: name.to_string(),
    };
    let (token, expires_at) = state.auth.keys.issue(&principal, TD_TOKEN_TTL)?;
    tracing::info!(td = %name, "TD signed in");
    Ok(Json(LoginToken { token, expires_at }))
}
