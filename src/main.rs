//! `articles`: parse the command line, start logging, run the chosen role.

use clap::Parser;

use articles::cli::{Cli, EXIT_ERROR};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    articles::telemetry::init("info");
    let result = actix_web::rt::System::new().block_on(cli.command.run());
    match result {
        Ok(status) => status,
        Err(error) => {
            // One line an operator can act on: the error and its causes.
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(EXIT_ERROR)
        }
    }
}
