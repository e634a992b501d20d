//! `report`: one self-contained HTML page about a run, built from its folder.
//!
//! The page reads `<run>/summary.json` (per-day accuracy of the served, static and
//! oracle arms, labels asked) and the event log `<run>/log` (the agents' decisions). It
//! shows a header with the scenario and the first and last week's accuracies, an SVG
//! chart of accuracy per day (HR@k for a ranking run) with drift alarms, training starts,
//! canaries, promotions and rollbacks marked, an SVG chart of labels asked per day
//! against the budget, the served accuracy per slice before and after each promotion,
//! and a table of the agents' decisions with the command that explains each one.
//!
//! The page holds no script, font or image from elsewhere, and no wall-clock time: the
//! same run folder always gives the same bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ledgerloop_sim::summary::{Summary, WindowMeans};

use crate::error::{Error, Result};

mod charts;
mod costs;
mod events;
mod slices;
mod table;

pub use events::{DecisionRow, LogDigest, Marker, MarkerKind, ROUTINE_TYPES};

/// The file `ledgerloop sim` and `ledgerloop report` write into a run folder.
pub const REPORT_FILE: &str = "report.html";

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;font-size:0.85em}\
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}.chart{display:block;margin:1em 0}\
.chart text{font-size:12px;fill:#333}.grid{stroke:#e6e6e6}.axis,.tick-mark{stroke:#333}\
.ev{white-space:nowrap}.explain code{font-size:0.9em}\
.alerts{background:#fff4e5;border:2px solid #e67e22;padding:0.5em 1em;margin:1em 0}\
.alerts h2{color:#b34700;margin-top:0.2em}";

/// Escapes `text` for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            other => s.push(other),
        }
    }
    s
}

/// A file of the run folder that must exist, or an error naming it.
fn required(run_dir: &Path, name: &str) -> Result<PathBuf> {
    let path = run_dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    Err(Error::MissingRunFile {
        run_dir: run_dir.to_path_buf(),
        path,
    })
}

/// Builds the report page of the run in `run_dir`.
pub fn render(run_dir: &Path) -> Result<String> {
    let summary_path = required(run_dir, "summary.json")?;
    let log_dir = required(run_dir, "log")?;
    let text = std::fs::read_to_string(&summary_path).map_err(crate::error::io(&summary_path))?;
    let summary: Summary = serde_json::from_str(&text)?;
    let digest = events::read(&log_dir, summary.scenario.scenario.start)?;
    let alerts = crate::alerts::read(&log_dir)?;
    // Costs are read from the log rather than from summary.json, so a run whose summary
    // predates costs (or a mesh run's) is reported the same way.
    let devices = summary
        .scenario
        .ont
        .as_ref()
        .map(|o| o.devices.max(0) as u64);
    let mut costs = crate::costs::summarise(&log_dir, devices)?;
    costs.per_accuracy_point = crate::costs::ledger::per_accuracy_point(&summary, &costs);
    // The explain commands name the log by its full path, so that the page is the same
    // however the run folder was spelt on the command line.
    let log_shown = std::fs::canonicalize(&log_dir).unwrap_or(log_dir);
    let extra = Sections {
        alerts: &alerts,
        costs: &costs,
    };
    Ok(page(
        &summary,
        &digest,
        &log_shown.display().to_string(),
        &extra,
    ))
}

/// The sections read from the log besides the digest.
struct Sections<'a> {
    alerts: &'a [crate::alerts::Alert],
    costs: &'a ledgerloop_sim::summary::CostSummary,
}

fn page(summary: &Summary, digest: &LogDigest, log_dir: &str, extra: &Sections<'_>) -> String {
    let meta = &summary.scenario.scenario;
    let title = format!("ledgerloop run report: {} (seed {})", meta.name, meta.seed);
    let budget_labels = summary.scenario.oracle.daily_budget.max(0) as u64;
    let budget_note =
        format!("daily budget: {budget_labels} labels (the scenario's oracle.daily_budget)");
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1 id=\"title\">{title}</h1>\n",
        title = escape(&title)
    );
    s.push_str(&header(summary, digest));
    s.push_str(&costs::alerts_section(extra.alerts, log_dir));
    // A ranking run has no classification days: its arms are judged by HR@k.
    if summary.recommend_days.is_empty() {
        s.push_str("<h2 id=\"accuracy\">Accuracy per day</h2>\n");
        s.push_str(&charts::accuracy_chart(&summary.days, &digest.markers));
    } else {
        let k = summary.recommend_days.first().map_or(0, |d| d.k);
        let _ = writeln!(s, "<h2 id=\"hit-rate\">HR@{k} per day</h2>");
        s.push_str(&charts::hit_rate_chart(
            &summary.recommend_days,
            &digest.markers,
        ));
    }
    s.push_str("\n<h2 id=\"labels\">Labels asked per day</h2>\n");
    let _ = writeln!(s, "<p class=\"budget-note\">{}.</p>", escape(&budget_note));
    s.push_str(&charts::labels_chart(
        &summary.days,
        budget_labels,
        &budget_note,
    ));
    s.push_str(&costs::costs_section(extra.costs, summary));
    s.push_str("\n<h2 id=\"slices-heading\">Slices before and after each release</h2>\n");
    s.push_str(&slices::slices_table(&summary.days, &digest.markers));
    s.push_str("\n<h2 id=\"decisions-heading\">Decisions</h2>\n");
    s.push_str(&left_out_note(digest));
    s.push_str(&table::decisions_table(&digest.rows, log_dir));
    s.push_str("</body>\n</html>\n");
    s
}

