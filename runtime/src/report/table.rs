//! The decision table: one row per agent decision, with its evidence, rule and the
//! command that explains it.

use std::fmt::Write as _;

use super::escape;
use super::events::DecisionRow;

/// Formats an evidence number: integers without decimals, the rest with four.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// The `<table id="decisions">` of every row; `log_dir` goes into the explain commands.
pub fn decisions_table(rows: &[DecisionRow], log_dir: &str) -> String {
    let mut s = String::from(
        "<table id=\"decisions\" class=\"decisions\">\n<thead><tr><th>time (UTC)</th>\
         <th>day</th><th>stream</th><th>type</th><th>model</th><th>evidence</th>\
         <th>rule</th><th>explain</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        s.push_str(&table_row(row, log_dir));
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

fn table_row(row: &DecisionRow, log_dir: &str) -> String {
    let mut evidence = String::new();
    for (name, value) in &row.evidence {
        let _ = write!(
            evidence,
            "<span class=\"ev\">{}={}</span> ",
            escape(name),
            number(*value)
        );
    }
    if row.evidence_hidden > 0 {
        let _ = write!(
            evidence,
            "<span class=\"ev-more\">(+{} more)</span>",
            row.evidence_hidden
        );
    }
    let command = format!("ledgerloop explain {} --log {log_dir}", row.id);
    format!(
        "<tr id=\"e-{id}\" class=\"decision type-{event_type}\"><td>{time}</td><td>{day}</td>\
         <td>{stream}</td><td>{event_type}</td><td class=\"model\">{model}</td>\
         <td class=\"evidence\">{evidence}</td><td class=\"rule\">{rule}</td>\
         <td class=\"explain\"><code>{command}</code></td></tr>\n",
        id = escape(&row.id),
        time = escape(&row.time),
        day = row.offset_days.floor(),
        stream = escape(&row.stream),
        event_type = escape(&row.event_type),
        model = escape(row.model_id.as_deref().unwrap_or("")),
        evidence = evidence.trim_end(),
        rule = escape(&row.rule),
        command = escape(&command),
    )
}
