//! Errors at the HTTP boundary and their one mapping to a status and the JSON envelope.
//!
//! Which error type where:
//! - `db` returns `diesel::QueryResult`, [`crate::db::WriteError`] and [`crate::db::OpenError`];
//!   it never sees HTTP. A database failure is classified once, where it is raised, as a
//!   [`StoreError`] (refused row, busy, full, unavailable, internal); this file only maps it.
//! - HTTP handlers (REST and GraphQL servers) return [`ApiError`]; `From` impls below turn the
//!   store's errors into it. This file is the only place that picks a status code.
//! - CLI glue (`main`, the `run` functions, sync) uses `anyhow` and prints one line.
//!
//! Internal causes (SQL errors, I/O) are logged here and never sent to the client. Statuses:
//! a refused row is 400 naming the field (the client's input); busy is 503 with `Retry-After`;
//! out of space is 507; a database that cannot be reached or read is 503 "unavailable" (the only
//! case that says so); anything else is 500.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::contract::ErrorEnvelope;
use crate::db::{StoreError, WriteError};

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
    /// The database is busy (another writer holds its lock, no connection free); retry shortly.
    #[error("the database is busy, try again shortly")]
    Busy(String),
    /// The database is out of space; the cause is logged, not shown.
    #[error("the database has no space left for this write")]
    InsufficientStorage(String),
    /// The store cannot be reached or read; the cause is logged, not shown.
    #[error("the database is unavailable, try again later")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal server error")]
    Internal(String),
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
            Self::Busy(_) => "busy",
            Self::InsufficientStorage(_) => "insufficient_storage",
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
            Self::Busy(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Busy(cause) => tracing::warn!(%cause, "database busy"),
            Self::InsufficientStorage(cause) => tracing::error!(%cause, "database out of space"),
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
            Self::Busy(_) | Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(ErrorEnvelope {
            success: false,
            error: self.to_string().into(),
            code: self.code().into(),
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
            WriteError::Store(cause) => cause.into(),
            WriteError::WriterGone => Self::Unavailable(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Refused { field, problem } => Self::InvalidField { field, problem },
            StoreError::Busy(cause) => Self::Busy(cause),
            StoreError::Full(cause) => Self::InsufficientStorage(cause),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::article_not_found(),
            other => StoreError::classify(&other).into(),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StoreError::from(error).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task failed: {error}"))
    }
}
