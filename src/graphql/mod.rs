//! The GraphQL role (`articles serve-graphql`): a juniper schema over the REST API, served by
//! actix-web.
//!
//! - [`GraphqlArgs`]: the role's settings (clap, with environment fallbacks).
//! - [`build`]: builds the app on a listener the caller bound (tests use port 0)
//!   and reports the real port; [`run`] is what the CLI calls.
//! - `schema`: the types, `Query` and `Mutation`; `context`: per-operation state with the
//!   de-duplication of REST reads and the limits counted while it runs; `upstream`: the `Send`
//!   handle to each worker's REST client.
//! - `routes`: `/graphql` (POST, GET and HEAD, or GraphiQL), `/health`, `/metrics`; `protocol`:
//!   GraphQL over HTTP (GET parameters, media types); `page`: the GraphiQL page and its embedded
//!   assets; `compression`: which answers actix's `Compress` compresses; `metrics`: operation,
//!   upstream and refusal families.
//! - `prepared`: each worker's cache of validated operations; `cost`: what an operation may
//!   fetch, computed before it runs; `budget`: the room running operations take, per request and
//!   process-wide; `refusal`: why an operation was refused, and its status.
//!
//! **Architecture Invariant:** this role never touches a database. Every answer comes from the
//! REST API over HTTP, with the caller's Authorization header forwarded.

mod budget;
mod compression;
mod context;
mod cost;
mod metrics;
mod page;
pub(crate) mod prepared;
mod protocol;
mod refusal;
mod routes;
mod schema;
mod upstream;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use clap::Parser;

use crate::config::{parse_bytes, parse_duration};
use crate::metrics::Metrics;
use crate::server::{BoundServer, Signals};

pub use routes::ENDPOINTS;
pub use schema::Limits;

/// Options of `articles serve-graphql`.
#[derive(Debug, Clone, Parser)]
#[command(name = "serve-graphql")]
pub struct GraphqlArgs {
    /// Address to listen on (host:port).
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_BIND",
        default_value = "127.0.0.1:8000",
        value_name = "ADDR"
    )]
    pub bind: String,

    /// Base URL of the REST API every resolver calls.
    #[arg(
        long,
        env = "REST_API_URL",
        default_value = "http://127.0.0.1:5000",
        value_name = "URL"
    )]
    pub rest_url: String,

    /// How long one REST call may take before the field answers `success: false`.
    #[arg(long, env = "ARTICLES_GRAPHQL_REST_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub rest_timeout: Duration,

    /// Worker threads serving HTTP, each with its own REST client [default: one per CPU].
    #[arg(long, env = "ARTICLES_GRAPHQL_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// Deepest nesting accepted in a document (selection sets, fragments, lists, input values).
    /// The standard introspection query (GraphiQL's) needs 18.
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_DEPTH",
        default_value_t = 20,
        value_name = "N"
    )]
    pub max_depth: usize,

    /// Most fields in one operation, counting a fragment's fields at each spread (bounds the
    /// document; --max-cost bounds what it may fetch).
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_FIELDS",
        default_value_t = 500,
        value_name = "N"
    )]
    pub max_fields: usize,

    /// Most tokens in one document (bounds parse and validation time).
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_TOKENS",
        default_value_t = 5000,
        value_name = "N"
    )]
    pub max_tokens: usize,

    /// Largest accepted body of POST /graphql (an article's content travels in it).
    #[arg(long, env = "ARTICLES_GRAPHQL_BODY_LIMIT", default_value = "2MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub body_limit: usize,

    /// Origins allowed by CORS, comma-separated; `*` allows every origin, `none` sends no CORS
    /// headers.
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_CORS_ORIGINS",
        default_value = "*",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub cors_origins: Vec<String>,

    /// Most an operation may cost, checked before it runs: every field costs 1, a list field its
    /// rows times the fields selected under it (`getArticles`: its `limit`, 100 when absent).
    /// A page of 1000 articles with their five fields costs about 5000; GraphiQL's introspection
    /// query about 1200.
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_COST",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub max_cost: u64,

    /// Most REST calls one operation may make (identical reads count once). A mutation over it
    /// is refused before it runs; a query is stopped when it gets there.
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_REST_CALLS",
        default_value_t = 100,
        value_name = "N"
    )]
    pub max_rest_calls: u64,

    /// Largest answer to one request (a batch's answers together). Articles are counted before
    /// resolvers build them into the answer, so an answer over the limit is stopped before it
    /// takes the memory.
    #[arg(long, env = "ARTICLES_GRAPHQL_MAX_RESPONSE_SIZE", default_value = "16MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub max_response_size: usize,

    /// Most cost of the operations running at once, over all workers. An operation waits up to
    /// --busy-wait for room, then gets 503 with Retry-After.
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_MAX_COST_IN_FLIGHT",
        default_value_t = 100_000,
        value_name = "N"
    )]
    pub max_cost_in_flight: u64,

    /// Most bytes of article text held for requests at once, over all workers: pages fetched from
    /// REST and answers not yet sent (the bound on the memory requests take). A request that
    /// finds no room gets 503 with Retry-After.
    #[arg(long, env = "ARTICLES_GRAPHQL_MAX_BYTES_IN_FLIGHT", default_value = "64MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub max_bytes_in_flight: usize,

    /// How long an operation waits for room under --max-cost-in-flight before it is answered
    /// 503 (busy); also the Retry-After given (rounded up to whole seconds).
    #[arg(long, env = "ARTICLES_GRAPHQL_BUSY_WAIT", default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub busy_wait: Duration,

    /// Refuse introspection queries (`__schema`, `__type`); GraphiQL then shows no docs.
    #[arg(long, env = "ARTICLES_GRAPHQL_NO_INTROSPECTION")]
    pub no_introspection: bool,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "ARTICLES_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Duration,
}

