//! The GraphQL server's routes: `POST /graphql` (one operation or a batch), `GET /graphql`
//! (GraphiQL), `GET /graphiql/{file}`, `GET /health`, `GET /metrics`.
//!
//! Answers follow GraphQL over HTTP with `application/json`: an executed operation is HTTP 200,
//! with an `errors` array when the document did not parse or validate. A body that is not a
//! GraphQL request at all gets a 4xx with an `errors` array.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use juniper::http::{GraphQLBatchRequest, GraphQLRequest, GraphQLResponse};
use serde_json::json;

use super::context::RequestContext;
use super::metrics::{GraphqlMetrics, Outcome};
use super::page;
use super::prepared::PreparedOperations;
use super::schema::Schema;
use super::upstream::RestHandle;

/// Most operations in one batched request.
pub const MAX_BATCH: usize = 32;

/// Settings every worker copies when it starts.
pub struct Settings {
    pub rest_url: String,
    pub rest_timeout: Duration,
    pub body_limit: usize,
}

/// What a worker's handlers share: the schema (built once for all workers), this worker's REST
/// client handle, and the metrics.
pub struct State {
    pub schema: Arc<Schema>,
    pub rest: RestHandle,
    pub metrics: Arc<GraphqlMetrics>,
    pub body_limit: usize,
    /// Operations this worker has parsed and validated already.
    pub prepared: PreparedOperations,
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(execute))
            .route(web::get().to(page::page)),
    )
    .service(web::resource("/health").route(web::get().to(health)))
    .service(web::resource("/metrics").route(web::get().to(crate::metrics::export)))
    .configure(page::configure)
    .default_service(web::to(not_found));
}

/// A GraphQL-shaped error answer for requests that never reached execution.
fn refuse(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "errors": [{ "message": message.into() }] }))
}

/// Reads the body, refusing it once it passes `limit` bytes.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, HttpResponse> {
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `POST /graphql`
async fn execute(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql needs Content-Type: application/json",
        );
    }
    let body = match read_body(&req, payload, state.body_limit).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let batch: GraphQLBatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "request body is not a GraphQL request \
                     ({{\"query\": ..., \"variables\": ..., \"operationName\": ...}} or a list of them): {error}"
                ),
            )
        }
    };
    let auth: Option<Arc<str>> = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(Arc::from);
    let body = match batch {
        GraphQLBatchRequest::Single(operation) => {
            let response = run_operation(&state, &operation, auth).await;
            serde_json::to_vec(&response)
        }
        GraphQLBatchRequest::Batch(operations) => {
            if operations.len() > MAX_BATCH {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("a batch holds at most {MAX_BATCH} operations"),
                );
            }
            // One after the other, in order, each with its own read cache: a batch may hold a
            // mutation and then a query that must see its effect.
            let mut responses = Vec::with_capacity(operations.len());
            for operation in &operations {
                responses.push(run_operation(&state, operation, auth.clone()).await);
            }
            serde_json::to_vec(&responses)
        }
    };
    match body {
        Ok(body) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body),
        Err(error) => {
            tracing::error!(%error, "cannot encode a GraphQL response");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }
}

/// Executes one operation with a fresh context and counts it.
async fn run_operation(
    state: &State,
    operation: &GraphQLRequest,
    auth: Option<Arc<str>>,
) -> GraphQLResponse {
    let context = RequestContext::new(state.rest.clone(), auth);
    let variables = operation.variables();
    let result = match state.prepared.get(
        &state.schema,
        &operation.query,
        operation.operation_name.as_deref(),
    ) {
        Ok(prepared) => {
            prepared
                .borrow_dependent()
                .execute(&variables, &context)
                .await
        }
        Err(refused) => Err(refused),
    };
    let outcome = match &result {
        Ok((_, errors)) if errors.is_empty() => {
            if context.failed() {
                Outcome::Failed
            } else {
                Outcome::Ok
            }
        }
        Ok(_) | Err(_) => Outcome::Error,
    };
    if let Err(error) = &result {
        tracing::debug!(%error, "GraphQL document refused");
    }
    state
        .metrics
        .operation(operation.operation_name.as_deref(), outcome);
    GraphQLResponse::from_result(result)
}

/// `GET /health`: 200 when the REST API reports itself healthy, else 503 with the reason.
async fn health(state: web::Data<State>) -> HttpResponse {
    match state.rest.health().await {
        Ok(()) => HttpResponse::Ok().json(json!({
            "status": "healthy",
            "rest_api": "ok",
            "version": env!("CARGO_PKG_VERSION"),
        })),
        Err(error) => {
            tracing::warn!(%error, "health check: REST API not healthy");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unhealthy",
                "rest_api": error.to_string(),
                "version": env!("CARGO_PKG_VERSION"),
            }))
        }
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "success": false,
        "error": format!("no such endpoint: {} {}", req.method(), req.path()),
        "code": "not_found",
    }))
}
