//! # articles
//!
//! One binary that runs a blog-articles service stack: a REST API over SQLite, a GraphQL server in
//! front of it, and synchronisation between databases. Each role is a subcommand of `articles`
//! and runs as its own process (`serve` is the one exception: REST and GraphQL together, for a
//! first run); the roles that own a database share the Diesel models in [`db`].
//!
//! # Layout
//!
//! - [`api_client`]: the typed HTTP client of the REST API (for roles without a database).
//! - [`cli`]: the clap command line; one variant per role, dispatch only.
//! - [`config`]: argument groups shared by several roles (database, sizes, durations).
//! - [`contract`]: the JSON wire types of the REST API, shared by server, client and Kafka.
//! - [`db`]: schema, models, queries, the SQLite pool and the single writer. All SQL lives here.
//! - [`rest`]: `serve-rest`, the REST API (actix-web).
//! - [`graphql`]: `serve-graphql`, the GraphQL server (juniper) in front of the REST API.
//! - [`kafka`]: `consume-kafka` and the `articles-sync` topic's message format.
//! - [`stack`]: `serve`, the REST API and the GraphQL server in one process (the newcomer's command).
//! - [`sync`]: `sync` and `verify`, replicating a source database into a SQLite file or the REST
//!   API, and checking the result.
//! - [`server`]: `BoundServer`, what building an HTTP role yields (port, stop handle, `run`).
//! - [`error`]: the HTTP error type and its one mapping to status codes and the JSON envelope.
//! - [`metrics`]: the Prometheus registry, request middleware and `/metrics`.
//! - [`telemetry`]: tracing set-up.
//!
//! See ARCHITECTURE.md for how the roles talk to each other.

pub mod api_client;
pub mod cli;
pub mod config;
pub mod contract;
pub mod db;
pub mod error;
pub mod graphql;
pub mod kafka;
pub mod metrics;
pub mod rest;
pub mod server;
pub mod stack;
pub mod sync;
pub mod telemetry;
