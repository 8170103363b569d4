//! The REST API role (`articles serve-rest`): actix-web over the shared [`crate::db::Store`].
//!
//! - [`RestArgs`]: the role's settings (clap, with environment fallbacks).
//! - [`build`]: builds the app on a listener the caller bound (tests use port 0) and
//!   reports the real port; [`run`] is what the CLI calls.
//! - `routes`: the route table, the JSON 404/405 fallbacks and `/`, `/health`, `/openapi.json`.
//! - `handlers`: the article endpoints; `types`: request parsing and response bodies.
//! - `compression`: answers compressed when the client asks (actix's `Compress`), with ETags,
//!   `Vary` and small answers done right.
//! - `db_metrics`: `/metrics` with the database checked at each scrape and the writer's queue.
//!
//! **Architecture Invariant:** handlers hold no SQL. They parse requests into domain types, call
//! `db`, and turn the answer into the JSON contract; every error leaves through
//! [`crate::error::ApiError`].

mod auth;
mod compression;
mod db_metrics;
mod handlers;
mod routes;
mod types;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::middleware::{self, Next};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use clap::Parser;
use prometheus::IntGauge;

use crate::config::{parse_bytes, parse_duration, DatabaseArgs};
use crate::db::{PgOptions, Store, StoreOptions};
use crate::metrics::Metrics;
use crate::server::{BoundServer, Signals};
pub use compression::Codings;

pub use routes::{ENDPOINTS, OPENAPI_JSON};

/// Options of `articles serve-rest`.
#[derive(Debug, Clone, Parser)]
#[command(name = "serve-rest")]
pub struct RestArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address to listen on (host:port).
    #[arg(
        long,
        env = "ARTICLES_BIND",
        default_value = "127.0.0.1:5000",
        value_name = "ADDR"
    )]
    pub bind: String,

    /// Worker threads serving HTTP [default: one per CPU].
    #[arg(long, env = "ARTICLES_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// Bearer token required for every write (POST, PUT, DELETE, bulk). Unset: writes are open.
    #[arg(
        long,
        env = "ARTICLES_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Origins allowed by CORS, comma-separated; `*` allows every origin (as the original did),
    /// `none` sends no CORS headers.
    #[arg(
        long,
        env = "ARTICLES_CORS_ORIGINS",
        default_value = "*",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub cors_origins: Vec<String>,

    /// Largest accepted body for POST and PUT /articles.
    #[arg(long, env = "ARTICLES_BODY_LIMIT", default_value = "1MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub body_limit: usize,

    /// Largest accepted body for POST /articles/bulk.
    #[arg(long, env = "ARTICLES_BULK_BODY_LIMIT", default_value = "64MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub bulk_body_limit: usize,

    /// Content codings offered to clients that accept them (comma-separated: gzip, zstd, br,
    /// deflate), or `none`. br is not offered by default: as actix makes it, a 100 KB page took
    /// 15 times as long as with gzip, and each blocking thread that ran it kept ~9 MB (see
    /// bench/rest.sh).
    #[arg(long, env = "ARTICLES_COMPRESS", default_value = "gzip,zstd", value_parser = Codings::parse, value_name = "CODINGS")]
    pub compress: Codings,

    /// Answers shorter than this are sent uncompressed even to clients that accept compression:
    /// compressing one article (~1 KB) costs more time than the bytes it saves (bench/rest.sh).
    /// 0 compresses every answer.
    #[arg(long, env = "ARTICLES_COMPRESS_MIN_SIZE", default_value = "2KiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub compress_min_size: usize,

    /// How long an Idempotency-Key of POST /articles is remembered (at most 24h).
    #[arg(long, env = "ARTICLES_IDEMPOTENCY_TTL", default_value = "24h", value_parser = parse_idempotency_ttl, value_name = "DURATION")]
    pub idempotency_ttl: Duration,

    /// SQLite: read connections in the pool (writes go through one writer thread).
    #[arg(
        long,
        env = "ARTICLES_READ_CONNECTIONS",
        default_value_t = 8,
        value_name = "N"
    )]
    pub read_connections: u32,

    /// PostgreSQL: connections in the pool, shared by reads and writes. Several replicas
    /// together must stay under the server's max_connections.
    #[arg(long, env = "ARTICLES_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N")]
    pub pool_size: u32,

    /// PostgreSQL: a statement running longer is cancelled and the request gets 503 with
    /// Retry-After.
    #[arg(long, env = "ARTICLES_STATEMENT_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub statement_timeout: Duration,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "ARTICLES_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_timeout: Duration,
}

fn parse_idempotency_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = parse_duration(raw)?;
    if ttl > Duration::from_secs(24 * 3600) {
        return Err("must be at most 24h".into());
    }
    Ok(ttl)
}

