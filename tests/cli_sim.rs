//! `ledgerloop sim` as a researcher runs it: outputs written, log verifies, same seed
//! gives byte-identical outputs, a bad scenario is a clear error.

use std::path::Path;
use std::process::{Command, Output};

fn ledgerloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledgerloop"))
        .args(args)
        .output()
        .expect("run ledgerloop")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .display()
        .to_string()
}

fn run_small(out: &Path, seed: &str) {
    let out_dir = out.to_str().expect("utf-8");
    let args = [
        "sim",
        "--scenario",
        &scenario("ont-offline.toml"),
        "--seed",
        seed,
        "--days",
        "4",
        "--set",
        "ont.devices=300",
        "--out",
        out_dir,
    ];
    let result = ledgerloop(&args);
    assert!(result.status.success(), "{}", text(&result));
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            out.extend(
                files(&path)
                    .into_iter()
                    .map(|(n, b)| (format!("{name}/{n}"), b)),
            );
        } else if name != "LOCK" {
            out.push((name, std::fs::read(&path).expect("read")));
        }
    }
    out.sort();
    out
}

/// Same scenario and seed give byte-identical log and summary; the log verifies.
#[test]
fn same_seed_gives_identical_outputs_and_a_valid_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    run_small(&a, "5");
    run_small(&b, "5");
    run_small(&c, "6");
    assert_eq!(files(&a), files(&b), "same seed, same bytes");
    assert_ne!(files(&a), files(&c), "another seed, another run");
    let verify = ledgerloop(&[
        "log",
        "verify",
        a.join("log").to_str().expect("p"),
        "--deep",
    ]);
    assert!(verify.status.success(), "{}", text(&verify));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).expect("summary"))
            .expect("json");
    assert!(summary.is_object());
}

/// A scenario file with a wrong value names the file and the key, exit code 1.
#[test]
fn bad_scenario_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    let text_in = std::fs::read_to_string(scenario("ont-offline.toml")).expect("scenario");
    let broken = text_in.replacen("devices = ", "devices = \"many\" #", 1);
    std::fs::write(&bad, broken).expect("write");
    let out = ledgerloop(&[
        "sim",
        "--scenario",
        bad.to_str().expect("p"),
        "--out",
        dir.path().join("o").to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("bad.toml") && all.contains("devices"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}
