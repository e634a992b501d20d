//! Shared helpers of the CLI tests: run the binary, read its output, name repo files,
//! and a small governed ONT run.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `ledgerloop` with `args`.
pub fn ledgerloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledgerloop"))
        .args(args)
        .output()
        .expect("run ledgerloop")
}

/// Standard output followed by standard error.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A file of the repository, as a string path.
pub fn repo_file(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// A small governed ONT run (1,500 devices, 14 days, firmware rollout on days 2-6) into
/// `out`, with `extra` arguments appended.
pub fn run_governed(out: &Path, extra: &[&str]) -> Output {
    let scenario = repo_file("scenarios/ont-offline.toml");
    let out_dir = out.to_str().expect("utf-8");
    let mut args = vec![
        "sim",
        "--scenario",
        &scenario,
        "--days",
        "14",
        "--set",
        "ont.devices=1500",
        "--set",
        "ont.drift.firmware_rollout.start_day=2",
        "--set",
        "ont.drift.firmware_rollout.end_day=6",
        "--out",
        out_dir,
    ];
    args.extend_from_slice(extra);
    ledgerloop(&args)
}
