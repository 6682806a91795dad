//! `POST /api/v1/auth/login`: a TD's name and PIN for a token.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, PeerIp};
use crate::auth::{AuthError, Pin, Principal, TD_TOKEN_TTL, pin};
use crate::event::OperatorName;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/auth/login", post(login))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub name: String,
    pub pin: String,
}

#[derive(Debug, Serialize)]
pub struct LoginToken {
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

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
