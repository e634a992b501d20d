//! Logs: `tracing` events from every crate, written to standard error by
//! `tracing-subscriber`, one line each, in a human format or as JSON objects
//! (`--log-format json`). Standard output is left to results, which scripts and tests
//! parse.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use super::progress;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event: time, level, message, fields.
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `message`, fields, `target`.
    Json,
}

/// Without `RUST_LOG`: warnings of dependencies, and information of ledgerloop's own
/// crates, which is a few lines per command (run start and end, audit stages).
pub const DEFAULT_FILTER: &str = "warn,ledgerloop=info,ledgerloop_events=info,\
     ledgerloop_sim=info,ledgerloop_agents=info,ledgerloop_models=info,ledgerloop_runtime=info";

/// With `--quiet`: errors only.
pub const QUIET_FILTER: &str = "error";

/// Installs the global subscriber. `--quiet` wins over `RUST_LOG` (a flag given on the
/// command line is more specific than an environment the shell may set for everything);
/// otherwise `RUST_LOG` wins over the default. A `RUST_LOG` that does not parse is
/// reported and the default is used, so a typo never hides errors.
pub fn init(format: LogFormat, quiet: bool) {
    let (filter, refused) = filter(quiet, std::env::var("RUST_LOG").ok());
    let human = (format == LogFormat::Human).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(StderrLines)
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(StderrLines)
    });
    // A second initialisation (impossible from `main`) would only keep the first
    // subscriber, which is harmless, so its error is ignored rather than unwrapped.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(human)
        .with(json)
        .try_init();
    if let Some((spec, reason)) = refused {
        tracing::warn!(
            "RUST_LOG={spec:?} is not a filter ({reason}); using the default. \
             Example: RUST_LOG=info,ledgerloop_sim=debug"
        );
    }
}

/// The filter to use and, when `RUST_LOG` was refused, its text and why.
fn filter(quiet: bool, rust_log: Option<String>) -> (EnvFilter, Option<(String, String)>) {
    if quiet {
        return (EnvFilter::new(QUIET_FILTER), None);
    }
    match rust_log {
        Some(spec) if !spec.trim().is_empty() => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(DEFAULT_FILTER), Some((spec, e.to_string()))),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    }
}

/// Writes each log line to standard error in one piece, hiding the progress bar while it
/// does, so that a line never lands in the middle of the bar.
#[derive(Debug, Clone, Copy)]
struct StderrLines;

/// One log line, written when dropped (the formatter drops its writer after each event).
#[derive(Debug, Default)]
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.0);
        progress::suspended(|| {
            // Standard error is the last place to report to; if it fails there is
            // nowhere left to say so.
            let _ = std::io::stderr().lock().write_all(&bytes);
        });
    }
}

impl<'a> MakeWriter<'a> for StderrLines {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--quiet` beats `RUST_LOG`; a bad `RUST_LOG` falls back to the default and says so.
    #[test]
    fn filter_precedence() {
        let (f, refused) = filter(true, Some("debug".into()));
        assert_eq!(f.to_string(), QUIET_FILTER);
        assert!(refused.is_none());
        let (f, refused) = filter(false, Some("ledgerloop_sim=debug".into()));
        assert_eq!(f.to_string(), "ledgerloop_sim=debug");
        assert!(refused.is_none());
        let (_, refused) = filter(false, Some("ledgerloop_sim=loud".into()));
        assert!(refused.is_some());
        let (_, refused) = filter(false, None);
        assert!(refused.is_none());
    }
}
