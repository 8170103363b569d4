//! `articles serve`: the whole stack in one process, for a newcomer's first run. The REST API
//! (default :5000, over `articles.db`) and the GraphQL server (default :8000), wired to each
//! other. It is the same two servers as `serve-rest` and `serve-graphql`, built side by side; the
//! GraphQL server still reaches the REST API over HTTP on loopback.
//!
//! SIGTERM or SIGINT stops both gracefully; if either stops on its own, the other is stopped too.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use clap::Parser;
use futures_util::future::{select, Either};

use crate::config::DatabaseArgs;
use crate::graphql::{GraphqlArgs, GraphqlServer};
use crate::rest::{RestArgs, RestServer};

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
    rest_args.bind = args.rest_bind.clone();
    rest_args.workers = args.workers;
    rest_args.api_token = args.api_token.clone();
    let rest = RestServer::build(&rest_args, rest_listener)?;

    let mut graphql_args = GraphqlArgs::for_rest_url(&rest_url);
    graphql_args.bind = args.graphql_bind.clone();
    graphql_args.workers = args.workers;
    let graphql = GraphqlServer::build(&graphql_args, graphql_listener)?;
    tracing::info!(
        rest = %rest_url,
        graphiql = %format!("{graphql_url}/graphql"),
        "stack running: REST API and GraphQL (GraphiQL at /graphql)"
    );

    let (rest_handle, graphql_handle) = (rest.handle(), graphql.handle());
    let rest_task = actix_rt::spawn(rest.run());
    let graphql_task = actix_rt::spawn(graphql.run());
    let (first, second) = match select(rest_task, graphql_task).await {
        Either::Left((rest_done, graphql_task)) => {
            graphql_handle.stop(true).await;
            (rest_done, graphql_task.await)
        }
        Either::Right((graphql_done, rest_task)) => {
            rest_handle.stop(true).await;
            (graphql_done, rest_task.await)
        }
    };
    for done in [first, second] {
        done.context("server task panicked")??;
    }
    tracing::info!("stack stopped");
    Ok(())
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
