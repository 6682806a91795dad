//! The one error type of the HTTP API and its one JSON shape:
//! `{"error":{"code":"not_found","message":"..."}}`.
//!
//! Client mistakes get a 4xx that says what to fix. Internal failures get a 5xx whose body
//! reveals nothing; the cause is logged once, here, inside the request's span (which carries
//! the request id a TD can quote).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::feed::WatchError;
use crate::hub::HubError;
use crate::log::LogError;
use crate::store::StoreError;
use crate::writer::TournamentError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Missing, malformed, expired or forged credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A subsystem is down or starting; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// leaf is doing as much of this as it takes at once: retry after the given seconds.
    #[error("{message}")]
    Busy { message: String, retry_after_s: u64 },
    /// The event log has no room for another event: nothing was stored.
    #[error("{0}")]
    StorageFull(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::StorageFull(_) => "storage_full",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The shape for a status that was produced outside leaf's handlers (a rejected
    /// upgrade, the body limit, a timeout), with its canonical text as the message.
    pub fn from_status(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound(message),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(message),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
            StatusCode::FORBIDDEN => ApiError::Forbidden(message),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ApiError::Unavailable(message)
            }
            s if s.is_server_error() => ApiError::Internal(message),
            _ => ApiError::BadRequest(message),
        }
    }
}

impl ApiError {
    /// One of every kind of error leaf answers. The OpenAPI document lists each status's
    /// `code`s from here, so a new kind appears there by itself.
    fn every_kind() -> Vec<ApiError> {
        let kinds = vec![
            ApiError::NotFound(String::new()),
            ApiError::BadRequest(String::new()),
            ApiError::MethodNotAllowed(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::TooManyRequests {
                message: String::new(),
                retry_after_s: 1,
            },
            ApiError::PayloadTooLarge(String::new()),
            ApiError::Unavailable(String::new()),
            ApiError::Busy {
                message: String::new(),
                retry_after_s: 1,
            },
            ApiError::StorageFull(String::new()),
            ApiError::Internal(String::new()),
        ];
        // A new variant does not compile here until it is added to the list above as well.
        for kind in &kinds {
            match kind {
                ApiError::NotFound(_)
                | ApiError::BadRequest(_)
                | ApiError::MethodNotAllowed(_)
                | ApiError::Unauthorized(_)
                | ApiError::Forbidden(_)
                | ApiError::Conflict(_)
                | ApiError::TooManyRequests { .. }
                | ApiError::PayloadTooLarge(_)
                | ApiError::Unavailable(_)
                | ApiError::Busy { .. }
                | ApiError::StorageFull(_)
                | ApiError::Internal(_) => {}
            }
        }
        kinds
    }

    /// The `code`s an error response with `status` can carry.
    pub fn codes(status: StatusCode) -> Vec<&'static str> {
        Self::every_kind()
            .iter()
            .filter(|kind| kind.status() == status)
            .map(ApiError::code)
            .collect()
    }
}

/// The error responses of the OpenAPI document, one per status, each with the `code`s it
/// carries and the headers sent with it. Operations refer to them by name
/// (`#/components/responses/NotFound`).
pub mod responses {
    use axum::http::StatusCode;
    use utoipa::openapi::header::Header;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};

    use super::ApiError;
    use crate::http::openapi::required;

    macro_rules! error_response {
        ($name:ident, $status:expr, $description:literal) => {
            #[doc = $description]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error($status, $description).into())
                }
            }
        };
    }

    error_response!(
        BadRequest,
        StatusCode::BAD_REQUEST,
        "The request breaks a rule of this document: a malformed id, body, parameter or header. The message says which."
    );
    error_response!(
        Unauthorized,
        StatusCode::UNAUTHORIZED,
        "No token, or one that is malformed, expired, revoked or forged: sign in again (a TD) or ask for a new link (a viewer)."
    );
    error_response!(
        Forbidden,
        StatusCode::FORBIDDEN,
        "A valid token that may not do this: a viewer token, which is read-only and for one tournament."
    );
    error_response!(
        NotFound,
        StatusCode::NOT_FOUND,
        "No such tournament or viewer link."
    );
    error_response!(
        Conflict,
        StatusCode::CONFLICT,
        "Another writer appended to this tournament at the same moment, more than leaf retries: send it again."
    );
    error_response!(
        PayloadTooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "The body is over 1 MiB, or an event's `data` is over 64 KiB."
    );
    error_response!(
        TooManyRequests,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-in attempts from this address or for this name: wait `Retry-After` seconds."
    );
    error_response!(
        InsufficientStorage,
        StatusCode::INSUFFICIENT_STORAGE,
        "`storage_full`: the event log has no room for the event (its `--max-store` limit, or the disk, is full). Nothing was stored; reads and displays keep working, and appends work again once there is room."
    );
    error_response!(
        Internal,
        StatusCode::INTERNAL_SERVER_ERROR,
        "A fault in leaf; the `x-request-id` names it in leaf's log."
    );
    error_response!(
        Unavailable,
        StatusCode::SERVICE_UNAVAILABLE,
        "`unavailable`: a subsystem (the event log, leaf.db) is down or starting, or the request took over 30 s. `busy`: leaf is doing as much of this as it takes at once; it says when to retry in `Retry-After`. Retrying an append with the same `Idempotency-Key` is safe."
    );

    fn error(status: StatusCode, description: &str) -> Response {
        let codes = ApiError::codes(status);
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().copied()));
        let detail = ObjectBuilder::new()
            .property("code", code)
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .required("code")
            .required("message");
        let body = ObjectBuilder::new()
            .property("error", detail)
            .required("error")
            .into();
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some::<RefOr<Schema>>(body))
                .build(),
        );
        let seconds = || {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .build()
        };
        match status {
            StatusCode::UNAUTHORIZED => {
                let scheme = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["Bearer"]))
                    .build();
                response = response.header(
                    "WWW-Authenticate",
                    required(Header::new(scheme), "The scheme to sign in with."),
                );
            }
            StatusCode::TOO_MANY_REQUESTS => {
                response = response.header(
                    "Retry-After",
                    required(Header::new(seconds()), "Seconds to wait."),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                let mut header = Header::new(seconds());
                header.description = Some("Seconds to wait; sent with `busy`.".into());
                response = response.header("Retry-After", header);
            }
            _ => {}
        }
        response.build()
    }
}

