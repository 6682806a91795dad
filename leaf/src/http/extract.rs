//! leaf's own extractors, so that every malformed request fails in the API's JSON error shape.
//!
//! - [`ApiJson`]: a JSON body; syntax, type and size problems are 400, 413 or 415.
//! - [`ApiQuery`]: query parameters; anything the document does not allow is 400.
//! - [`Caller`]: the verified principal from `Authorization: Bearer <token>`; 401 otherwise.
//! - [`Td`]: a caller who must be a Tournament Director; 403 for a viewer.
//! - [`Readable`]: the path's tournament, existing and readable by the caller.
//! - [`TournamentPath`], [`LinkPath`]: the ids in the path, checked; 400 otherwise.
//! - [`ClientAddr`], [`PeerIp`]: the peer address the connection came from.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::serve::Listener;
use serde::de::DeserializeOwned;

use super::AppState;
use super::access::Authenticated;
use super::error::ApiError;
use crate::auth::{AuthError, LinkId, Principal};
use crate::event::TournamentId;

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(text),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::BadRequest("send the body as JSON with content-type: application/json".into())
        }
        _ => ApiError::BadRequest(text),
    }
}

/// The query parameters of type `T`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Whoever a valid token speaks for: the principal `access::authenticate` verified, or for a
/// route outside that layer, the token checked here.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(Authenticated(principal)) = parts.extensions.get::<Authenticated>() {
            return Ok(Self(principal.clone()));
        }
        let token = bearer(&parts.headers).ok_or(AuthError::Missing)?;
        Ok(Self(state.auth.authorize(token).await?))
    }
}

/// A caller who is a Tournament Director.
pub struct Td(pub Principal);

impl FromRequestParts<AppState> for Td {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !principal.is_td() {
            return Err(ApiError::Forbidden(
                "this needs a Tournament Director's token; viewer tokens are read-only".into(),
            ));
        }
        Ok(Self(principal))
    }
}

/// A caller who may read every tournament: a Tournament Director, or anyone on the central
/// reader.
pub struct ReadsAll;

impl FromRequestParts<AppState> for ReadsAll {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !principal.may_read_all() {
            return Err(ApiError::Forbidden(
                "this needs a Tournament Director's token; a viewer token reads one tournament"
                    .into(),
            ));
        }
        Ok(Self)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `Host` header, when it is a host and an optional port and nothing else: a name, an
/// IPv4 address or a bracketed IPv6 address. What leaf writes into a URL (a viewer link, a
/// redirect) comes from it, so anything that could make that URL point elsewhere (`@`, `/`,
/// spaces) is refused rather than copied. Returns the host and the port as given.
pub fn request_host(headers: &HeaderMap) -> Option<(&str, Option<&str>)> {
    let value = headers.get(header::HOST)?.to_str().ok()?;
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        let inner = &host[1..host.len() - 1];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return None;
        }
        (host, port)
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (host.len() <= 255 && port_ok).then_some((host, port))
}

/// How a request reached leaf, as the server loop marks each one: what a URL leaf writes for
/// the client (a viewer link) must start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The address a connection came from, for any [`PeerListener`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A listener whose connections come from socket addresses. Implemented for TCP here and
/// for the simulated listener in leaf-sim, so both serve the router with [`ClientAddr`].
pub trait PeerListener: Listener<Addr = SocketAddr> {
    /// Readies an accepted connection before it is served.
    fn prepare(_io: &Self::Io) {}
}

impl PeerListener for tokio::net::TcpListener {
    /// No Nagle delay: an answer or a WebSocket frame written while the peer has not yet
    /// acknowledged the last one would otherwise wait for that ACK, which a peer may delay.
    fn prepare(io: &tokio::net::TcpStream) {
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    }
}

/// The peer's IP address, when the router was served with [`ClientAddr`] connect info
/// (`oneshot` tests are not).
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<ClientAddr>>()
                .map(|info| info.0.0.ip()),
        ))
    }
}

/// The request id (`x-request-id`, taken or generated by the middleware), for audit records.
pub struct ReqId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ReqId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<tower_http::request_id::RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// A tournament from the `{id}` path segment that exists and that the caller may read:
/// 401 without a valid token, then 400 for a malformed id, 403 for a viewer of another
/// tournament, 404 for an unknown one. Carries who reads, for the read budget.
pub struct Readable(pub TournamentId, pub Principal);

impl FromRequestParts<AppState> for Readable {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        let TournamentPath(id) = TournamentPath::from_request_parts(parts, state).await?;
        if !caller.may_read(id) {
            return Err(ApiError::Forbidden(
                "this token is for another tournament".into(),
            ));
        }
        if state.feed.summary(id).is_none() {
            return Err(ApiError::NotFound(format!("no tournament {id}")));
        }
        Ok(Self(id, caller))
    }
}

/// The tournament of the `{id}` path segment: 400 if it is not a tournament id.
pub struct TournamentPath(pub TournamentId);

