//! Errors at the HTTP boundary and their one mapping to a status and the JSON envelope.
//!
//! Which error type where:
//! - `db` returns `diesel::QueryResult`, [`crate::db::WriteError`] and [`crate::db::OpenError`];
//!   it never sees HTTP.
//! - HTTP handlers (REST and GraphQL servers) return [`ApiError`]; `From` impls below turn the
//!   store's errors into it. This file is the only place that picks a status code.
//! - CLI glue (`main`, the `run` functions, sync) uses `anyhow` and prints one line.
//!
//! Internal causes (SQL errors, I/O) are logged here and never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::WriteError;

/// An error a client sees: `{"success": false, "error": "...", "code": "...", "details": {...}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input that is not about one field.
    #[error("{0}")]
    BadRequest(String),
    /// One field of the body is missing or invalid.
    #[error("{field} {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    #[error("a valid 'Authorization: Bearer <token>' header is required for writes")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("the article has changed since it was read (If-Match does not match its ETag)")]
    PreconditionFailed,
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unprocessable(String),
    /// The store cannot be reached; the cause is logged, not shown.
    #[error("the database is unavailable, try again later")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal server error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    success: bool,
    error: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// A short machine-readable name of the error class.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidField { .. } => "invalid_field",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unprocessable(_) => "unprocessable",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            problem: problem.into(),
        }
    }

    pub fn article_not_found() -> Self {
        Self::NotFound("article not found".into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidField { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unavailable(cause) => tracing::error!(%cause, "database unavailable"),
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let details = match self {
            Self::InvalidField { field, problem } => {
                let mut map = serde_json::Map::new();
                map.insert((*field).to_owned(), problem.clone().into());
                Some(map)
            }
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(ErrorEnvelope {
            success: false,
            error: self.to_string(),
            code: self.code(),
            details,
        })
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::NotFound => Self::article_not_found(),
            WriteError::PreconditionFailed => Self::PreconditionFailed,
            WriteError::IdempotencyKeyReused => Self::Unprocessable(error.to_string()),
            WriteError::Database(cause) => cause.into(),
            WriteError::WriterGone => Self::Unavailable(error.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::article_not_found(),
            // Every other store failure (I/O, locks held too long, a damaged file, a full disk)
            // means the store cannot serve this request now.
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(format!("no database connection: {error}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task failed: {error}"))
    }
}
