//! What a person at the terminal gets, checked from the outside: redirected output holds
//! no progress-bar control characters, `--quiet` silences stderr, `--log-format json`
//! writes one JSON object per stderr line, every command's help carries an example, and
//! errors end with a hint.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;
use std::process::{Command, Output};

use cli::{repo_file, text};

/// Runs `ledgerloop` with `args`, `RUST_LOG` set to `rust_log` or removed, so that a
/// `RUST_LOG` of the person running the tests cannot change what stderr holds.
fn ledgerloop_env(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledgerloop"));
    command.args(args);
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    command.output().expect("run ledgerloop")
}

/// The shortest governed run of the CLI tests (300 devices, 4 days) into `out`, with
/// `global` flags before the subcommand.
fn short_sim(out: &Path, global: &[&str], rust_log: Option<&str>) -> Output {
    let scenario = repo_file("scenarios/ont-offline.toml");
    let mut args = global.to_vec();
    args.extend_from_slice(&[
        "sim",
        "--scenario",
        &scenario,
        "--days",
        "4",
        "--set",
        "ont.devices=300",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    ledgerloop_env(&args, rust_log)
}

/// No escape sequence and no carriage return, the marks of a progress bar.
fn assert_plain(bytes: &[u8], what: &str) {
    assert!(!bytes.contains(&0x1b), "{what} holds an escape sequence");
    assert!(!bytes.contains(&b'\r'), "{what} holds a carriage return");
}

/// With stdout and stderr redirected, `sim` writes no progress-bar control characters
/// (with and without `--quiet`), and `--quiet` leaves stderr empty.
#[test]
fn redirected_sim_has_no_control_characters_and_quiet_is_silent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = short_sim(&dir.path().join("plain"), &[], None);
    assert!(run.status.success(), "{}", text(&run));
    assert_plain(&run.stdout, "stdout");
    assert_plain(&run.stderr, "stderr");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("run finished"), "default logs: {stderr}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("report:"));

    let quiet = short_sim(&dir.path().join("quiet"), &["--quiet"], None);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_plain(&quiet.stdout, "stdout with --quiet");
    assert!(
        quiet.stderr.is_empty(),
        "--quiet wrote to stderr: {}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let table = |out: &Output, name: &str| String::from_utf8_lossy(&out.stdout).replace(name, "");
    assert_eq!(
        table(&run, "plain"),
        table(&quiet, "quiet"),
        "--quiet changed stdout"
    );
}

/// Every stderr line is a JSON object with a level and a message under `--log-format
/// json`, the per-day debug lines and a failing command's error included.
#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let filter = "info,ledgerloop_sim=debug,ledgerloop_runtime=debug";
    let run = short_sim(
        &dir.path().join("run"),
        &["--log-format", "json"],
        Some(filter),
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_plain(&run.stderr, "stderr");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        assert!(line.is_object(), "{line}");
        assert!(line["level"].is_string(), "no level: {line}");
        assert!(line["message"].is_string(), "no message: {line}");
    }
    let days = lines
        .iter()
        .filter(|l| l["message"] == "day closed" && l["level"] == "DEBUG")
        .count();
    assert_eq!(days, 4, "one debug line per simulated day");
    assert!(lines.iter().any(|l| l["message"] == "run finished"));

    let missing = dir.path().join("missing.toml");
    let args = ["--log-format", "json", "sim", "--scenario"];
    let failed = ledgerloop_env(
        &[&args[..], &[missing.to_str().expect("utf-8")]].concat(),
        None,
    );
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON line");
    assert_eq!(error["level"], "ERROR", "{error}");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains("missing.toml") && message.contains("hint:"),
        "{message}"
    );
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect()
}

/// `--help` of the root command and of every command and subcommand shows an example.
#[test]
fn every_help_has_an_example() {
    let mut pending = vec![Vec::<String>::new()];
    let mut checked = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = ledgerloop_env(&args, None);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            help.contains("Example"),
            "`ledgerloop {args:?}` has no example:\n{help}"
        );
        for name in subcommands(&help) {
            pending.push([path.clone(), vec![name]].concat());
        }
        checked += 1;
    }
    // The root, log (7), sim, audit, explain, report, bench (2).
    assert!(checked >= 15, "only {checked} help texts found");
}

/// A path that is not a log is refused with a hint naming what to give instead.
#[test]
fn errors_suggest_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = dir.path().join("nowhere");
    let nowhere = nowhere.to_str().expect("utf-8");
    for args in [vec!["audit", nowhere], vec!["log", "stats", nowhere]] {
        let out = ledgerloop_env(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("hint: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains("out/ont-offline-seed7/log"),
            "{args:?}: {stderr}"
        );
    }
}
