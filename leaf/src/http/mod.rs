//! HTTP: the router, its middleware and thin handlers, one file per area.
//!
//! [`router`] takes the application state and no listener: production serves it on TCP,
//! leaf-sim on a simulated listener, tests call it with `oneshot`. Handlers extract, call one
//! function on the state and map the result; no SQL, no NATS subjects, no fan-out here.

mod announcements;
mod auth;
pub mod error;
mod events;
pub mod extract;
mod health;
pub mod middleware;
mod spa;
mod tournaments;
mod viewer_links;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use tokio::time::Instant;
use uuid::Uuid;

pub use self::error::ApiError;
pub use self::health::Health;
use crate::auth::AuthState;
use crate::hub::Hub;
use crate::log::EventLog;
use crate::store::Store;
use crate::tournaments::Tournaments;

/// Everything a handler may use. Cheap to clone; built once in `app`.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<dyn EventLog>,
    pub auth: Arc<AuthState>,
    pub tournaments: Arc<Tournaments>,
    pub store: Store,
    pub hub: Hub,
    /// Names this leaf run; the same value the hub sends in `connected`.
    pub server_id: Uuid,
    pub started: Instant,
    /// `--dev`: permissive CORS for the frontend dev server.
    pub dev: bool,
}

/// The whole application: routes wrapped in [`middleware::apply`].
pub fn router(state: AppState) -> Router {
    let dev = state.dev;
    middleware::apply(routes(state), dev)
}

/// The routes without middleware. Tests merge extra routes in before applying the layers.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(tournaments::routes())
        .merge(events::routes())
        .merge(viewer_links::routes())
        .merge(announcements::routes())
        .merge(ws::routes())
        .route("/api", any(error::not_found))
        .route("/api/{*path}", any(error::not_found))
        .fallback(spa::serve)
        .with_state(state)
}