impl RestArgs {
    /// Defaults for a database at `path`, ignoring the environment (for tests and embedding).
    pub fn for_database(path: &std::path::Path) -> Self {
        Self {
            db: DatabaseArgs {
                database: path.to_string_lossy().into_owned(),
            },
            bind: "127.0.0.1:0".into(),
            workers: Some(2),
            api_token: None,
            cors_origins: vec!["*".into()],
            body_limit: 1 << 20,
            bulk_body_limit: 64 << 20,
            compress: Codings::parse("gzip,zstd").expect("valid"),
            compress_min_size: 2 << 10,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            read_connections: 8,
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything a handler may need, shared by all workers.
pub(crate) struct RestState {
    pub store: Store,
    pub api_token: Option<String>,
    pub idempotency_ttl: Duration,
}

/// Opens the store and builds the REST server on `listener`; nothing is served until
/// [`BoundServer::run`] is awaited (or spawned).
pub fn build(args: &RestArgs, listener: TcpListener) -> anyhow::Result<BoundServer> {
    build_with(args, listener, Signals::Handle)
}

/// [`build`], choosing whether the server stops by itself on SIGTERM/SIGINT.
pub fn build_with(
    args: &RestArgs,
    listener: TcpListener,
    signals: Signals,
) -> anyhow::Result<BoundServer> {
    keep_freed_memory();
    let options = StoreOptions {
        sqlite_readers: args.read_connections,
        postgres: PgOptions {
            pool_size: args.pool_size,
            statement_timeout: args.statement_timeout,
            ..PgOptions::default()
        },
    };
    let store = Store::open(&args.db.location(), &options)?;
    let port = listener.local_addr()?.port();
    let metrics = web::Data::new(Metrics::new());
    metrics.expect_endpoints(routes::ENDPOINTS);
    register_store_gauges(&metrics, &store)?;
    let database_up = db_metrics::register(&metrics, &store)?;
    let state = web::Data::new(RestState {
        store,
        api_token: args.api_token.clone().filter(|t| !t.is_empty()),
        idempotency_ttl: args.idempotency_ttl,
    });
    if state.api_token.is_none() {
        tracing::warn!("no --api-token set: writes are open to every client");
    }
    let cors_origins = Arc::new(args.cors_origins.clone());
    let (body_limit, bulk_body_limit) = (args.body_limit, args.bulk_body_limit);
    let (compress, compress_min_size) = (args.compress, args.compress_min_size as u64);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .app_data(database_up.clone())
            .configure(|cfg| routes::configure(cfg, body_limit, bulk_body_limit))
            .wrap(middleware::from_fn(move |req, next: Next<BoxBody>| {
                compression::skip_small(req, next, compress_min_size)
            }))
            .wrap(middleware::Compress::default())
            .wrap(middleware::from_fn(move |req, next| {
                compression::negotiate(req, next, compress)
            }))
            .wrap(crate::server::cors(&cors_origins))
            .wrap(middleware::from_fn(crate::metrics::observe))
    })
    // A client that hangs up (its read side reaches EOF) gives up its request: the future is
    // dropped rather than run for nobody (a write already queued still commits). HTTP clients
    // do not half-close a connection they await an answer on.
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
        database = %args.db.location().describe(),
        port,
        "REST API listening"
    );
    Ok(BoundServer::new(server.run(), port))
}

/// Lets glibc's malloc keep up to 16 MiB of freed memory per arena for reuse. By default a block
/// of 128 KiB or more is mapped fresh from the kernel and unmapped when freed (the threshold rises
/// with use, and memory at the top of the heap is trimmed again), so every page of a large
/// answer cost a page fault to zero it: walking a million articles 1000 at a time, the server
/// spent a third of its CPU time in page faults (server CPU 2.6-3.0 s, with this 1.5-1.6 s).
/// Peak memory is unchanged; memory freed after a peak is returned more slowly.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const KEEP: libc::c_int = 16 << 20;
        // SAFETY: mallopt only changes two thresholds of the allocator's configuration, under
        // its own lock; any value is valid (a failure returns 0 and changes nothing).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
            libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
        }
    }
}

/// Gauges read from the store at scrape time: articles stored and pool connections in use.
fn register_store_gauges(metrics: &Metrics, store: &Store) -> anyhow::Result<()> {
    let articles = IntGauge::new("articles_articles", "Articles stored")?;
    let pool_in_use = IntGauge::new(
        "articles_db_pool_connections_in_use",
        "Read connections in use",
    )?;
    let pool_open = IntGauge::new("articles_db_pool_connections", "Read connections open")?;
    metrics.registry().register(Box::new(StoreCollector {
        store: store.clone(),
        articles,
        pool_in_use,
        pool_open,
    }))?;
    Ok(())
}

struct StoreCollector {
    store: Store,
    articles: IntGauge,
    pool_in_use: IntGauge,
    pool_open: IntGauge,
}

impl prometheus::core::Collector for StoreCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        [&self.articles, &self.pool_in_use, &self.pool_open]
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let (open, in_use) = self.store.pool_state();
        self.pool_open.set(open.into());
        self.pool_in_use.set(in_use.into());
        // The kept count: one row read, no scan of the table. An idle connection if there is
        // one, so a scrape does not queue behind busy readers.
        match self.store.count_blocking() {
            Ok(count) => self.articles.set(count),
            Err(error) => tracing::warn!(%error, "cannot count articles for /metrics"),
        }
        [&self.articles, &self.pool_in_use, &self.pool_open]
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}

/// `articles serve-rest`: binds, serves until SIGTERM/SIGINT, then exits once in-flight requests
/// are done.
pub async fn run(args: RestArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.bind).with_context(|| format!("cannot listen on {}", args.bind))?;
    let server = build(&args, listener)?;
    server.run().await?;
    tracing::info!("REST API stopped");
    Ok(())
}
