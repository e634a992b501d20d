//! Per-slice accuracy of the served arm before and after each promotion.

use std::collections::BTreeMap;

use ledgerloop_sim::engine::DayReport;

use super::escape;
use super::events::{Marker, MarkerKind};

/// Days on each side of a promotion whose per-slice accuracy is averaged.
pub const SLICE_WINDOW_DAYS: u32 = 3;
/// Index of the served arm in `SliceDay::accuracy` (static, served, oracle).
const SERVED: usize = 1;

/// Row-weighted served accuracy per slice over run days `[from, to]`.
fn served_by_slice(days: &[DayReport], from: u32, to: u32) -> BTreeMap<String, (f64, u64)> {
    let mut sums: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for d in days.iter().filter(|d| d.day >= from && d.day <= to) {
        for s in &d.slices {
            let entry = sums.entry(s.slice.clone()).or_default();
            entry.0 += s.accuracy[SERVED] * s.rows as f64;
            entry.1 += s.rows;
        }
    }
    sums.into_iter()
        .filter(|(_, (_, rows))| *rows > 0)
        .map(|(name, (sum, rows))| (name, (sum / rows as f64, rows)))
        .collect()
}

/// The table (`id="slices"`): for every promotion, each slice's served accuracy over
/// the days before and after it and the change in points.
pub fn slices_table(days: &[DayReport], markers: &[Marker]) -> String {
    let promotions: Vec<&Marker> = markers
        .iter()
        .filter(|m| m.kind == MarkerKind::Promotion)
        .collect();
    if promotions.is_empty() || days.iter().all(|d| d.slices.is_empty()) {
        return "<p id=\"slices\">No promotion with per-slice figures in this run.</p>\n".into();
    }
    let mut s = format!(
        "<p>Served accuracy per slice, row-weighted over the {SLICE_WINDOW_DAYS} days before \
         and the {SLICE_WINDOW_DAYS} days after each promotion (the promotion's own day \
         left out).</p>\n<table id=\"slices\" class=\"slices\">\n<thead><tr><th>promotion</th>\
         <th>slice</th><th>rows after</th><th>before</th><th>after</th><th>change \
         (points)</th></tr></thead>\n<tbody>\n"
    );
    for p in promotions {
        let day = p.offset_days.floor().max(0.0) as u32;
        let before = served_by_slice(
            days,
            day.saturating_sub(SLICE_WINDOW_DAYS),
            day.saturating_sub(1),
        );
        let after = served_by_slice(days, day + 1, day + SLICE_WINDOW_DAYS);
        for (slice, (acc_after, rows)) in &after {
            let (acc_before, change) = match before.get(slice) {
                Some((b, _)) if day > 0 => (
                    format!("{b:.4}"),
                    format!("{:+.2}", (acc_after - b) * 100.0),
                ),
                _ => ("-".to_string(), "-".to_string()),
            };
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{rows}</td><td>{acc_before}</td><td>{acc_after:.4}</td><td>{change}</td></tr>\n",
                escape(&p.time),
                escape(slice)
            ));
        }
    }
    s.push_str("</tbody>\n</table>\n");
    s
}
