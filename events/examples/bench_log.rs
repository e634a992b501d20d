//! Runs the benchmark behind `ledgerloop bench log` without building the CLI:
//! `cargo run --release -p ledgerloop-events --example bench_log -- [events] [dir]`.
//! The scratch directory (default: `.ledgerloop-bench-<pid>` in the current directory,
//! as the CLI does) must not exist and is removed afterwards.

use ledgerloop_events::bench::{self, LogBenchConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let events = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::current_dir()?.join(format!(".ledgerloop-bench-{}", std::process::id())),
    };
    anyhow::ensure!(!dir.exists(), "{} exists; give a fresh dir", dir.display());
    let figures = bench::run(
        &dir,
        LogBenchConfig {
            events,
            ..LogBenchConfig::default()
        },
    );
    let removed = std::fs::remove_dir_all(&dir);
    let figures = figures?;
    removed?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}
