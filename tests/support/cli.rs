//! Shared helpers of the CLI tests: run the binary, read its output, name repo files,
//! and a small governed ONT run.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a spawned `ledgerloop` may run in a test.
pub const SPAWN_WAIT: Duration = Duration::from_secs(300);

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

/// Starts `ledgerloop` with `args` in the background, its output captured.
pub fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledgerloop"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledgerloop")
}

/// Waits for `child` to exit, failing the test (and killing it) after [`SPAWN_WAIT`].
pub fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + SPAWN_WAIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ledgerloop did not finish within {SPAWN_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The events of the embedded log at `log` as JSON lines (ids, sequences and hashes).
pub fn jsonl(log: &Path) -> String {
    let out = ledgerloop(&["log", "export", log.to_str().expect("utf-8"), "--jsonl"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Copies the mesh run of `ont-offline` on `url` into the run folder `to`.
pub fn export_mesh(url: &str, to: &Path) {
    let export = ledgerloop(&[
        "log",
        "export",
        "--from",
        url,
        "--scenario",
        "ont-offline",
        "--to",
        to.to_str().expect("utf-8"),
    ]);
    assert!(export.status.success(), "{}", text(&export));
}
