//! The report's alerts (highlighted, each linking the decision that raised it) and
//! costs (totals, the trade-off against accuracy, and one row per loop iteration).

use std::fmt::Write as _;

use ledgerloop_sim::summary::{CostSummary, Summary};

use super::escape;
use super::table::number;
use crate::alerts::Alert;

/// Accuracy points per unit of accuracy.
const POINTS: f64 = 100.0;

/// The highlighted `<section id="alerts">`: one line per alert, newest last, each
/// linking the decision's row in the table below and naming its explain command.
pub fn alerts_section(alerts: &[Alert], log_dir: &str) -> String {
    let mut s = String::from("<section id=\"alerts\" class=\"alerts\">\n<h2>Alerts</h2>\n");
    if alerts.is_empty() {
        s.push_str("<p id=\"no-alerts\">No alerts: no drift confirmed, gate failed, rollback, exhausted budget or failed worker.</p>\n</section>\n");
        return s;
    }
    let _ = writeln!(s, "<p>{} alerts an operator must see.</p>", alerts.len());
    s.push_str(
        "<table id=\"alert-table\">\n<thead><tr><th>time (UTC)</th><th>alert</th><th>model</th>\
         <th>what</th><th>raised by</th></tr></thead>\n<tbody>\n",
    );
    for a in alerts {
        let _ = writeln!(
            s,
            "<tr class=\"alert alert-{kind}\"><td>{time}</td><td>{kind}</td><td>{model}</td>\
             <td>{message}</td><td><a href=\"#e-{id}\">{id}</a><br><code>ledgerloop explain \
             {id} --log {log}</code></td></tr>",
            kind = a.kind.name(),
            time = escape(&a.time),
            model = escape(a.model_id.as_deref().unwrap_or("")),
            message = escape(&a.message),
            id = a.decision_id,
            log = escape(log_dir),
        );
    }
    s.push_str("</tbody>\n</table>\n</section>\n");
    s
}

/// The `<section id="costs">`: what the loop spent, what it bought, and per iteration.
pub fn costs_section(costs: &CostSummary, summary: &Summary) -> String {
    let t = &costs.totals;
    let mut s = String::from("<section id=\"costs\">\n<h2>Costs</h2>\n");
    let _ = writeln!(
        s,
        "<p class=\"cost-note\">CPU seconds are modelled (rows x epochs x parameters times \
         the policy file's <code>[host.costs]</code> constants), not measured, so the same \
         seed gives the same numbers.</p>"
    );
    s.push_str("<table id=\"cost-totals\">\n<tbody>\n");
    let gained = summary
        .last_week
        .as_ref()
        .map(|w| (w.served.accuracy - w.static_arm.accuracy) * POINTS);
    let mut rows = vec![
        ("cpu seconds (all workers)", number3(t.cpu_seconds)),
        ("of which training", number3(t.cpu_seconds_training)),
        ("of which distillation", number3(t.cpu_seconds_distillation)),
        ("of which evaluation", number3(t.cpu_seconds_evaluation)),
        ("labels bought", t.labels_bought.to_string()),
        ("artifact bytes", t.artifact_bytes.to_string()),
        (
            "canary exposure (fleet-hours)",
            number3(t.exposure_fleet_hours),
        ),
        (
            "canary exposure (device-hours)",
            number(t.exposure_device_hours),
        ),
        ("training jobs started", t.jobs_started.to_string()),
        ("promotions", t.promotions.to_string()),
    ];
    if let Some(g) = gained {
        rows.push((
            "last week: served minus static accuracy (points)",
            number3(g),
        ));
    }
    if let Some(p) = &costs.per_accuracy_point {
        rows.push((
            "cpu seconds per point gained",
            number3(p.cpu_seconds_per_point),
        ));
        rows.push(("labels per point gained", number3(p.labels_per_point)));
    }
    for (reason, n) in &costs.deferred_by_reason {
        rows.push((deferral_label(reason), n.to_string()));
    }
    for (name, value) in rows {
        let _ = writeln!(
            s,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(&value)
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s.push_str(&iterations_table(costs));
    s.push_str("</section>\n");
    s
}

/// The row label of the retrain deferrals of one reason.
fn deferral_label(reason: &str) -> &'static str {
    match reason {
        "not_worth_it" => "retrains deferred: not worth it (noticed, not acted on)",
        "budget_exhausted" => "retrains deferred: budget exhausted",
        "cooldown" => "retrains deferred: cool-down",
        "too_few_labels" => "retrains deferred: too few labels",
        "job_running" => "retrains deferred: job running",
        "backoff" => "retrains deferred: back-off after a failure",
        "gave_up" => "retrains given up",
        _ => "retrains deferred: other",
    }
}

fn number3(v: f64) -> String {
    format!("{v:.3}")
}

fn iterations_table(costs: &CostSummary) -> String {
    let mut s = String::from(
        "<table id=\"cost-iterations\">\n<thead><tr><th>job</th><th>hour</th><th>outcome</th>\
         <th>expected gain (points)</th><th>expected cpu s</th>\
         <th>of which distil + eval</th><th>cpu s</th>\
         <th>labels</th><th>artifact bytes</th><th>canary device-hours</th></tr></thead>\n<tbody>\n",
    );
    for it in &costs.iterations {
        let opt = |v: Option<f64>| v.map_or(String::from("-"), number3);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&it.job_id),
            it.started_hour,
            escape(&it.outcome),
            opt(it.estimated_gain_points),
            opt(it.estimated_cpu_seconds),
            opt(it.estimated_cpu_seconds_distil_eval),
            number3(it.cpu_seconds),
            it.labels,
            it.artifact_bytes,
            number(it.exposure_device_hours),
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s
}
