//! `GET /ws`: authorises, picks the scope, and upgrades; where the client starts (snapshot or
//! replay) is the feed's business (`feed::resume`), running it the hub's.
//!
//! - `?tournament=<uuid>&token=<jwt>`: one tournament (a TD's token, or a viewer token for
//!   that tournament). Then `snapshot` (the state at the current seq), or with `&since=N` the
//!   events N+1… (from memory, or from the log further back), then live events, with no gap
//!   and no duplicate.
//! - `?token=<TD jwt>`: every tournament's events and the announcements.
//! - no token: a lobby screen: announcements only.
//!
//! On the central reader every socket reads as the public: no token (one is refused),
//! `?tournament=` for one tournament (without it, 400: there is no lobby there).
//!
//! The token may also come as `Authorization: Bearer`. See `docs/protocol.md`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use futures_util::{Stream, StreamExt};
use tokio_util::task::AbortOnDropHandle;

use super::AppState;
use super::error::ApiError;
use super::extract::{PeerIp, bearer, tournament_id};
use crate::auth::{AuthError, Principal, RightsEnd};
use crate::event::Seq;
use crate::feed::Reader;
use crate::hub::client::{self, ReadError};
use crate::hub::{Disconnect, Scope};

/// Initial read buffer per socket; it grows for a larger frame, up to the message limit.
const READ_BUFFER: usize = 4 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    PeerIp(from): PeerIp,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = params
        .get("token")
        .map(String::as_str)
        .or_else(|| bearer(&headers));
    // Before the token is checked: a revocation from here on reaches this socket.
    let changes = state.auth.rights_changes();
    // On the central reader: anyone, with no token and no rights that could end.
    let public = state
        .access
        .public_reader(&Method::GET, token, from)
        .transpose()?;
    let holder = match (&public, token) {
        (None, Some(token)) => Some(state.auth.authorize_until(token).await?),
        _ => None,
    };
    let principal = public
        .as_ref()
        .or(holder.as_ref().map(|(principal, _)| principal));
    let scope = scope(&state, params.get("tournament"), principal)?;
    let since = params
        .get("since")
        .map(|raw| raw.parse::<u64>().map(Seq))
        .transpose()
        .map_err(|_| ApiError::BadRequest("since: a seq number (0 or more)".into()))?;

    // A planted bug for leaf-sim's checker: resume one event too early.
    #[cfg(feature = "planted-bugs")]
    let since = match since {
        Some(Seq(n))
            if n > 0
                && state
                    .hub
                    .planted_bugs()
                    .has(crate::planted::PlantedBug::ResumeRepeatsOne) =>
        {
            Some(Seq(n - 1))
        }
        other => other,
    };
    // A replay from the log takes the reader's share of the read budget: a TD account's, a
    // viewer link's. A lobby screen never replays.
    let reader = Reader::new(principal.map_or_else(|| "lobby".to_owned(), Principal::actor));
    let session = state.feed.watch(scope, since, reader).await?;
    let limit = state.hub.config().max_message_size;
    // A display sends almost nothing (pongs, pings), so the default 128 KiB read buffer per
    // socket would be most of a connection's memory: 10,000 displays, over a gigabyte.
    Ok(ws
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            // The socket lives only as long as the rights it was opened with.
            // Ends with the socket, however `client::run` ends.
            let _guard = holder.map(|(principal, expires_at)| {
                let (auth, closer) = (state.auth.clone(), session.closer.clone());
                AbortOnDropHandle::new(tokio::spawn(async move {
                    let ended = auth.until_rights_end(&principal, expires_at, changes).await;
                    closer.close(match ended {
                        RightsEnd::Revoked => Disconnect::Revoked,
                        RightsEnd::Expired => Disconnect::Expired,
                    });
                }))
            });
            client::run(session, sink, read_errors(stream)).await;
        }))
}

/// What the caller may watch, from the `tournament` parameter and the token.
fn scope(
    state: &AppState,
    tournament: Option<&String>,
    principal: Option<&Principal>,
) -> Result<Scope, ApiError> {
    let scope = match (tournament, principal) {
        (Some(raw), Some(principal)) => {
            let t = tournament_id(raw)?;
            if !principal.may_read(t) {
                return Err(ApiError::Forbidden(
                    "this token is for another tournament".into(),
                ));
            }
            Scope::Tournament(t)
        }
        (Some(_), None) => return Err(AuthError::Missing.into()),
        (None, Some(Principal::Td { .. })) => Scope::All,
        // Every tournament's events to anyone who asks would multiply the reader's traffic
        // by a socket a person can open many of, and the central reader has no lobby (no
        // TD announces anything there): the public names its tournament.
        (None, Some(Principal::Public { .. })) => {
            return Err(ApiError::BadRequest(
                "the central reader's displays watch one tournament: add ?tournament=<id>".into(),
            ));
        }
        (None, None) => Scope::Lobby,
        (None, Some(Principal::Viewer { tournament, .. })) => Scope::Tournament(*tournament),
    };
    if let Scope::Tournament(t) = scope
        && state.feed.summary(t).is_none()
    {
        return Err(ApiError::NotFound(format!("no tournament {t}")));
    }
    Ok(scope)
}

/// Names the read failures the hub acts on; the rest only need their text.
fn read_errors(
    stream: impl Stream<Item = Result<Message, axum::Error>>,
) -> impl Stream<Item = Result<Message, ReadError>> {
    stream.map(|frame| {
        frame.map_err(|e| {
            let inner = e.into_inner();
            match inner.downcast_ref::<tungstenite::Error>() {
                Some(tungstenite::Error::Capacity(_)) => ReadError::TooBig,
                _ => ReadError::Other(inner.to_string()),
            }
        })
    })
}
