//! The GraphQL server's routes: `/graphql` (POST: one operation or a batch; GET and HEAD: one
//! query from the query string, or GraphiQL for a browser), `/graphiql/{file}`, `/health`,
//! `/metrics`. Every GET route answers HEAD too; other methods get 405 with `Allow`.
//!
//! Every operation goes through [`run_operation`]: prepared (parsed, validated and costed once per
//! worker), refused when it is a mutation sent with GET, over `--max-cost`, or a mutation over
//! `--max-rest-calls`; then admitted under `--max-cost-in-flight`, executed with its REST calls and
//! answer bytes counted, and answered in the media type the client accepts (`protocol.rs`; the
//! statuses are in `refusal.rs` and [`Answer::status`]). A body that is not a GraphQL request gets
//! a 4xx with an `errors` array.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder};
use futures_util::StreamExt;
use juniper::http::{GraphQLBatchRequest, GraphQLRequest, GraphQLResponse};
use juniper::OperationType;
use serde::{Serialize, Serializer};
use serde_json::json;

use super::budget::{HeldBody, InFlight, ResponseBytes};
use super::context::RequestContext;
use super::metrics::{GraphqlMetrics, Outcome};
use super::page;
use super::prepared::{Prepared, PreparedOperations};
use super::protocol::{self, Accept, MediaType};
use super::refusal::Refusal;
use super::schema::Schema;
use super::upstream::RestHandle;

/// Most operations in one batched request.
pub const MAX_BATCH: usize = 32;

/// Settings every worker shares.
pub struct Settings {
    pub rest_url: String,
    pub rest_timeout: Duration,
    pub body_limit: usize,
    pub max_cost: u64,
    pub max_rest_calls: u64,
    pub max_response_size: usize,
}

/// What a worker's handlers share: the schema (built once for all workers), this worker's REST
/// client handle, the metrics, the settings and the process-wide room of running operations.
pub struct State {
    pub schema: Arc<Schema>,
    pub rest: RestHandle,
    pub metrics: Arc<GraphqlMetrics>,
    pub settings: Arc<Settings>,
    pub in_flight: Arc<InFlight>,
    /// Operations this worker has parsed, validated and costed already.
    pub prepared: PreparedOperations,
}

/// Every endpoint and the methods it answers. The metrics count each (method, path) pair from
/// start-up; a test checks that each method listed is served and every other one refused, so a
/// route added to [`configure`] (or `page::configure`) without a line here fails it.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("/graphql", "GET, HEAD, POST"),
    ("/graphiql/{file}", "GET, HEAD"),
    ("/health", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
];

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(post_graphql))
            .route(web::get().to(get_graphql))
            .route(web::head().to(get_graphql))
            .default_service(web::to(graphql_wrong_method)),
    )
    .service(get_and_head("/health", health))
    .service(get_and_head("/metrics", crate::metrics::export))
    .configure(page::configure)
    .default_service(web::to(not_found));
}

/// A resource answering GET and HEAD with `handler`, and 405 to other methods.
pub fn get_and_head<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(wrong_method))
}

/// How an operation arrived: GET (and HEAD) may only run queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Get,
    Post,
}

/// The answer to one operation.
enum Answer {
    /// Executed, or refused by juniper (parse, validation, variables): juniper's response.
    Ran(GraphQLResponse),
    /// Refused or stopped by this server's limits and rules.
    Refused(Refusal),
}

impl Answer {
    /// The status of a request holding this one operation.
    fn status(&self, media: MediaType) -> StatusCode {
        match (self, media) {
            (Self::Ran(response), _) if response.is_ok() => StatusCode::OK,
            (Self::Ran(_), MediaType::Json) => StatusCode::OK,
            (Self::Ran(_), MediaType::GraphqlResponse) => StatusCode::BAD_REQUEST,
            (Self::Refused(refusal), media) => refusal.status(media),
        }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Ran(response) => response.serialize(serializer),
            Self::Refused(refusal) => refusal.to_json().serialize(serializer),
        }
    }
}

/// A request's answers: one, or a batch's list (always 200).
#[derive(Serialize)]
#[serde(untagged)]
enum Reply {
    Single(Answer),
    Batch(Vec<Answer>),
}

