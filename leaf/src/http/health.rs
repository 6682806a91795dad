//! `GET /api/v1/health`: a real check of every subsystem, 200 when all work, 503 otherwise.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{PeerIp, bearer};
use crate::feed::FeedHealth;
use crate::hub::HubHealth;
use crate::log::LogHealth;
use crate::log::storage::{StorageHealth, StorageState};
use crate::store::StoreHealth;
use axum::http::HeaderMap;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// What health shows on the box itself (a loopback client: the service manager, a
/// monitoring agent, a TD at the console) or to a TD's token.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_s: u64,
    /// Changes at every leaf start; the same value as in WebSocket `connected` messages.
    pub server_id: String,
    /// The soft limit on open files, which bounds the clients leaf can hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_files_limit: Option<u64>,
    pub subsystems: Subsystems,
}

/// What anyone else on the venue network sees: whether leaf works, not how it is built or
/// how many clients, restarts and drops it has had.
#[derive(Debug, Serialize)]
struct Summary {
    status: &'static str,
    version: &'static str,
    server_id: String,
    subsystems: SubsystemsOk,
}

#[derive(Debug, Serialize)]
struct SubsystemsOk {
    libsql: Up,
    nats: Up,
    hub: Up,
    feed: Up,
    storage: Up,
}

#[derive(Debug, Serialize)]
struct Up {
    ok: bool,
}

#[derive(Debug, Serialize)]
pub struct Subsystems {
    pub libsql: StoreHealth,
    pub nats: LogHealth,
    pub hub: HubHealth,
    /// Whether the path from the log to the screens keeps up.
    pub feed: FeedHealth,
    /// The event log's store against its limit, and the disk under it.
    pub storage: StorageHealth,
    /// Scheduled backups: the last good one, and whether one failed or is late.
    pub backups: crate::backup::BackupHealth,
    /// HTTPS: the certificate in service, and whether changed files could not be used.
    pub tls: crate::tls::TlsHealth,
    /// The uplink to a central cluster, when there is one: the link, and what the central
    /// copy still lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink: Option<crate::uplink::UplinkStatus>,
}

/// Every subsystem, checked for real: 200 when all work, 503 otherwise. Loopback clients and
/// TDs get every detail; anyone else on the network gets each subsystem's `ok` only.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", operation_id = "health",
    responses(
        (status = 200, description = "every subsystem works", body = Object),
        (status = 503, description = "a subsystem is degraded", body = Object),
    ))]
async fn health(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
) -> Response {
    let (libsql, nats, storage) = tokio::join!(
        state.store.health(),
        state.log.health(),
        state.space.health(state.log.as_ref())
    );
    let hub = state.hub.health();
    let feed = state.feed.health();
    let backups = state.backups.health();
    let tls = state.tls.health();
    let uplink = state.uplink.as_ref().map(crate::uplink::Link::status);
    let ok = libsql.ok && nats.ok && hub.ok && feed.ok && storage.ok;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let warned = storage.state == StorageState::Warning
        || backups.state == "warning"
        || tls.state == "warning"
        || uplink.as_ref().is_some_and(|u| !u.ok);
    let word = match (ok, warned) {
        (false, _) => "degraded",
        (true, true) => "warning",
        (true, false) => "ok",
    };
    // `None`: served without connect info (in-process tests), which is the box itself.
    let on_the_box = peer.is_none_or(|ip| ip.to_canonical().is_loopback());
    let td = match bearer(&headers) {
        Some(token) if !on_the_box => state.auth.authorize(token).await.is_ok_and(|p| p.is_td()),
        _ => false,
    };
    if !(on_the_box || td) {
        let summary = Summary {
            status: word,
            version: env!("CARGO_PKG_VERSION"),
            server_id: state.server_id.to_string(),
            subsystems: SubsystemsOk {
                libsql: Up { ok: libsql.ok },
                nats: Up { ok: nats.ok },
                hub: Up { ok: hub.ok },
                feed: Up { ok: feed.ok },
                storage: Up { ok: storage.ok },
            },
        };
        return (status, Json(summary)).into_response();
    }
    let body = Health {
        status: word,
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        server_id: state.server_id.to_string(),
        open_files_limit: crate::app::open_files::limits().map(|(soft, _)| soft),
        subsystems: Subsystems {
            libsql,
            nats,
            hub,
            feed,
            storage,
            backups,
            tls,
            uplink,
        },
    };
    (status, Json(body)).into_response()
}