/// Scenario, seed, days, policy and the first / last week's mean accuracies (HR@k for a
/// ranking run).
fn header(summary: &Summary, digest: &LogDigest) -> String {
    let meta = &summary.scenario.scenario;
    let mut s = format!(
        "<dl id=\"run\" class=\"run\">\n<dt>scenario</dt><dd id=\"scenario\">{}</dd>\n\
         <dt>seed</dt><dd id=\"seed\">{}</dd>\n<dt>days</dt><dd id=\"days\">{}</dd>\n\
         <dt>policy</dt><dd id=\"policy\">{}</dd>\n<dt>start of day 0</dt><dd>{}</dd>\n\
         <dt>events in the log</dt><dd id=\"events\">{}</dd>\n</dl>\n",
        escape(&meta.name),
        meta.seed,
        meta.days,
        escape(&summary.policy),
        meta.start.format("%Y-%m-%d %H:%M UTC"),
        digest.events
    );
    // A ranking run's weeks are judged by HR@k; its classification weeks are empty.
    let k = summary.recommend_days.first().map(|d| d.k);
    let measure = k.map_or_else(|| "accuracy".to_string(), |k| format!("HR@{k}"));
    let _ = write!(
        s,
        "<table id=\"weeks\" class=\"weeks\">\n<thead><tr><th>mean {measure}</th><th>days</th>\
         <th>served</th><th>static</th><th>oracle</th></tr></thead>\n<tbody>\n"
    );
    for (name, window, ranking) in [
        (
            "first week",
            &summary.first_week,
            &summary.recommend_first_week,
        ),
        (
            "last week",
            &summary.last_week,
            &summary.recommend_last_week,
        ),
    ] {
        match (k, ranking) {
            (Some(_), Some(w)) => s.push_str(&week_row_values(
                name,
                (w.first_day, w.last_day),
                [w.served.hit_rate, w.static_arm.hit_rate, w.oracle.hit_rate],
            )),
            _ => s.push_str(&week_row(name, window.as_ref())),
        }
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// A week's row: its days and the served, static and oracle means.
fn week_row_values(name: &str, days: (u32, u32), means: [f64; 3]) -> String {
    format!(
        "<tr><td>{name}</td><td>{}-{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>\n",
        days.0, days.1, means[0], means[1], means[2]
    )
}

fn week_row(name: &str, window: Option<&WindowMeans>) -> String {
    match window {
        None => format!("<tr><td>{name}</td><td colspan=\"4\">no classification days</td></tr>\n"),
        Some(w) => week_row_values(
            name,
            (w.first_day, w.last_day),
            [w.served.accuracy, w.static_arm.accuracy, w.oracle.accuracy],
        ),
    }
}

/// Says how many routine decisions the table leaves out, per type.
fn left_out_note(digest: &LogDigest) -> String {
    let total: u64 = digest.left_out.values().sum();
    let parts: Vec<String> = ROUTINE_TYPES
        .iter()
        .map(|t| format!("{} {t}", digest.left_out.get(*t).copied().unwrap_or(0)))
        .collect();
    format!(
        "<p id=\"left-out\">{} decisions shown. Left out as routine: {total} ({}). \
         Run the command in a row's last column to see its causal chain.</p>\n",
        digest.rows.len(),
        escape(&parts.join(", "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character with a meaning in HTML is escaped, and nothing else changes.
    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape("a<b>&\"c\"'d'"),
            "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;"
        );
        assert_eq!(escape("plain day 3"), "plain day 3");
    }

    /// A folder without summary.json is refused with an error naming the file.
    #[test]
    fn missing_summary_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let message = render(dir.path()).expect_err("no summary").to_string();
        assert!(message.contains("summary.json"), "{message}");
    }
}
