//! Who may call what, decided before any handler looks at the request.
//!
//! Every API operation needs a token except those in [`PUBLIC`]; every mutation needs a
//! Tournament Director's. [`authenticate`] runs as a route layer, so it sees only routed
//! requests and runs before the handlers' extractors: an anonymous caller is told to sign in
//! (401) whatever path, query or body it sends, and learns nothing about ids or payloads
//! first. The OpenAPI document takes each operation's security from [`is_public`] too.
//!
//! The central reader ([`Access::PublicRead`]) turns this around: anyone reads, nobody
//! writes, and a token is refused rather than checked, since no venue's token was signed by
//! it (see [`crate::central`]).

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::bearer;
use crate::auth::{AuthError, Principal};

/// Who may read without a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// A venue's leaf: every operation needs a token but sign-in and health, every mutation
    /// a TD's.
    #[default]
    Tokens,
    /// A venue's copy on the central reader: every read is open to anyone as
    /// [`Principal::Public`], every mutation and every token is refused.
    PublicRead,
}

/// Why the central reader refuses a token: it was made by a venue's leaf for that leaf.
pub const NO_TOKENS_HERE: &str = "the central reader takes no tokens (a venue's tokens are valid only at the venue): read without one";

impl Access {
    /// What a caller is, when reads are open to anyone: refuses a mutation (403) and a token
    /// (401). `None` when reads need a token.
    pub fn public_reader(
        self,
        method: &Method,
        token: Option<&str>,
        from: Option<std::net::IpAddr>,
    ) -> Option<Result<Principal, ApiError>> {
        match self {
            Access::Tokens => None,
            Access::PublicRead if !is_read(method) => Some(Err(ApiError::Forbidden(
                "the central reader is read-only: a venue's TDs act at the venue".into(),
            ))),
            Access::PublicRead if token.is_some() => {
                Some(Err(ApiError::Unauthorized(NO_TOKENS_HERE.into())))
            }
            Access::PublicRead => Some(Ok(Principal::Public { from })),
        }
    }
}

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
    let from = request
        .extensions()
        .get::<axum::extract::ConnectInfo<super::ClientAddr>>()
        .map(|info| info.0.0.ip());
    if let Some(verdict) =
        state
            .access
            .public_reader(request.method(), bearer(request.headers()), from)
    {
        return match verdict {
            Ok(principal) => {
                request.extensions_mut().insert(Authenticated(principal));
                next.run(request).await
            }
            Err(e) => e.into_response(),
        };
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_central_reader_reads_for_anyone_and_refuses_tokens_and_writes() {
        let from = Some(std::net::IpAddr::from([192, 0, 2, 7]));
        assert!(
            Access::Tokens
                .public_reader(&Method::GET, None, from)
                .is_none()
        );
        assert!(
            Access::Tokens
                .public_reader(&Method::POST, Some("t"), from)
                .is_none()
        );
        let public = Access::PublicRead;
        let reader = public
            .public_reader(&Method::GET, None, from)
            .unwrap()
            .unwrap();
        assert_eq!(reader, Principal::Public { from });
        // Each address its own share of the read budget.
        assert_eq!(reader.actor(), "public:192.0.2.7");
        let refused = |method: &Method, token| {
            public
                .public_reader(method, token, from)
                .unwrap()
                .unwrap_err()
                .status()
        };
        assert_eq!(refused(&Method::GET, Some("a venue's token")), 401);
        assert_eq!(refused(&Method::POST, None), 403);
        assert_eq!(refused(&Method::DELETE, Some("a venue's token")), 403);
        assert!(!reader.is_td());
        assert!(reader.may_read_all());
    }
}
