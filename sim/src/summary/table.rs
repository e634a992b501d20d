//! The terminal table: one line per day for static / served / oracle, then the first-
//! and last-week means and any quarantined rows.

use std::fmt::Write as _;

use super::{RecommendWindow, Summary, WindowMeans};
use crate::metrics::ArmDay;
use crate::world::recommend::RecommendArm;

/// Quarantined rows listed in the table (the summary holds them all).
const QUARANTINE_SHOWN: usize = 10;

/// Renders the whole table.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    if !s.days.is_empty() {
        classification(s, &mut out);
    }
    if !s.recommend_days.is_empty() {
        recommend(s, &mut out);
    }
    if !s.quarantined.is_empty() {
        let _ = writeln!(out, "quarantined rows: {}", s.quarantined.len());
        for q in s.quarantined.iter().take(QUARANTINE_SHOWN) {
            let _ = writeln!(out, "  {}:{}: {}", q.file, q.line, q.reason);
        }
    }
    out
}

fn classification(s: &Summary, out: &mut String) {
    let _ = writeln!(
        out,
        "{:>4} {:<10} | {:^20} | {:^20} | {:^20} | {:>7}",
        "day", "date", "static acc/bal/f1", "served acc/bal/f1", "oracle acc/bal/f1", "labels"
    );
    let _ = writeln!(out, "{}", "-".repeat(96));
    let cell = |a: &ArmDay| format!("{:.3} {:.3} {:.3}", a.accuracy, a.balanced_accuracy, a.f1);
    for d in &s.days {
        let _ = writeln!(
            out,
            "{:>4} {:<10} | {:^20} | {:^20} | {:^20} | {:>7}",
            d.day,
            d.date,
            cell(&d.static_arm),
            cell(&d.served),
            cell(&d.oracle),
            d.labels.asked
        );
    }
    let w = |name: &str, m: &WindowMeans| {
        format!(
            "{name} (days {}-{}): accuracy static {:.3} | served {:.3} | oracle {:.3}\n",
            m.first_day, m.last_day, m.static_arm.accuracy, m.served.accuracy, m.oracle.accuracy
        )
    };
    if let (Some(f), Some(l)) = (&s.first_week, &s.last_week) {
        out.push_str(&w("first week", f));
        out.push_str(&w("last week ", l));
    }
}

fn recommend(s: &Summary, out: &mut String) {
    let k = s.recommend_days.first().map_or(0, |d| d.k);
    let head = format!("ctr/hr@{k}/ndcg@{k}");
    let _ = writeln!(
        out,
        "{:>4} {:<10} | {:^20} | {:^20} | {:^20} | {:>8}",
        "day",
        "date",
        format!("static {head}"),
        format!("served {head}"),
        format!("oracle {head}"),
        "online"
    );
    let _ = writeln!(out, "{}", "-".repeat(98));
    let cell = |a: &RecommendArm| format!("{:.3} {:.3} {:.3}", a.ctr, a.hit_rate, a.ndcg);
    for d in &s.recommend_days {
        let online = d.served_versions.first().map_or(0.0, |v| v.ctr);
        let _ = writeln!(
            out,
            "{:>4} {:<10} | {:^20} | {:^20} | {:^20} | {:>8.3}",
            d.day,
            d.date,
            cell(&d.static_arm),
            cell(&d.served),
            cell(&d.oracle),
            online
        );
    }
    let w = |name: &str, m: &RecommendWindow| {
        format!(
            "{name} (days {}-{}): hr@{k} static {:.3} | served {:.3} | oracle {:.3}\n",
            m.first_day, m.last_day, m.static_arm.hit_rate, m.served.hit_rate, m.oracle.hit_rate
        )
    };
    if let (Some(f), Some(l)) = (&s.recommend_first_week, &s.recommend_last_week) {
        out.push_str(&w("first week", f));
        out.push_str(&w("last week ", l));
    }
}