impl Reply {
    fn status(&self, media: MediaType) -> StatusCode {
        match self {
            Self::Single(answer) => answer.status(media),
            Self::Batch(_) => StatusCode::OK,
        }
    }

    fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Single(Answer::Refused(refusal)) => Some(refusal),
            _ => None,
        }
    }
}

/// A GraphQL-shaped error answer for requests that never reached an operation.
fn refuse(media: MediaType, status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .body(json!({ "errors": [{ "message": message.into() }] }).to_string())
}

/// Reads the body, refusing it once it passes `limit` bytes.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    media: MediaType,
) -> Result<web::Bytes, HttpResponse> {
    let too_large = || {
        refuse(
            media,
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
                media,
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

fn authorization(req: &HttpRequest) -> Option<Arc<str>> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(Arc::from)
}

/// `POST /graphql`: one operation or a batch, as JSON.
async fn post_graphql(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    let media = Accept::of(&req).media_type();
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return refuse(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql needs Content-Type: application/json",
        );
    }
    let body = match read_body(&req, payload, state.settings.body_limit, media).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let batch: GraphQLBatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return refuse(
                media,
                StatusCode::BAD_REQUEST,
                format!(
                    "request body is not a GraphQL request \
                     ({{\"query\": ..., \"variables\": ..., \"operationName\": ...}} or a list of them): {error}"
                ),
            )
        }
    };
    let auth = authorization(&req);
    let answer = Arc::new(state.in_flight.response(state.settings.max_response_size));
    let reply = match batch {
        GraphQLBatchRequest::Single(operation) => {
            Reply::Single(run_operation(&state, &operation, auth, Via::Post, &answer).await)
        }
        GraphQLBatchRequest::Batch(operations) => {
            if operations.len() > MAX_BATCH {
                return refuse(
                    media,
                    StatusCode::BAD_REQUEST,
                    format!("a batch holds at most {MAX_BATCH} operations"),
                );
            }
            // One after the other, in order, each with its own read cache and limits (the answer
            // size is the request's): a batch may hold a mutation and then a query that must see
            // its effect.
            let mut answers = Vec::with_capacity(operations.len());
            for operation in &operations {
                answers
                    .push(run_operation(&state, operation, auth.clone(), Via::Post, &answer).await);
            }
            Reply::Batch(answers)
        }
    };
    respond(&state, media, reply, answer)
}

/// `GET /graphql` (and HEAD): the query in the query string, or GraphiQL for a browser.
async fn get_graphql(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let accept = Accept::of(&req);
    let media = accept.media_type();
    let operation = match protocol::get_request(req.query_string()) {
        Ok(operation) => operation,
        Err(message) => return refuse(media, StatusCode::BAD_REQUEST, message),
    };
    let operation = match operation {
        Some(operation) if accept.takes_json() || !accept.takes_html() => operation,
        // A browser asking for a page (without a query, or taking nothing but HTML).
        Some(_) => return page::page().await,
        None if accept.takes_html() => return page::page().await,
        None => {
            return refuse(
                media,
                StatusCode::BAD_REQUEST,
                "GET /graphql needs a `query` parameter (GraphiQL answers Accept: text/html)",
            )
        }
    };
    let answer = Arc::new(state.in_flight.response(state.settings.max_response_size));
    let reply = Reply::Single(
        run_operation(&state, &operation, authorization(&req), Via::Get, &answer).await,
    );
    respond(&state, media, reply, answer)
}

/// Serializes `reply` (refused whole when it is over the request's `--max-response-size`) into a
/// body that holds the request's byte room until it has been sent.
fn respond(
    state: &State,
    media: MediaType,
    mut reply: Reply,
    answer: Arc<ResponseBytes>,
) -> HttpResponse {
    let limit = answer.limit();
    let mut body = serde_json::to_vec(&reply);
    if body.as_ref().is_ok_and(|body| body.len() > limit) {
        let too_large = || Answer::Refused(Refusal::ResponseTooLarge { limit });
        state
            .metrics
            .refused(Refusal::ResponseTooLarge { limit }.metric_label());
        reply = match reply {
            Reply::Single(_) => Reply::Single(too_large()),
            Reply::Batch(answers) => Reply::Batch(answers.iter().map(|_| too_large()).collect()),
        };
        body = serde_json::to_vec(&reply);
    }
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot encode a GraphQL response");
            return refuse(
                media,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error",
            );
        }
    };
    // Every operation's context is gone: the request owns its byte account again.
    let room = Arc::try_unwrap(answer)
        .ok()
        .and_then(ResponseBytes::into_permit);
    let mut response = HttpResponse::build(reply.status(media));
    response
        .insert_header((header::CONTENT_TYPE, media.content_type()))
        .insert_header((header::VARY, HeaderValue::from_static("Accept")));
    if let Some(refusal) = reply.refusal() {
        if let Some(seconds) = refusal.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if *refusal == Refusal::MutationOverGet {
            response.insert_header((header::ALLOW, "POST"));
        }
    }
    response.body(HeldBody::new(body.into(), room))
}

