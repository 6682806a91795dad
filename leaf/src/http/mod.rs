//! HTTP: the router, its middleware and thin handlers, one file per area.
//!
//! [`router`] takes the application state and no listener: production serves it on TCP,
//! leaf-sim on a simulated listener, tests call it with `oneshot`. Handlers extract, call one
//! function on the state and map the result; no SQL, no NATS subjects, no fan-out here.

pub mod access;
mod announcements;
mod auth;
mod error;
mod events;
mod extract;
mod health;
mod metrics;
pub mod middleware;
mod openapi;
mod query;
mod spa;
mod tournaments;
mod viewer_links;
mod ws;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::{Json, Router};
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

pub use self::error::ApiError;
pub use self::extract::{ClientAddr, PeerListener, Scheme, request_host};
pub use self::health::Health;
use crate::auth::AuthService;
use crate::feed::Feed;
pub use crate::feed::MAX_REPLAY;
use crate::hub::Hub;
use crate::log::EventLog;
use crate::store::Store;
use crate::writer::TournamentWriter;

/// Everything a handler may use. Cheap to clone; built in one place, [`crate::app::wire`], by
/// production and leaf-sim alike.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<dyn EventLog>,
    /// Sign-in, token checks, viewer links.
    pub auth: Arc<AuthService>,
    /// The write side: creating tournaments, appending events.
    pub writer: TournamentWriter,
    /// The read side: heads, snapshots, event pages, subscriptions.
    pub feed: Feed,
    pub store: Store,
    pub hub: Hub,
    /// Names this leaf run; the same value the hub sends in `connected`.
    pub server_id: Uuid,
    pub started: Instant,
    /// `--dev`: permissive CORS for the frontend dev server.
    pub dev: bool,
    /// The log's store and its limit, for health.
    pub space: crate::log::storage::StoreSpace,
    /// Scheduled backups, for health.
    pub backups: crate::backup::Backups,
    /// HTTPS, for health.
    pub tls: crate::tls::TlsState,
    /// The uplink to a central cluster, for health.
    pub uplink: Option<crate::uplink::Link>,
    /// What `/metrics` shows, and who off the box may read it (`--metrics-token`).
    pub metrics: crate::metrics::Metrics,
    pub metrics_token: Option<String>,
    /// Who may read without a token: nobody at a venue, anyone on the central reader.
    pub access: access::Access,
}

/// The whole application: routes wrapped in [`middleware::apply`], and outside them the
/// count of every request for `/metrics`.
pub fn router(state: AppState) -> Router {
    let dev = state.dev;
    let metrics = state.metrics.clone();
    middleware::apply(routes(state), dev).layer(axum::middleware::from_fn_with_state(
        metrics,
        metrics::record,
    ))
}

/// The API routes and the OpenAPI document describing exactly them: each route is registered
/// from its handler's `#[utoipa::path]`, so the two cannot drift apart.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    let (routes, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::routes())
        .merge(auth::routes())
        .merge(tournaments::routes())
        .merge(events::routes())
        .merge(viewer_links::routes())
        .merge(announcements::routes())
        .split_for_parts();
    openapi::finish(&mut doc);
    (routes, doc)
}

/// The OpenAPI 3 document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The routes without middleware. Tests merge extra routes in before applying the layers.
pub fn routes(state: AppState) -> Router {
    served_to_readers(&state)
        .merge(metrics::routes())
        .fallback(spa::serve)
        // Names the matched route for `metrics::record`, which runs outside the router.
        .layer(axum::middleware::from_fn(metrics::name_route))
        .with_state(state)
}

/// A venue's copy on the central reader: the API and `/ws` as a venue's leaf serves them,
/// without the web app (its pages ask `/api/v1` of the origin, not of a venue under
/// `/venues/<id>/`) or `/metrics` (the reader is not the venue's box).
pub fn copy_routes(state: AppState) -> Router {
    served_to_readers(&state)
        .fallback(error::not_found)
        .with_state(state)
}

/// The API with its layers, its document, and `/ws`.
fn served_to_readers(state: &AppState) -> Router<AppState> {
    let (api, doc) = api();
    let declared = Arc::new(query::Declared::from_document(&doc));
    let doc = Arc::new(doc);
    // Route layers wrap what is above them: authentication runs first, then the query check.
    let api = api
        .route_layer(axum::middleware::from_fn_with_state(
            declared,
            query::refuse_undeclared,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ));
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .merge(ws::routes())
        // Paths no operation claims: a JSON 404 for anyone, as clients have always had it.
        .route("/api", any(error::not_found))
        .route("/api/{*path}", any(error::not_found))
}
