//! The `ledgerloop` command line: a thin layer over the library crates.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let json = args.log_format == cli::logging::LogFormat::Json;
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // With JSON logs every stderr line is a JSON object, the error included;
            // otherwise it is the plain `error: <cause chain>` line people read.
            if json {
                tracing::error!("{error:#}");
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(1)
        }
    }
}