impl GraphqlArgs {
    /// Defaults in front of the REST API at `rest_url`, ignoring the environment (for tests and
    /// embedding).
    pub fn for_rest_url(rest_url: &str) -> Self {
        Self {
            bind: "127.0.0.1:0".into(),
            rest_url: rest_url.into(),
            rest_timeout: Duration::from_secs(5),
            workers: Some(2),
            max_depth: 20,
            max_fields: 500,
            max_tokens: 5000,
            body_limit: 2 << 20,
            max_cost: 10_000,
            max_rest_calls: 100,
            max_response_size: 16 << 20,
            max_cost_in_flight: 100_000,
            max_bytes_in_flight: 64 << 20,
            busy_wait: Duration::from_secs(1),
            cors_origins: vec!["*".into()],
            no_introspection: false,
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_depth: self.max_depth,
            max_fields: self.max_fields,
            max_tokens: self.max_tokens,
            introspection: !self.no_introspection,
        }
    }

    /// Settings that only make sense together.
    fn check(&self) -> anyhow::Result<()> {
        if self.max_cost > self.max_cost_in_flight {
            anyhow::bail!(
                "--max-cost ({}) is over --max-cost-in-flight ({}): an operation at the budget could never run",
                self.max_cost,
                self.max_cost_in_flight
            );
        }
        if self.max_response_size > self.max_bytes_in_flight {
            anyhow::bail!(
                "--max-response-size ({}) is over --max-bytes-in-flight ({}): an answer at the limit could never be built",
                self.max_response_size,
                self.max_bytes_in_flight
            );
        }
        Ok(())
    }
}

/// Builds the schema (once) and the GraphQL server on `listener`. Each worker starts its own
/// REST client. Nothing is served until [`BoundServer::run`] is awaited (or spawned).
pub fn build(args: &GraphqlArgs, listener: TcpListener) -> anyhow::Result<BoundServer> {
    build_with(args, listener, Signals::Handle)
}

