//! The embedded web app (the SvelteKit build in `frontend/build`).
//!
//! Assets are served with their content type and an ETag; SvelteKit's hashed files under
//! `_app/immutable/` are cached for a year, everything else is revalidated. Any other path
//! gets `index.html` with 200, so the app's client-side routes (`/display/<id>`)
//! work on reload. `/api/...` never reaches this module (see [`super::routes`]).
//!
//! Building without the frontend: `leaf/build.rs` points the embed at `frontend/build` when it
//! holds an `index.html`, and at `frontend/placeholder` otherwise, so a fresh clone builds and
//! its tests pass before `make frontend` has ever run.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "$LEAF_FRONTEND_DIR"]
struct Assets;

const INDEX: &str = "index.html";

/// The router's fallback: every path that is not an API or WebSocket route.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if !path.is_empty() && path != INDEX {
        if let Some(response) = asset(path, &headers) {
            return response;
        }
        // A missing build asset is a 404: answering a script request with HTML hides the
        // real problem (a stale tab after an upgrade) behind a syntax error.
        if path.starts_with("_app/") {
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    asset(INDEX, &headers).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

fn asset(path: &str, request: &HeaderMap) -> Option<Response> {
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cache = if path.starts_with("_app/immutable/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let headers = response.headers_mut();
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    Some(response)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
