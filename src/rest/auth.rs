//! The optional bearer token on writes.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use super::RestState;
use crate::error::ApiError;

/// Proof that the request may write: either no token is configured, or it carried
/// `Authorization: Bearer <token>` with the right token (compared in constant time).
/// Put it first among a handler's arguments so 401 wins over body errors.
pub struct WriteAccess;

impl FromRequest for WriteAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<WriteAccess, ApiError> {
    let state = req
        .app_data::<web::Data<RestState>>()
        .ok_or_else(|| ApiError::Internal("RestState missing".into()))?;
    let Some(expected) = &state.api_token else {
        return Ok(WriteAccess);
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => Ok(WriteAccess),
        _ => Err(ApiError::Unauthorized),
    }
}
