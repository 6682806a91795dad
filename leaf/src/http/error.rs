//! The one error type of the HTTP API and its one JSON shape:
//! `{"error":{"code":"not_found","message":"..."}}`.
//!
//! Client mistakes get a 4xx that says what to fix. Internal failures get a 5xx whose body
//! reveals nothing; the cause is logged once, here, inside the request's span (which carries
//! the request id a TD can quote).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A subsystem is down or starting; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
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
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ApiError::Unavailable(message)
            }
            s if s.is_server_error() => ApiError::Internal(message),
            _ => ApiError::BadRequest(message),
        }
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
        if let ApiError::Internal(cause) = self {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

/// Any `/api/...` path that no route claims.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint at {}", uri.path()))
}
