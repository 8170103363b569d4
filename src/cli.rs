//! The command line: one [`Cli`] with a subcommand per role. Each variant wraps the `Args` of the
//! module that owns the role; this file only parses and dispatches.

use clap::{Parser, Subcommand};

use crate::graphql::GraphqlArgs;
use crate::rest::RestArgs;
use crate::stack::StackArgs;
use crate::sync::{SyncArgs, VerifyArgs};

/// Blog articles service stack: REST API, GraphQL gateway and database sync in one binary.
///
/// Each role runs as its own process (`serve` runs REST and GraphQL together, for a first run).
/// Logging goes to stderr and is filtered by RUST_LOG
/// (default: info).
#[derive(Debug, Parser)]
#[command(name = "articles", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API over the SQLite database (default 127.0.0.1:5000).
    ServeRest(RestArgs),
    /// Serve the GraphQL API over the REST API (default 127.0.0.1:8000).
    ServeGraphql(GraphqlArgs),
    /// Serve the whole stack in one process: REST on :5000 and GraphQL on :8000.
    Serve(StackArgs),
    /// Make a SQLite file or a REST API a replica of a source database's articles.
    Sync(SyncArgs),
    /// Compare the articles of two SQLite databases (exit status 1 when they differ).
    Verify(VerifyArgs),
}

impl Command {
    /// Runs the chosen role to completion.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::ServeRest(args) => crate::rest::run(args).await,
            Self::ServeGraphql(args) => crate::graphql::run(args).await,
            Self::Serve(args) => crate::stack::run(args).await,
            Self::Sync(args) => crate::sync::run(args).await,
            Self::Verify(args) => crate::sync::verify::run(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
