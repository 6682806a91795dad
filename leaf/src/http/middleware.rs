//! The layers every request passes, outermost first:
//! 1. request id: `x-request-id` taken from the request (1 to [`MAX_REQUEST_ID`] characters
//!    of `[A-Za-z0-9._:/+=@-]`) or generated (UUID), echoed on the response;
//! 2. tracing: one span per request with method, path and request id; one line per response
//!    with status and latency;
//! 3. API errors: any error response under `/api` that a handler did not shape itself (a
//!    rejected extractor, the body limit, a timeout) gets the JSON error shape, and the cause
//!    of every 5xx is logged here, once;
//! 4. panic recovery: a panicking handler answers a JSON 500 and the server keeps serving;
//! 5. a request body limit (applied where a handler reads the body, after the caller is
//!    authenticated) and a request timeout;
//! 6. with `--dev` only, permissive CORS for the Vite dev server; otherwise same-origin.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::error::{ApiError, InternalCause};

/// Largest request body. The API takes small JSON documents; 1 MiB is far above any of them
/// and far below what would hurt the box.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A request that takes longer than this is answered 503 instead of holding a connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `x-request-id` taken from a client. It is an id, echoed, logged with every line of
/// the request and stored in audit records: a longer one, or one with anything but letters,
/// digits and `._:/+=@-` (no spaces or braces that could forge fields in a text log line), is
/// replaced by a generated id rather than carried into all of those.
pub const MAX_REQUEST_ID: usize = 128;

/// The ids taken from clients, as the OpenAPI document states them.
pub const REQUEST_ID_PATTERN: &str = "^[A-Za-z0-9._:/+=@-]{1,128}$";

/// Wraps `routes` in the layers above.
pub fn apply(routes: Router, dev: bool) -> Router {
    let router = routes.layer(
        ServiceBuilder::new()
            .layer(middleware::map_request(drop_unusable_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(|response: &Response, latency: Duration, _span: &Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_us = latency.as_micros() as u64,
                            "response"
                        );
                    })
                    // Failures are logged once, by ApiError or the panic handler.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(api_errors))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            )),
    );
    if dev {
        router.layer(CorsLayer::very_permissive())
    } else {
        router
    }
}

/// Removes a client's `x-request-id` that is empty, too long, has other characters, or is
/// given twice, so the next layer generates one.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let headers = request.headers();
    let mut given = headers.get_all(&REQUEST_ID).iter();
    let usable = match (given.next(), given.next()) {
        (None, _) => true,
        (Some(id), None) => {
            (1..=MAX_REQUEST_ID).contains(&id.len())
                && id
                    .as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:/+=@-".contains(b))
        }
        (Some(_), Some(_)) => false,
    };
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// Logs the cause of internal errors and gives error responses under `/api` the JSON shape
/// if they do not have it yet, keeping their headers (a 405's `Allow`, for one).
async fn api_errors(request: Request, next: Next) -> Response {
    // `/ws` too: its refusals happen before the upgrade, as ordinary HTTP errors. And a
    // venue's API and `/ws` on the central reader, under `/venues/<id>/`.
    let path = request.uri().path();
    let is_api = path.starts_with("/api") || path == "/ws" || path.starts_with("/venues/");
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(cause = %cause, "internal error");
    }
    let status = response.status();
    if !is_api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let message = status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_owned();
    let (mut parts, _) = response.into_parts();
    let shaped = ApiError::from_status(status, message).into_response();
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &shaped_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    // Logged by `api_errors`, with the request's span, like every other internal error.
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kept(id: &str) -> bool {
        let Ok(value) = axum::http::HeaderValue::from_str(id) else {
            return false;
        };
        let mut request = Request::new(Body::empty());
        request.headers_mut().insert(REQUEST_ID, value);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a test runtime");
        let request = runtime.block_on(drop_unusable_request_id(request));
        request.headers().contains_key(REQUEST_ID)
    }

    proptest! {
        #[test]
        fn the_published_pattern_is_the_ids_kept(s in prop_oneof![any::<String>(), "[ -~]{0,130}"]) {
            // Only values a header can carry: anything else never reaches the middleware.
            prop_assume!(axum::http::HeaderValue::from_str(&s).is_ok());
            prop_assert!(crate::schema::agrees_with_pattern(REQUEST_ID_PATTERN, &s, kept));
        }
    }
}
