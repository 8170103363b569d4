//! The command line: one [`Cli`] with a subcommand per role. Each variant wraps the `Args` of the
//! module that owns the role; this file only parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::graphql::GraphqlArgs;
use crate::kafka::ConsumeArgs;
use crate::rest::RestArgs;
use crate::stack::StackArgs;
use crate::sync::{SyncArgs, Verdict, VerifyArgs};

/// Blog articles service stack: REST API, GraphQL gateway and database sync in one binary.
///
/// Each role runs as its own process (`serve` runs REST and GraphQL together, for a first run).
/// Exit status: 0 done; 1 `verify` found differences, or `sync` could not copy every row; 2 an
/// error (one `error:` line on stderr) or a command-line mistake. Logging goes to stderr and is filtered by RUST_LOG
/// (default: info).
#[derive(Debug, Parser)]
#[command(name = "articles", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API over SQLite or PostgreSQL (default 127.0.0.1:5000, articles.db).
    ServeRest(RestArgs),
    /// Serve the GraphQL API over the REST API (default 127.0.0.1:8000).
    ServeGraphql(GraphqlArgs),
    /// Serve the whole stack in one process: REST on :5000 and GraphQL on :8000.
    Serve(StackArgs),
    /// Make a database (SQLite file, PostgreSQL, MySQL/MariaDB), a REST API or a Kafka topic a
    /// replica of a source database's articles.
    Sync(SyncArgs),
    /// Compare the articles of two databases, SQLite, PostgreSQL or MySQL/MariaDB (exit status 1
    /// when they differ).
    Verify(VerifyArgs),
    /// Apply the changes of a Kafka topic (what `sync --to kafka://…` publishes) to the REST API.
    ConsumeKafka(ConsumeArgs),
}

/// Exit status when a comparison found differences, or a sync could not copy every row.
pub const EXIT_INCOMPLETE: u8 = 1;
/// Exit status after an error (as for a command-line mistake, which clap reports).
pub const EXIT_ERROR: u8 = 2;

impl Command {
    /// Runs the chosen role to completion; the exit status it earned (0, or
    /// [`EXIT_INCOMPLETE`]). Errors are for the caller to report, with [`EXIT_ERROR`].
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let verdict = match self {
            Self::ServeRest(args) => crate::rest::run(args).await.map(|()| Verdict::Complete),
            Self::ServeGraphql(args) => crate::graphql::run(args).await.map(|()| Verdict::Complete),
            Self::Serve(args) => crate::stack::run(args).await.map(|()| Verdict::Complete),
            Self::Sync(args) => crate::sync::run(args).await,
            Self::Verify(args) => crate::sync::verify::run(args),
            Self::ConsumeKafka(args) => crate::kafka::consumer::run(args)
                .await
                .map(|()| Verdict::Complete),
        }?;
        Ok(match verdict {
            Verdict::Complete => ExitCode::SUCCESS,
            Verdict::Incomplete => ExitCode::from(EXIT_INCOMPLETE),
        })
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