/// Runs one operation with a fresh context and counts it.
async fn run_operation(
    state: &State,
    operation: &GraphQLRequest,
    auth: Option<Arc<str>>,
    via: Via,
    answer: &Arc<ResponseBytes>,
) -> Answer {
    let name = operation.operation_name.as_deref();
    let prepared = match state.prepared.get(&state.schema, &operation.query, name) {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::debug!(%error, "GraphQL document refused");
            state.metrics.operation(name, Outcome::Error);
            return Answer::Ran(GraphQLResponse::from_result(Err(error)));
        }
    };
    match execute(state, &prepared, operation, auth, via, answer).await {
        Ok((result, failed)) => {
            let outcome = match &result {
                Ok((_, errors)) if errors.is_empty() && failed => Outcome::Failed,
                Ok((_, errors)) if errors.is_empty() => Outcome::Ok,
                Ok(_) | Err(_) => Outcome::Error,
            };
            if let Err(error) = &result {
                tracing::debug!(%error, "GraphQL variables refused");
            }
            state.metrics.operation(name, outcome);
            Answer::Ran(GraphQLResponse::from_result(result))
        }
        Err(refusal) => {
            tracing::debug!(%refusal, "GraphQL operation refused");
            state.metrics.refused(refusal.metric_label());
            state.metrics.operation(name, Outcome::Error);
            Answer::Refused(refusal)
        }
    }
}

/// What juniper's execution gives.
type Executed = Result<
    (
        juniper::Value,
        Vec<juniper::ExecutionError<juniper::DefaultScalarValue>>,
    ),
    juniper::GraphQLError,
>;

/// The checks before execution, then execution with its limits counted. `Ok` holds juniper's
/// result and whether some field answered `success: false`.
async fn execute(
    state: &State,
    prepared: &Prepared,
    operation: &GraphQLRequest,
    auth: Option<Arc<str>>,
    via: Via,
    answer: &Arc<ResponseBytes>,
) -> Result<(Executed, bool), Refusal> {
    let settings = &state.settings;
    if via == Via::Get && prepared.operation_type() == OperationType::Mutation {
        return Err(Refusal::MutationOverGet);
    }
    let variables = operation.variables();
    let cost = prepared.cost().evaluate(&variables);
    if cost > settings.max_cost {
        return Err(Refusal::OverBudget {
            cost,
            budget: settings.max_cost,
        });
    }
    let writes = prepared.cost().writes();
    if writes > settings.max_rest_calls {
        return Err(Refusal::TooManyWrites {
            writes,
            limit: settings.max_rest_calls,
        });
    }
    let _room = state.in_flight.admit(cost).await?;
    let context = RequestContext::new(
        state.rest.clone(),
        auth,
        settings.max_rest_calls,
        Arc::clone(answer),
    );
    let result = prepared.operation().execute(&variables, &context).await;
    if let Some(refusal) = context.refusal() {
        return Err(refusal);
    }
    Ok((result, context.failed()))
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

/// Another method on `/graphql`.
async fn graphql_wrong_method(req: HttpRequest) -> HttpResponse {
    let media = Accept::of(&req).media_type();
    let mut response = refuse(
        media,
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on /graphql: use POST, or GET for queries",
            req.method()
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    response
}

/// Another method on a GET route.
async fn wrong_method(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .json(json!({
            "success": false,
            "error": format!("{} is not allowed on {}: use GET", req.method(), req.path()),
            "code": "method_not_allowed",
        }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "success": false,
        "error": format!("no such endpoint: {} {}", req.method(), req.path()),
        "code": "not_found",
    }))
}
