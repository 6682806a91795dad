//! leaf's own extractors, so that every malformed request fails in the API's JSON error shape.
//!
//! - [`ApiJson`]: a JSON body; syntax, type and size problems are 400, 413 or 415.
//! - [`Caller`]: the verified principal from `Authorization: Bearer <token>`; 401 otherwise.
//! - [`Td`]: a caller who must be a Tournament Director; 403 for a viewer.
//! - [`ClientAddr`], [`PeerIp`]: the peer address the connection came from.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::serve::{IncomingStream, Listener};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::{AuthError, Principal};

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(text),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::BadRequest("send the body as JSON with content-type: application/json".into())
        }
        _ => ApiError::BadRequest(text),
    }
}

/// Whoever a valid token speaks for.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        Ok(Self(state.auth.keys.verify(token)?))
    }
}

/// A caller who is a Tournament Director.
pub struct Td(pub Principal);

impl FromRequestParts<AppState> for Td {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !principal.is_td() {
            return Err(ApiError::Forbidden(
                "this needs a Tournament Director's token; viewer tokens are read-only".into(),
            ));
        }
        Ok(Self(principal))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The address a connection came from, for any [`PeerListener`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A listener whose connections come from socket addresses. Implemented for TCP here and
/// for the simulated listener in leaf-sim, so both serve the router with [`ClientAddr`].
pub trait PeerListener: Listener<Addr = SocketAddr> {}

impl PeerListener for tokio::net::TcpListener {}

impl<L: PeerListener> axum::extract::connect_info::Connected<IncomingStream<'_, L>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, L>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The peer's IP address, when the router was served with [`ClientAddr`] connect info
/// (`oneshot` tests are not).
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<ClientAddr>>()
                .map(|info| info.0.0.ip()),
        ))
    }
}
