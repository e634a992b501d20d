//! The auditor's `ledgerloop log` commands, driven as a user would: exit codes, messages,
//! and that bad input modifies nothing.

use std::path::Path;
use std::process::{Command, Output};

use ledgerloop_events::catalogue::OperatorNoted;
use ledgerloop_events::ids::deterministic_v7;
use ledgerloop_events::{
    Actor, Event, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, NewEvent, StreamId,
};

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

fn note(i: u64) -> NewEvent {
    let time = chrono::DateTime::from_timestamp(1_760_000_000 + i as i64, 0).expect("time");
    let event = Event::OperatorNoted(OperatorNoted {
        operator: "auditor".into(),
        text: format!("note {i}"),
    });
    NewEvent::new(
        deterministic_v7(time, [i as u8; 10]),
        time,
        Actor::new("operator", "cli"),
        &event,
    )
    .expect("event")
}

fn make_log(dir: &Path, events: u64) {
    let log = FileLog::open(
        dir,
        FileLogOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    )
    .expect("open");
    for i in 0..events {
        let stream =
            StreamId::new(if i % 2 == 0 { "operator" } else { "releaser" }).expect("stream");
        log.append(&stream, ExpectedVersion::Any, vec![note(i)])
            .expect("append");
    }
    log.close().expect("close");
}

/// Snapshot of every file's bytes, to prove a command modified nothing.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    files
}

/// verify exits 0 on an intact log; show, tail, stats and export work on it.
#[test]
fn intact_log_verifies_and_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_log(dir.path(), 6);
    let d = dir.path().to_str().expect("utf-8");
    let out = ledgerloop(&["log", "verify", d]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("6 events in 2 streams"),
        "{}",
        text(&out)
    );
    let out = ledgerloop(&["log", "show", d, "--stream", "releaser", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = ledgerloop(&["log", "tail", d, "-n", "2"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out)
    );
    let out = ledgerloop(&["log", "stats", d, "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats json");
    assert_eq!(stats["events"], 6);
    assert_eq!(stats["per_stream"]["operator"], 3);
}

/// export then import into a new directory gives a log with the same hashes.
#[test]
fn export_import_round_trip_keeps_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    make_log(&src, 9);
    let file = dir.path().join("events.jsonl");
    let out = ledgerloop(&[
        "log",
        "export",
        src.to_str().expect("p"),
        "--jsonl",
        "--out",
        file.to_str().expect("p"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = dir.path().join("copy");
    let out = ledgerloop(&[
        "log",
        "import",
        copy.to_str().expect("p"),
        "--jsonl",
        file.to_str().expect("p"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let hashes = |p: &Path| -> Vec<String> {
        let log = FileLog::open_read_only(p).expect("open");
        log.read_all(0)
            .expect("read")
            .map(|e| e.expect("event").hash.to_hex())
            .collect()
    };
    assert_eq!(hashes(&src), hashes(&copy));
}

/// A flipped byte makes verify exit 1 naming the position, stream and kind.
#[test]
fn damaged_log_exits_1_with_the_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_log(dir.path(), 4);
    let seg = dir.path().join(format!("{:020}.seg", 0));
    let mut bytes = std::fs::read(&seg).expect("segment");
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&seg, &bytes).expect("write");
    let out = ledgerloop(&["log", "verify", dir.path().to_str().expect("p"), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["ok"], false);
    assert!(report["damage"]["position"].is_u64(), "{report}");
    assert!(report["damage"]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with(".seg")));
}

/// Bad inputs are clear errors with exit code 1, no panic, and nothing is modified.
#[test]
fn bad_inputs_are_clear_errors_and_modify_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory that is not a log.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    std::fs::write(plain.join("notes.txt"), b"hello").expect("write");
    // A log written by a future format.
    let future = dir.path().join("future");
    make_log(&future, 2);
    std::fs::write(future.join("FORMAT"), b"ledgerloop-log 9\n").expect("write");
    // A truncated index.
    let truncated = dir.path().join("truncated");
    make_log(&truncated, 3);
    let index = truncated.join("index.bin");
    let len = std::fs::metadata(&index).expect("index").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .expect("open")
        .set_len(len - 7)
        .expect("truncate");
    // An unknown event type and a future schema version (as a newer build would write).
    let unknown = dir.path().join("unknown");
    let newer = dir.path().join("newer");
    for (path, event_type, version) in [
        (&unknown, "ModelSummoned", 1u16),
        (&newer, "OperatorNoted", 9),
    ] {
        let log = FileLog::open(path, FileLogOptions::default()).expect("open");
        let mut event = note(1);
        event.event_type = event_type.into();
        event.schema_version = version;
        log.append(
            &StreamId::new("x").expect("s"),
            ExpectedVersion::Any,
            vec![event],
        )
        .expect("append");
        log.close().expect("close");
    }
    let cases = [
        (&plain, "is not a ledgerloop log"),
        (&future, "newer than this build"),
        (&truncated, "index"),
        (&unknown, "unknown event type 'ModelSummoned'"),
        (&newer, "schema version 9 is newer"),
    ];
    for (path, message) in cases {
        let before = contents(path);
        let p = path.to_str().expect("p");
        for args in [vec!["log", "verify", p, "--deep"], vec!["log", "show", p]] {
            let out = ledgerloop(&args);
            let all = text(&out);
            if args[1] == "show" && (path == &unknown || path == &newer) {
                // show prints raw payloads of any type; only decoding commands refuse.
                assert!(out.status.success(), "{args:?}: {all}");
                continue;
            }
            assert_eq!(out.status.code(), Some(1), "{args:?}: {all}");
            assert!(
                all.contains(message),
                "{args:?}: expected '{message}' in: {all}"
            );
            assert!(!all.contains("panicked"), "{all}");
        }
        assert_eq!(contents(path), before, "{} was modified", path.display());
    }
}

/// Runs `ledgerloop ARGS`, reads a little of its stdout and closes the pipe, as `| head`
/// does; returns the exit status and stderr.
fn read_a_little(args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerloop"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ledgerloop");
    let mut first = [0u8; 64];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A reader that stops early (`| head`) ends `log show` and `log export` quietly with
/// the status SIGPIPE gives (141), never a panic or an error message.
#[test]
fn closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Far more than a pipe buffer (64 KiB) of output, so the writer meets the closed pipe.
    make_log(dir.path(), 5000);
    let log = dir.path().to_str().expect("p");
    for args in [
        vec!["log", "show", log],
        vec!["log", "export", log, "--jsonl"],
    ] {
        let (status, stderr) = read_a_little(&args);
        assert_eq!(status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
}
