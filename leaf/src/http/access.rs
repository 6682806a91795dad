//! Who may call what, decided before any handler looks at the request.
//!
//! Every API operation needs a token except those in [`PUBLIC`]; every mutation needs a
//! Tournament Director's. [`authenticate`] runs as a route layer, so it sees only routed
//! requests and runs before the handlers' extractors: an anonymous caller is told to sign in
//! (401) whatever path, query or body it sends, and learns nothing about ids or payloads
//! first. The OpenAPI document takes each operation's security from [`is_public`] too.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::bearer;
use crate::auth::{AuthError, Principal};

/// The operations anyone may call: signing in, and health (which shows details only to the
/// box itself or a TD's token).
pub const PUBLIC: &[&str] = &["/api/v1/auth/login", "/api/v1/health"];

/// Whether the operation at `path` (its route, `{id}` and all) is open to anonymous callers.
pub fn is_public(path: &str) -> bool {
    PUBLIC.contains(&path)
}

/// Whether `method` only reads: anything else needs a TD.
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The principal [`authenticate`] verified, for the handlers' extractors.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// The route layer of the API: 401 without a valid token, 403 for a viewer's mutation,
/// otherwise the verified principal rides along in the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if route.as_deref().is_some_and(is_public) {
        return next.run(request).await;
    }
    let verdict = match bearer(request.headers()) {
        None => Err(ApiError::from(AuthError::Missing)),
        Some(token) => state.auth.authorize(token).await.map_err(ApiError::from),
    };
    let principal = match verdict {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if !is_read(request.method()) && !principal.is_td() {
        return ApiError::Forbidden(
            "this needs a Tournament Director's token; viewer tokens are read-only".into(),
        )
        .into_response();
    }
    request.extensions_mut().insert(Authenticated(principal));
    next.run(request).await
}
