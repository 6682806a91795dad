//! `GET /metrics`: the Prometheus page ([`crate::metrics`]), and the layer that counts every
//! request by route, method and status.
//!
//! The page tells how busy the venue is and how leaf is built, so it answers the box itself
//! (loopback: a local Prometheus or agent, the service manager) and, from anywhere else, only
//! a client that sends `Authorization: Bearer <--metrics-token>`. Anyone else gets 403.
//! It is not part of the API (`/api/v1`) and not in its OpenAPI document.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::{PeerIp, bearer};
use crate::metrics::{Metrics, Snapshot};

/// The route label of requests no route claims: the web app's pages and files.
const WEB_APP: &str = "app";

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(page))
}

async fn page(State(state): State<AppState>, PeerIp(peer): PeerIp, headers: HeaderMap) -> Response {
    if !allowed(peer, state.metrics_token.as_deref(), bearer(&headers)) {
        return ApiError::Forbidden(
            "/metrics answers the leaf box itself, or a client with the --metrics-token".into(),
        )
        .into_response();
    }
    let snapshot = snapshot(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&snapshot),
    )
        .into_response()
}

/// Loopback (or no peer: served in-process), or the token.
fn allowed(peer: Option<IpAddr>, token: Option<&str>, offered: Option<&str>) -> bool {
    let on_the_box = peer.is_none_or(|ip| ip.to_canonical().is_loopback());
    on_the_box || matches!((token, offered), (Some(t), Some(o)) if same(t, o))
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

async fn snapshot(state: &AppState) -> Snapshot {
    let (log, storage) = tokio::join!(state.log.health(), state.space.health(state.log.as_ref()));
    let hub = state.hub.stats();
    let feed = state.feed.health();
    let backups = state.backups.health();
    let last_good = backups.last_good.as_ref();
    Snapshot {
        clients: state.hub.clients_by_scope(),
        dropped_messages: hub.dropped_messages,
        slow_disconnects: hub.slow_disconnects,
        feed_behind_state: feed.behind.state,
        feed_behind_audit: feed.behind.audit,
        projection_behind: feed.projection_behind,
        log_reads: feed.reads as u64,
        nats_restarts: log.restarts.map(u64::from),
        store_bytes: storage.used_bytes,
        store_limit_bytes: storage.limit_bytes,
        backup_age: last_good.map(|g| Duration::from_secs(g.age_s)),
        backup_bytes: last_good.map(|g| g.bytes),
        backup_failing: backups.last_error.is_some(),
    }
}

/// A route's pattern as a label: `/api/v1/tournaments/:id/events`. Braces are legal in a
/// label value, but some parsers of the text format split on them.
fn route_label(pattern: &str) -> String {
    pattern
        .replace("{*", "*")
        .replace('{', ":")
        .replace('}', "")
}

/// Where the route a request matched is left for [`record`], which runs before routing.
#[derive(Debug, Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// The outermost layer: every request counted and timed, also one that timed out or whose
/// handler panicked (those answers are made by layers inside this one).
pub async fn record(State(metrics): State<Metrics>, mut request: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = method_label(request.method());
    let begun = Instant::now();
    let response = next.run(request).await;
    let route = slot.0.get().map_or(WEB_APP, String::as_str);
    metrics.request(route, method, response.status().as_u16(), begun.elapsed());
    response
}

/// Inside the router: names the route the request matched, for [`record`].
pub async fn name_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(route_label(path.as_str()));
    }
    next.run(request).await
}

/// The method as a label: the ones HTTP defines, `other` for anything a client makes up (a
/// label per made-up method would grow the page without end).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(
            method_label(&Method::from_bytes(b"FOO123").unwrap()),
            "other"
        );
    }

    #[test]
    fn route_labels_have_no_braces() {
        assert_eq!(
            route_label("/api/v1/tournaments/{id}/events"),
            "/api/v1/tournaments/:id/events"
        );
        assert_eq!(route_label("/api/{*path}"), "/api/*path");
        assert_eq!(route_label("/ws"), "/ws");
    }

    #[test]
    fn the_box_itself_or_the_token_may_read_and_no_one_else() {
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(allowed(None, None, None));
        assert!(allowed(Some(loopback), None, None));
        assert!(allowed(Some(mapped), None, None));
        assert!(!allowed(Some(lan), None, None));
        assert!(!allowed(Some(lan), None, Some("anything")));
        assert!(!allowed(Some(lan), Some("s3cret-token"), None));
        assert!(!allowed(
            Some(lan),
            Some("s3cret-token"),
            Some("s3cret-tokeN")
        ));
        assert!(!allowed(Some(lan), Some("s3cret-token"), Some("s3cret")));
        assert!(allowed(
            Some(lan),
            Some("s3cret-token"),
            Some("s3cret-token")
        ));
    }
}