/// [`build`], choosing whether the server stops by itself on SIGTERM/SIGINT.
pub fn build_with(
    args: &GraphqlArgs,
    listener: TcpListener,
    signals: Signals,
) -> anyhow::Result<BoundServer> {
    args.check()?;
    let port = listener.local_addr()?.port();
    let http_metrics = web::Data::new(Metrics::new());
    http_metrics.expect_endpoints(routes::ENDPOINTS);
    let graphql_metrics = metrics::GraphqlMetrics::register(http_metrics.registry())?;
    let schema = Arc::new(schema::build(args.limits()));
    let cors_origins = Arc::new(args.cors_origins.clone());
    let settings = Arc::new(routes::Settings {
        rest_url: args.rest_url.trim_end_matches('/').to_owned(),
        rest_timeout: args.rest_timeout,
        body_limit: args.body_limit,
        max_cost: args.max_cost,
        max_rest_calls: args.max_rest_calls,
        max_response_size: args.max_response_size,
    });
    let in_flight = Arc::new(budget::InFlight::new(
        args.max_cost_in_flight,
        args.max_bytes_in_flight,
        args.busy_wait,
    ));
    let mut server = HttpServer::new(move || {
        // Runs on each worker thread: this worker's REST client lives here.
        let state = routes::State {
            schema: Arc::clone(&schema),
            rest: upstream::RestHandle::spawn_local(
                &settings.rest_url,
                settings.rest_timeout,
                graphql_metrics.upstream_observer(),
            ),
            metrics: Arc::clone(&graphql_metrics),
            settings: Arc::clone(&settings),
            in_flight: Arc::clone(&in_flight),
            prepared: prepared::PreparedOperations::new(settings.max_cost),
        };
        App::new()
            .app_data(web::Data::new(state))
            .app_data(http_metrics.clone())
            .configure(routes::configure)
            // Innermost: compresses what the routes answer (when the client asks and the answer
            // is not small, see compression.rs), before CORS and the metrics see it.
            .wrap(from_fn(compression::mark_small))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(from_fn(compression::unmark))
            .wrap(crate::server::cors(&cors_origins))
            .wrap(from_fn(crate::metrics::observe))
    })
    // A compressed answer leaves in several writes (head, data, last chunk); with Nagle's
    // algorithm the last waited for the client's delayed ACK: +20 ms per compressed answer on
    // one connection, 57 instead of 6000 req/s.
    .tcp_nodelay(true)
    // A client that hangs up (its read side reaches EOF) gives up its operation: the request's
    // future is dropped, with the cost and byte room it held, instead of running to the end of
    // its REST calls for nobody. HTTP clients do not half-close a connection they await an
    // answer on.
    .h1_allow_half_closed(false)
    .listen(listener)?
    .shutdown_timeout(args.shutdown_timeout.as_secs());
    if let Some(workers) = args.workers {
        server = server.workers(workers.max(1));
    }
    if signals == Signals::Ignore {
        server = server.disable_signals();
    }
    tracing::info!(
        rest_url = %args.rest_url,
        introspection = !args.no_introspection,
        port,
        "GraphQL server listening"
    );
    Ok(BoundServer::new(server.run(), port))
}

/// `articles serve-graphql`: binds, serves until SIGTERM/SIGINT, then exits once in-flight
/// requests are done.
pub async fn run(args: GraphqlArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.bind).with_context(|| format!("cannot listen on {}", args.bind))?;
    let server = build(&args, listener)?;
    server.run().await?;
    tracing::info!("GraphQL server stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests build servers with `for_rest_url`; it must match what the command line gives.
    #[test]
    fn test_settings_match_the_command_line_defaults() {
        let parsed = GraphqlArgs::try_parse_from(["serve-graphql", "--rest-url", "http://x"])
            .expect("defaults parse");
        let built = GraphqlArgs::for_rest_url("http://x");
        assert_eq!(parsed.rest_url, built.rest_url);
        assert_eq!(parsed.rest_timeout, built.rest_timeout);
        assert_eq!(parsed.max_depth, built.max_depth);
        assert_eq!(parsed.max_fields, built.max_fields);
        assert_eq!(parsed.max_tokens, built.max_tokens);
        assert_eq!(parsed.body_limit, built.body_limit);
        assert_eq!(parsed.max_cost, built.max_cost);
        assert_eq!(parsed.max_rest_calls, built.max_rest_calls);
        assert_eq!(parsed.max_response_size, built.max_response_size);
        assert_eq!(parsed.max_cost_in_flight, built.max_cost_in_flight);
        assert_eq!(parsed.max_bytes_in_flight, built.max_bytes_in_flight);
        assert_eq!(parsed.busy_wait, built.busy_wait);
        assert_eq!(parsed.no_introspection, built.no_introspection);
        assert_eq!(parsed.cors_origins, built.cors_origins);
    }
}
