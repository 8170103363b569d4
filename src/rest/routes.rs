//! The route table of the REST API, the JSON fallbacks (404, 405, body and query errors) and
//! the small endpoints: `/`, `/health`, `/openapi.json`, `/metrics`.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::{header, Method};
use actix_web::{guard, web, HttpRequest, HttpResponse, Resource, Route};
use serde_json::json;

use super::{db_metrics, handlers, RestState};
use crate::error::ApiError;

/// The OpenAPI 3 description served at `/openapi.json` (kept in a file; a test checks it
/// against the routes).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Every endpoint and the methods it answers (HEAD wherever GET). [`configure`] builds a resource
/// for each, its 405 answers and OPTIONS name these methods in `Allow`, and the metrics count
/// each (method, path) pair from start-up; a test checks that each method listed is served and
/// every other one refused.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("/", "GET, HEAD"),
    ("/health", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
    ("/openapi.json", "GET, HEAD"),
    ("/articles", "GET, HEAD, POST"),
    ("/articles/bulk", "POST"),
    ("/articles/{id}", "GET, HEAD, PUT, DELETE"),
];

/// Registers every route. Limits come from the settings.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize, bulk_body_limit: usize) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| query_error(error).into()))
        .app_data(json_config(body_limit))
        .service(resource("/").route(get_or_head().to(index)))
        .service(resource("/health").route(get_or_head().to(health)))
        .service(resource("/metrics").route(get_or_head().to(db_metrics::export)))
        .service(resource("/openapi.json").route(get_or_head().to(openapi)))
        .service(
            resource("/articles")
                .route(get_or_head().to(handlers::list))
                .route(web::post().to(handlers::create)),
        )
        .service(
            resource("/articles/bulk")
                .app_data(json_config(bulk_body_limit))
                .route(web::post().to(handlers::bulk)),
        )
        .service(
            resource("/articles/{id}")
                .route(get_or_head().to(handlers::get))
                .route(web::put().to(handlers::update))
                .route(web::delete().to(handlers::delete)),
        )
        .default_service(web::to(not_found));
}

/// A route for GET and HEAD. actix's `web::get()` does not match HEAD; the handler answers both
/// alike, and actix-http sends a HEAD answer's status and headers (Content-Length included)
/// without its body.
fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// The resource of `path`, one of [`ENDPOINTS`], whose other methods get a JSON 405 naming the
/// allowed ones.
fn resource(path: &str) -> Resource {
    let allow = ENDPOINTS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, allow)| *allow)
        .unwrap_or_else(|| panic!("{path} is not in ENDPOINTS"));
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        if req.method() == Method::OPTIONS {
            return HttpResponse::NoContent()
                .insert_header((header::ALLOW, allow))
                .finish();
        }
        actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        })
    }))
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _| json_error(error).into())
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::BadRequest(format!(
            "request body does not have the expected shape: {e}"
        )),
        JsonPayloadError::Deserialize(e) => {
            ApiError::BadRequest(format!("request body is not valid JSON: {e}"))
        }
        other => ApiError::BadRequest(format!("cannot read request body: {other}")),
    }
}

fn query_error(error: QueryPayloadError) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {error}"))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}

/// `GET /`: a small static index of the endpoints.
async fn index() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "articles REST API",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": {
            "GET /articles": "list articles (limit, offset, q, updated_since, sort, cursor)",
            "POST /articles": "create an article {title, content}",
            "GET /articles/{id}": "one article (ETag, If-None-Match)",
            "PUT /articles/{id}": "update title and/or content (If-Match)",
            "DELETE /articles/{id}": "delete an article (If-Match)",
            "POST /articles/bulk": "upsert and delete many articles in one transaction",
            "GET /health": "database health",
            "GET /metrics": "Prometheus metrics",
            "GET /openapi.json": "OpenAPI 3 description"
        }
    }))
}

/// `GET /health`: 200 when the database answers a read and the writer can take SQLite's write
/// lock, else 503 (the cause is logged).
async fn health(state: web::Data<RestState>) -> HttpResponse {
    let (read, write) =
        futures_util::future::join(state.store.count(), state.store.probe_write()).await;
    let outcome = read
        .map_err(|e| e.to_string())
        .and_then(|articles| write.map(|()| articles).map_err(|e| e.to_string()));
    match outcome {
        Ok(articles) => HttpResponse::Ok().json(json!({
            "status": "healthy",
            "database": "ok",
            "articles": articles,
            "version": env!("CARGO_PKG_VERSION"),
        })),
        Err(reason) => {
            tracing::error!(%reason, "health check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unhealthy",
                "database": "unavailable",
                "version": env!("CARGO_PKG_VERSION"),
            }))
        }
    }
}

/// `GET /openapi.json`
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI_JSON)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::handlers::MAX_IDEMPOTENCY_KEY;
    use super::super::types::{DEFAULT_LIMIT, MAX_BULK_ROWS, MAX_LIMIT};
    use super::OPENAPI_JSON;
    use crate::db::models::MAX_TITLE_CHARS;

    /// The limits the handlers enforce are the numbers the document gives.
    #[test]
    fn the_document_states_the_limits_of_the_code() {
        let spec: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        let at = |pointer: &str| {
            spec.pointer(pointer)
                .unwrap_or_else(|| panic!("{pointer} missing"))
                .as_i64()
                .unwrap()
        };
        let parameter = "/components/parameters";
        assert_eq!(at(&format!("{parameter}/Limit/schema/maximum")), MAX_LIMIT);
        assert_eq!(
            at(&format!("{parameter}/Limit/schema/default")),
            DEFAULT_LIMIT
        );
        assert_eq!(at(&format!("{parameter}/Offset/schema/maximum")), i64::MAX);
        assert_eq!(
            at(&format!("{parameter}/IdempotencyKey/schema/maxLength")),
            MAX_IDEMPOTENCY_KEY as i64
        );
        let schemas = "/components/schemas";
        assert_eq!(
            at(&format!("{schemas}/Title/maxLength")),
            MAX_TITLE_CHARS as i64
        );
        assert_eq!(at(&format!("{schemas}/Id/maximum")), i64::MAX);
        for list in ["upsert", "delete"] {
            assert_eq!(
                at(&format!("{schemas}/BulkRequest/properties/{list}/maxItems")),
                MAX_BULK_ROWS as i64
            );
        }
    }
}
