//! `ledgerloop report`: rebuilds a run's self-contained HTML report from its folder
//! (`summary.json` and the event log).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::report::{render, REPORT_FILE};

pub const EXAMPLES: &str = "\
Examples:
  # Rebuild the page `sim` wrote, in place.
  ledgerloop report out/ont-offline-seed7
  # Write it elsewhere (the run folder is only read).
  ledgerloop report out/ont-offline-seed7 --out /tmp/ont-report.html";

/// Arguments of `ledgerloop report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder (holds summary.json and log/), e.g. out/ont-offline-seed7.
    pub run_dir: PathBuf,
    /// Where to write the page; defaults to `<run-dir>/report.html`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Builds the report of `run_dir` and writes it to `out`; returns the path written.
pub fn write_report(run_dir: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let html =
        render(run_dir).with_context(|| format!("building the report of {}", run_dir.display()))?;
    std::fs::write(out, html).with_context(|| format!("writing {}", out.display()))?;
    Ok(out.to_path_buf())
}

/// Writes the report and prints where it went.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run_dir.join(REPORT_FILE));
    let written = write_report(&args.run_dir, &out)?;
    println!("report: {}", written.display());
    Ok(())
}