/// The cause of a 5xx, carried to the middleware that logs it; never sent to the client.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for ApiError {
    /// Free of side effects: the cause of an internal error rides along in the response's
    /// extensions and is logged once by `middleware::api_errors`, inside the request's span.
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(_) => {
                "internal error; the request id in x-request-id names it in leaf's log".to_owned()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({"error": {"code": self.code(), "message": message}});
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Internal(cause) => {
                response.extensions_mut().insert(InternalCause(cause));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_s, .. }
            | ApiError::Busy { retry_after_s, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            _ => {}
        }
        response
    }
}

/// Any `/api/...` path that no route claims.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint at {}", uri.path()))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden => ApiError::Forbidden(e.to_string()),
            AuthError::RateLimited(s) => ApiError::TooManyRequests {
                message: e.to_string(),
                retry_after_s: s,
            },
            AuthError::Store(store) => store.into(),
            AuthError::Internal(cause) => ApiError::Internal(cause),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy | StoreError::Closed | StoreError::TimedOut(_) => {
                ApiError::Unavailable(e.to_string())
            }
            StoreError::AlreadyExists(what) => ApiError::Conflict(format!("{what} already exists")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Unavailable(_) | LogError::TimedOut => ApiError::Unavailable(format!(
                "the event log is not available right now ({e}); retry, with the same Idempotency-Key"
            )),
            LogError::TooLarge(_) => ApiError::PayloadTooLarge(e.to_string()),
            LogError::Conflict { .. } => ApiError::Conflict(e.to_string()),
            LogError::StorageFull(_) => ApiError::StorageFull(
                "the event log is full: nothing was stored. Free disk space on the leaf box, or restart leaf with a larger --max-store; appends work again as soon as there is room".into(),
            ),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<WatchError> for ApiError {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::Busy(busy) => ApiError::Busy {
                message: busy.to_string(),
                retry_after_s: busy.retry_after.as_secs().max(1),
            },
            WatchError::Hub(hub @ HubError::LobbyFull(_)) => ApiError::Busy {
                message: hub.to_string(),
                retry_after_s: 10,
            },
            WatchError::Hub(hub) => ApiError::Unavailable(hub.to_string()),
            WatchError::Log(log) => log.into(),
        }
    }
}

impl From<TournamentError> for ApiError {
    fn from(e: TournamentError) -> Self {
        match e {
            TournamentError::NotFound(_) => ApiError::NotFound(e.to_string()),
            TournamentError::Conflict(_) => ApiError::Conflict(e.to_string()),
            TournamentError::TooLarge(_) => ApiError::PayloadTooLarge(e.to_string()),
            TournamentError::OutcomeUnknown { .. } => ApiError::Unavailable(e.to_string()),
            TournamentError::FeedBehind(_) => ApiError::Busy {
                message: e.to_string(),
                retry_after_s: 1,
            },
            // Busy, closed or slow: a retry may work. Anything else is a 500 with its cause
            // logged, not SQLite's words sent to the TD.
            TournamentError::KeysUnavailable(store) => match ApiError::from(store) {
                ApiError::Unavailable(_) => ApiError::Unavailable(
                    "cannot check the Idempotency-Key in leaf.db right now; retry with the same key"
                        .into(),
                ),
                other => other,
            },
            TournamentError::NotYetApplied(_)
            | TournamentError::ForeignDuplicate { .. }
            | TournamentError::Abandoned
            | TournamentError::Failed(_) => ApiError::Internal(e.to_string()),
            TournamentError::Log(log) => log.into(),
        }
    }
}
