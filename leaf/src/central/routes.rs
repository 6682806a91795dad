//! The central reader's HTTP front: the venues it serves, its health, and each venue's own
//! API and WebSocket under `/venues/<id>/`.
//!
//! `/venues/<id>/api/v1/…` and `/venues/<id>/ws` are handed, with `/venues/<id>` taken off
//! the path, to that venue's router: the same routes a venue's leaf serves, with the same
//! handlers, limits and errors, over the venue's copy.

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tower::ServiceExt;

use super::venues::{Lookup, VenueSummary, Venues};
use crate::http::ApiError;
use crate::uplink::VenueId;

/// The whole front, in the middleware every venue's leaf has.
pub fn router(venues: Venues, dev: bool) -> Router {
    let routes = Router::new()
        .route("/api/v1/venues", get(list))
        .route("/api/v1/health", get(health))
        // A fallback, not a route with parameters: a venue's router then sees the request
        // as its own, with no matched path or path parameters of the front's.
        .fallback(into_venue)
        .with_state(venues);
    let router = crate::http::middleware::apply(routes, dev);
    if dev {
        // `--dev` has CORS open to everything already.
        return router;
    }
    // Reads are public: any site may fetch them from its pages (a league's own, say).
    router.layer(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([axum::http::Method::GET, axum::http::Method::HEAD]),
    )
}

#[derive(Serialize)]
struct VenueList {
    venues: Vec<VenueSummary>,
}

/// Every venue with copies on the central cluster, by id.
async fn list(State(venues): State<Venues>) -> Json<VenueList> {
    Json(VenueList {
        venues: venues.list(),
    })
}

#[derive(Serialize)]
struct CentralHealth {
    ok: bool,
    role: &'static str,
    connected: bool,
    server_version: String,
    venues: usize,
    ready: usize,
}

/// 200 while the reader is connected to the central cluster, else 503.
async fn health(State(venues): State<Venues>) -> Response {
    let list = venues.list();
    let connected = venues.cluster().connected();
    let health = CentralHealth {
        ok: connected,
        role: "central",
        connected,
        server_version: venues.cluster().server_version(),
        venues: list.len(),
        ready: list.iter().filter(|v| v.ready).count(),
    };
    let status = if connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

/// `/venues/<id>/<rest>` to the venue's router as `/<rest>`; anything else is a 404.
async fn into_venue(State(venues): State<Venues>, mut request: Request) -> Response {
    let Some((raw, rest)) = venue_path(request.uri().path()) else {
        return ApiError::NotFound(format!("nothing at {}", request.uri().path())).into_response();
    };
    let venue: VenueId = match raw.parse() {
        Ok(venue) => venue,
        Err(e) => return ApiError::BadRequest(format!("venue id {raw:?}: {e}")).into_response(),
    };
    let router = match venues.lookup(&venue) {
        Lookup::Open(router) => router,
        Lookup::Opening => {
            return ApiError::Unavailable(format!(
                "venue {venue}'s copy is being read; retry in a moment"
            ))
            .into_response();
        }
        Lookup::Failed => {
            return ApiError::Unavailable(format!(
                "venue {venue}'s copy cannot be read now; retry later"
            ))
            .into_response();
        }
        Lookup::Unknown => {
            return ApiError::NotFound(format!("no venue {venue} on this central cluster"))
                .into_response();
        }
    };
    let uri = match request.uri().query() {
        Some(query) => format!("/{rest}?{query}"),
        None => format!("/{rest}"),
    };
    match uri.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return ApiError::BadRequest(format!("the path: {e}")).into_response(),
    }
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The venue id and the rest of `/venues/<id>/<rest>`.
fn venue_path(path: &str) -> Option<(&str, &str)> {
    let (venue, rest) = path.strip_prefix("/venues/")?.split_once('/')?;
    (!venue.is_empty()).then_some((venue, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venue_path_is_split_into_the_venue_and_its_own_path() {
        assert_eq!(
            venue_path("/venues/east/api/v1/tournaments"),
            Some(("east", "api/v1/tournaments"))
        );
        assert_eq!(venue_path("/venues/east/ws"), Some(("east", "ws")));
        assert_eq!(venue_path("/venues/east"), None);
        assert_eq!(venue_path("/venues//ws"), None);
        assert_eq!(venue_path("/api/v1/tournaments"), None);
    }
}
