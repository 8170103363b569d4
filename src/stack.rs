//! `articles serve`: the whole stack in one process, for a newcomer's first run. The REST API
//! (default :5000, over `articles.db`) and the GraphQL server (default :8000), wired to each
//! other. It is the same two servers as `serve-rest` and `serve-graphql`, built side by side; the
//! GraphQL server still reaches the REST API over HTTP on loopback.
//!
//! SIGTERM or SIGINT stops GraphQL first (its in-flight requests still reach REST), then REST,
//! both gracefully; if either stops on its own, the other is stopped too.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::DatabaseArgs;
use crate::graphql::GraphqlArgs;
use crate::rest::RestArgs;
use crate::server::Signals;

/// Options of `articles serve`. Everything not listed here takes the roles' defaults; run the
/// roles separately (`serve-rest`, `serve-graphql`) to tune them.
#[derive(Debug, Clone, Parser)]
#[command(name = "serve")]
pub struct StackArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address of the REST API (host:port).
    #[arg(
        long,
        env = "ARTICLES_BIND",
        default_value = "127.0.0.1:5000",
        value_name = "ADDR"
    )]
    pub rest_bind: String,

    /// Address of the GraphQL server (host:port).
    #[arg(
        long,
        env = "ARTICLES_GRAPHQL_BIND",
        default_value = "127.0.0.1:8000",
        value_name = "ADDR"
    )]
    pub graphql_bind: String,

    /// Bearer token the REST API requires for writes (GraphQL forwards the caller's
    /// Authorization header). Unset: writes are open.
    #[arg(
        long,
        env = "ARTICLES_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Worker threads of each server [default: one per CPU].
    #[arg(long, env = "ARTICLES_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
}

/// The URL a local client uses to reach `addr` (a wildcard address is reached on loopback).
fn loopback_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `articles serve`: both servers until SIGTERM/SIGINT.
pub async fn run(args: StackArgs) -> anyhow::Result<()> {
    let rest_listener = TcpListener::bind(&args.rest_bind)
        .with_context(|| format!("cannot listen on {} (REST API)", args.rest_bind))?;
    let graphql_listener = TcpListener::bind(&args.graphql_bind)
        .with_context(|| format!("cannot listen on {} (GraphQL)", args.graphql_bind))?;
    let rest_url = loopback_url(rest_listener.local_addr()?);
    let graphql_url = loopback_url(graphql_listener.local_addr()?);

    let mut rest_args = RestArgs::for_database(&args.db.path());
    rest_args.db = args.db.clone();
    rest_args.bind = args.rest_bind.clone();
    rest_args.workers = args.workers;
    rest_args.api_token = args.api_token.clone();
    let rest = crate::rest::build_with(&rest_args, rest_listener, Signals::Ignore)?;

    let mut graphql_args = GraphqlArgs::for_rest_url(&rest_url);
    graphql_args.bind = args.graphql_bind.clone();
    graphql_args.workers = args.workers;
    let graphql = crate::graphql::build_with(&graphql_args, graphql_listener, Signals::Ignore)?;
    tracing::info!(
        rest = %rest_url,
        graphiql = %format!("{graphql_url}/graphql"),
        "stack running: REST API and GraphQL (GraphiQL at /graphql)"
    );

    let (rest_handle, graphql_handle) = (rest.handle(), graphql.handle());
    let mut rest_task = actix_rt::spawn(rest.run());
    let mut graphql_task = actix_rt::spawn(graphql.run());
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let (rest_done, graphql_done) = tokio::select! {
        _ = sigterm.recv() => stop_in_order(&graphql_handle, &rest_handle, "SIGTERM", rest_task, graphql_task).await,
        _ = tokio::signal::ctrl_c() => stop_in_order(&graphql_handle, &rest_handle, "SIGINT", rest_task, graphql_task).await,
        done = &mut rest_task => {
            graphql_handle.stop(true).await;
            (done, graphql_task.await)
        }
        done = &mut graphql_task => {
            rest_handle.stop(true).await;
            (rest_task.await, done)
        }
    };
    for done in [rest_done, graphql_done] {
        done.context("server task panicked")??;
    }
    tracing::info!("stack stopped");
    Ok(())
}

type ServerTask = actix_rt::task::JoinHandle<std::io::Result<()>>;
type Finished = Result<std::io::Result<()>, actix_rt::task::JoinError>;

/// Stops GraphQL (letting its requests finish against a still-running REST API), then REST.
async fn stop_in_order(
    graphql: &ServerHandle,
    rest: &ServerHandle,
    signal: &str,
    rest_task: ServerTask,
    graphql_task: ServerTask,
) -> (Finished, Finished) {
    tracing::info!(signal, "stopping: GraphQL first, then the REST API");
    graphql.stop(true).await;
    let graphql_done = graphql_task.await;
    rest.stop(true).await;
    (rest_task.await, graphql_done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        assert_eq!(
            loopback_url("0.0.0.0:5000".parse().unwrap()),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            loopback_url("[::]:5000".parse().unwrap()),
            "http://[::1]:5000"
        );
        assert_eq!(
            loopback_url("10.1.2.3:5000".parse().unwrap()),
            "http://10.1.2.3:5000"
        );
    }
}
