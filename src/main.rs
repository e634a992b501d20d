//! The `ledgerloop` command line: a thin layer over the library crates.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// Exit status of a process that wrote to a closed pipe (128 + SIGPIPE), as a shell
/// expects from `ledgerloop log export | head`.
const EXIT_BROKEN_PIPE: i32 = 141;

/// `println!` panics when the reader of stdout has gone (`| head`). Rust ignores
/// SIGPIPE, and restoring it would need `unsafe`; a reader that stopped reading is not
/// an error of ours, so that one panic ends the process quietly with the status SIGPIPE
/// would have given. Every other panic keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info);
    }));
}

/// Whether the error is stdout's reader having gone away (a write error of a command
/// that streams its output), which ends the command quietly like `println!` does.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let args = cli::Cli::parse();
    let json = args.log_format == cli::logging::LogFormat::Json;
    match cli::run(args) {
        Ok(code) => code,
        Err(error) if closed_pipe(&error) => ExitCode::from(EXIT_BROKEN_PIPE as u8),
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
