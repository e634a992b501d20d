//! The run report as a researcher gets it: `sim` writes `report.html` beside the log,
//! `report` rebuilds the very same bytes from the run folder, a folder that is not a
//! run is refused by name, and (when Chromium is installed) a browser finds the charts
//! and the decision table in the page.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;
use std::process::Command;

use cli::{ledgerloop, run_governed, text};

/// The path of a `chromium` binary on PATH, if one is installed.
fn chromium() -> Option<String> {
    let found = Command::new("which").arg("chromium").output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (found.status.success() && !path.is_empty()).then_some(path)
}

/// `sim` writes a report with both charts and a non-empty decision table, `report` on the same folder rebuilds it byte for byte, and a headless browser (when installed) finds the charts and the table in the page's DOM.
#[test]
fn sim_writes_a_report_that_report_rebuilds_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let run = run_governed(&out, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let written = out.join("report.html");
    assert!(text(&run).contains("report.html"), "{}", text(&run));
    let html = std::fs::read_to_string(&written).expect("sim wrote report.html");
    for id in [
        "<svg id=\"accuracy-chart\"",
        "<svg id=\"labels-chart\"",
        "<table id=\"decisions\"",
        "id=\"slices\"",
    ] {
        assert!(html.contains(id), "report lacks {id}");
    }
    assert!(
        html.contains("<tr id=\"e-"),
        "no decision row in the report"
    );
    assert!(html.contains("ledgerloop explain "), "no explain command");
    assert!(!html.contains("<script"), "the page must hold no script");

    let again = dir.path().join("again.html");
    let rebuilt = ledgerloop(&[
        "report",
        out.to_str().expect("utf-8"),
        "--out",
        again.to_str().expect("utf-8"),
    ]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let second = std::fs::read(&again).expect("report wrote --out");
    assert!(
        second == html.as_bytes(),
        "report differs from the one sim wrote"
    );

    check_in_browser(&written);
}

/// Renders the page in headless Chromium and checks the DOM; skipped with a printed reason when Chromium is absent.
fn check_in_browser(page: &Path) {
    let Some(browser) = chromium() else {
        println!("skipping the browser check: no `chromium` on PATH");
        return;
    };
    let url = format!("file://{}", page.display());
    let dumped = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("run chromium");
    assert!(dumped.status.success(), "{}", text(&dumped));
    let dom = String::from_utf8_lossy(&dumped.stdout);
    for id in [
        "id=\"accuracy-chart\"",
        "id=\"labels-chart\"",
        "id=\"decisions\"",
    ] {
        assert!(dom.contains(id), "the browser's DOM lacks {id}");
    }
    assert!(
        dom.contains("<tr id=\"e-"),
        "the browser's DOM has no decision row"
    );
}

/// `report` on a folder without summary.json fails with a non-zero exit and names the missing file.
#[test]
fn report_of_a_folder_without_summary_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ledgerloop(&["report", dir.path().to_str().expect("utf-8")]);
    let message = text(&out);
    assert!(!out.status.success(), "{message}");
    assert!(message.contains("summary.json"), "{message}");
    assert!(!dir.path().join("report.html").exists());
}