impl<S: Send + Sync> FromRequestParts<S> for TournamentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(parse_id(&raw, "tournament id")?))
    }
}

/// The tournament and viewer link of `{id}` and `{link}`: 400 if either is malformed.
pub struct LinkPath(pub TournamentId, pub LinkId);

impl<S: Send + Sync> FromRequestParts<S> for LinkPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((tournament, link)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(
            parse_id(&tournament, "tournament id")?,
            parse_id(&link, "viewer link id")?,
        ))
    }
}

/// A tournament id given as text (a query parameter of `/ws`): 400 if it is not one.
pub fn tournament_id(raw: &str) -> Result<TournamentId, ApiError> {
    parse_id(raw, "tournament id")
}

fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::BadRequest(format!("{what} {:?}: {e}", truncate(raw))))
}

/// At most 64 characters of user input, for error messages.
fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// A whole number in a JSON body. JSON Schema counts `24.0` as the integer 24 and a client
/// may send it so; `24.5`, `-1`, a string and anything past `u64` are refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Whole { text: false })
}

/// A whole number in a query string, where every value is text: `24` and `24.0` as above.
pub fn whole_number_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Whole { text: true })
}

/// Reads whole numbers; from text only when `text` (a query string, not a JSON body).
struct Whole {
    text: bool,
}

impl Whole {
    /// Digits, optionally followed by a point and zeros: exact, with no float in between.
    fn from_text<E: serde::de::Error>(s: &str) -> Result<u64, E> {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let parsed = (digits(whole) && digits(fraction) && fraction.bytes().all(|b| b == b'0'))
            .then(|| whole.parse::<u64>().ok())
            .flatten();
        parsed.ok_or_else(|| {
            E::custom(format!(
                "{:?} is not a whole number from 0 to 2^64-1",
                truncate(s)
            ))
        })
    }
}

impl serde::de::Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number, 0 or more")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<u64, E> {
        u64::try_from(n).map_err(|_| E::custom(format!("{n} is below 0")))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<u64, E> {
        // JSON numbers arrive as f64 when written with a point; 2^64 is the first one past
        // u64::MAX, and every whole f64 below it converts exactly.
        if n.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&n) {
            Ok(n as u64)
        } else {
            Err(E::custom(format!(
                "{n} is not a whole number from 0 to 2^64-1"
            )))
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u64, E> {
        if self.text {
            Self::from_text(s)
        } else {
            Err(E::invalid_type(serde::de::Unexpected::Str(s), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Query {
        #[serde(deserialize_with = "super::whole_number_text")]
        n: u64,
    }

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::whole_number")]
        n: u64,
    }

    #[test]
    fn whole_numbers_are_read_exactly() {
        let query = |q: &str| {
            let uri: axum::http::Uri = format!("/?{q}").parse().expect("a test URI");
            axum::extract::Query::<Query>::try_from_uri(&uri)
                .map(|v| v.0.n)
                .ok()
        };
        assert_eq!(query("n=5"), Some(5));
        assert_eq!(query("n=5.0"), Some(5));
        assert_eq!(query("n=18446744073709551615"), Some(u64::MAX));
        assert_eq!(query("n=18446744073709551615.00"), Some(u64::MAX));
        for bad in [
            "n=",
            "n=-1",
            "n=5.5",
            "n=5.",
            "n=.0",
            "n=1e3",
            "n=inf",
            "n=NaN",
            "n=18446744073709551616",
            "n=%205",
            "n=5.00000000000000000001",
        ] {
            assert_eq!(query(bad), None, "{bad}");
        }
        let body = |b: &str| serde_json::from_str::<Body>(b).map(|v| v.n).ok();
        assert_eq!(body(r#"{"n":24}"#), Some(24));
        assert_eq!(body(r#"{"n":24.0}"#), Some(24));
        for bad in [
            r#"{"n":"24"}"#,
            r#"{"n":-1}"#,
            r#"{"n":24.5}"#,
            r#"{"n":null}"#,
            r#"{"n":1e30}"#,
        ] {
            assert_eq!(body(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    fn host_of(value: &str) -> Option<(String, Option<String>)> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().ok()?);
        request_host(&headers).map(|(h, p)| (h.to_owned(), p.map(str::to_owned)))
    }

    #[test]
    fn a_host_header_is_a_host_and_a_port_or_nothing() {
        let ok = |h: &str, p: Option<&str>| Some((h.to_owned(), p.map(str::to_owned)));
        assert_eq!(host_of("leaf.local"), ok("leaf.local", None));
        assert_eq!(
            host_of("192.168.1.20:8080"),
            ok("192.168.1.20", Some("8080"))
        );
        assert_eq!(host_of("[fe80::1]:443"), ok("[fe80::1]", Some("443")));
        assert_eq!(host_of("[::1]"), ok("[::1]", None));
        for bad in [
            "a@evil.example",
            "evil.example/x",
            "a b",
            "[::1]x",
            "[]",
            "[evil.example]",
            "host:",
            "host:80:80",
            "host:123456",
            ":80",
        ] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }
}
