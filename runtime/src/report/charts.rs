//! The hand-written SVG charts: the arms' accuracy per day (HR@k per day for a ranking
//! run) with event markers, and labels asked per day against the daily budget.

use std::fmt::Write as _;

use ledgerloop_sim::engine::DayReport;
use ledgerloop_sim::world::recommend::RecommendDay;

use super::escape;
use super::events::{Marker, MarkerKind};

const WIDTH_PX: f64 = 960.0;
const HEIGHT_PX: f64 = 360.0;
const LEFT_PX: f64 = 64.0;
const RIGHT_PX: f64 = 180.0;
const TOP_PX: f64 = 16.0;
const BOTTOM_PX: f64 = 52.0;
/// Most day ticks on the x axis.
const MAX_X_TICKS: u32 = 15;

/// One arm of the per-day chart.
struct Arm {
    /// Name shown in the legend and tooltips.
    name: &'static str,
    /// Line colour.
    colour: &'static str,
}

/// The three arms, in the order of [`ArmDay::values`]; the name doubles as the CSS class
/// suffix (`series-<name>`).
const ARMS: [Arm; 3] = [
    Arm {
        name: "served",
        colour: "#1f77b4",
    },
    Arm {
        name: "static",
        colour: "#7f7f7f",
    },
    Arm {
        name: "oracle",
        colour: "#2ca02c",
    },
];

/// One day of the per-day chart: the served, static and oracle values.
struct ArmDay {
    day: u32,
    values: [f64; 3],
}

/// What the per-day chart of the arms shows.
struct ArmChart<'a> {
    id: &'a str,
    title: &'a str,
    y_label: &'a str,
    /// The top of the y axis when it is fixed (accuracy: 1.0); otherwise the tenth
    /// above the highest value, so that low rates such as HR@10 are not squashed.
    y_high: Option<f64>,
}

/// The plotting area: data ranges and their mapping to pixels.
struct Frame {
    first_day: f64,
    end_day: f64,
    y_low: f64,
    y_high: f64,
}

impl Frame {
    fn x_px(&self, days: f64) -> f64 {
        let width = WIDTH_PX - LEFT_PX - RIGHT_PX;
        LEFT_PX + (days - self.first_day) / (self.end_day - self.first_day) * width
    }

    fn y_px(&self, value: f64) -> f64 {
        let height = HEIGHT_PX - TOP_PX - BOTTOM_PX;
        HEIGHT_PX - BOTTOM_PX - (value - self.y_low) / (self.y_high - self.y_low) * height
    }

    fn for_days(days: &[DayReport], y_low: f64, y_high: f64) -> Self {
        let first_day = days.first().map_or(0, |d| d.day);
        let last_day = days.last().map_or(0, |d| d.day);
        Self::span(first_day, last_day, y_low, y_high)
    }

    fn span(first_day: u32, last_day: u32, y_low: f64, y_high: f64) -> Self {
        Frame {
            first_day: f64::from(first_day),
            end_day: f64::from(last_day) + 1.0,
            y_low,
            y_high,
        }
    }
}

/// The opening tag of a chart with its title.
fn open_svg(id: &str, title: &str) -> String {
    format!(
        "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{WIDTH_PX}\" height=\"{HEIGHT_PX}\" viewBox=\"0 0 {WIDTH_PX} {HEIGHT_PX}\" \
         role=\"img\" aria-label=\"{title}\">\n<title>{title}</title>\n",
        title = escape(title)
    )
}

/// A chart with a note instead of data, for runs without per-day figures.
fn empty_svg(id: &str, title: &str) -> String {
    empty_svg_saying(id, title, "This run has no per-day classification figures.")
}

/// A chart with `note` instead of data.
fn empty_svg_saying(id: &str, title: &str, note: &str) -> String {
    let mut svg = open_svg(id, title);
    let _ = writeln!(
        svg,
        "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
         {}</text>\n</svg>",
        WIDTH_PX / 2.0,
        HEIGHT_PX / 2.0,
        escape(note)
    );
    svg
}

/// Axis lines, ticks, grid and axis labels.
fn axes(frame: &Frame, y_ticks: &[(f64, String)], x_label: &str, y_label: &str) -> String {
    let (left, right) = (LEFT_PX, WIDTH_PX - RIGHT_PX);
    let (top, bottom) = (TOP_PX, HEIGHT_PX - BOTTOM_PX);
    let mut s = String::from("<g class=\"axes\">\n");
    for (value, label) in y_ticks {
        let y = frame.y_px(*value);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick y-tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            escape(label)
        );
    }
    let span_days = (frame.end_day - frame.first_day) as u32;
    let step_days = span_days.div_ceil(MAX_X_TICKS).max(1);
    for day in (frame.first_day as u32..frame.end_day as u32).step_by(step_days as usize) {
        let x = frame.x_px(f64::from(day) + 0.5);
        let _ = writeln!(
            s,
            "<line class=\"tick-mark\" x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick x-tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{day}</text>",
            bottom + 5.0,
            bottom + 18.0
        );
    }
    let _ = writeln!(
        s,
        "<line class=\"axis\" x1=\"{left:.1}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\"/>\n\
         <line class=\"axis\" x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{bottom:.1}\"/>\n\
         <text class=\"axis-label x-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"axis-label y-label\" transform=\"translate(16 {:.1}) rotate(-90)\" \
         text-anchor=\"middle\">{}</text>\n</g>",
        (left + right) / 2.0,
        HEIGHT_PX - 10.0,
        escape(x_label),
        (top + bottom) / 2.0,
        escape(y_label)
    );
    s
}

/// One legend entry at row `index`: a short line in `colour`, then `label`.
fn legend_entry(index: usize, class: &str, colour: &str, dashed: bool, label: &str) -> String {
    let x = WIDTH_PX - RIGHT_PX + 16.0;
    let y = TOP_PX + 10.0 + 20.0 * index as f64;
    let dash = if dashed {
        " stroke-dasharray=\"4 3\""
    } else {
        ""
    };
    format!(
        "<g class=\"legend-entry {class}\"><line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" \
         y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2.5\"{dash}/><text x=\"{:.1}\" \
         y=\"{:.1}\">{}</text></g>\n",
        x + 24.0,
        x + 30.0,
        y + 4.0,
        escape(label)
    )
}

/// The accuracy chart: one line per arm, one vertical line per marker.
pub fn accuracy_chart(days: &[DayReport], markers: &[Marker]) -> String {
    let chart = ArmChart {
        id: "accuracy-chart",
        title: "Accuracy per day: served, static and oracle",
        y_label: "accuracy",
        y_high: Some(1.0),
    };
    if days.is_empty() {
        return empty_svg(chart.id, chart.title);
    }
    let points: Vec<ArmDay> = days
        .iter()
        .map(|d| ArmDay {
            day: d.day,
            values: [d.served.accuracy, d.static_arm.accuracy, d.oracle.accuracy],
        })
        .collect();
    arm_chart(&chart, &points, markers)
}

/// The chart of a ranking run: HR@k (the share of sessions whose consumed item was in
/// the slate) per day of the served, static and oracle rankers, with the markers.
pub fn hit_rate_chart(days: &[RecommendDay], markers: &[Marker]) -> String {
    let k = days.first().map_or(0, |d| d.k);
    let (title, y_label) = (
        format!("HR@{k} per day: served, static and oracle"),
        format!("HR@{k}"),
    );
    let chart = ArmChart {
        id: "hit-rate-chart",
        title: &title,
        y_label: &y_label,
        y_high: None,
    };
    if days.is_empty() {
        return empty_svg_saying(
            chart.id,
            chart.title,
            "This run has no per-day ranking figures.",
        );
    }
    let points: Vec<ArmDay> = days
        .iter()
        .map(|d| ArmDay {
            day: d.day,
            values: [d.served.hit_rate, d.static_arm.hit_rate, d.oracle.hit_rate],
        })
        .collect();
    arm_chart(&chart, &points, markers)
}

/// One line per arm over `days` (not empty), one vertical line per marker, a legend.
fn arm_chart(chart: &ArmChart<'_>, days: &[ArmDay], markers: &[Marker]) -> String {
    let values = || days.iter().flat_map(|d| d.values);
    let lowest = values().fold(1.0_f64, f64::min);
    let y_low = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let y_high = chart.y_high.unwrap_or_else(|| {
        let highest = values().fold(0.0_f64, f64::max);
        ((highest * 10.0).ceil() / 10.0).clamp(y_low + 0.1, 1.0)
    });
    let first_day = days.first().map_or(0, |d| d.day);
    let last_day = days.last().map_or(0, |d| d.day);
    let frame = Frame::span(first_day, last_day, y_low, y_high);
    let y_ticks: Vec<(f64, String)> = (0..=10)
        .map(|i| f64::from(i) / 10.0)
        .filter(|v| *v >= y_low - 1e-9 && *v <= y_high + 1e-9)
        .map(|v| (v, format!("{v:.1}")))
        .collect();
    let mut svg = open_svg(chart.id, chart.title);
    svg.push_str(&axes(&frame, &y_ticks, "day of the run", chart.y_label));
    svg.push_str(&marker_lines(&frame, markers));
    for (index, arm) in ARMS.iter().enumerate() {
        svg.push_str(&series(&frame, days, index, arm));
    }
    svg.push_str("<g class=\"legend\">\n");
    for (index, arm) in ARMS.iter().enumerate() {
        svg.push_str(&legend_entry(
            index,
            &format!("series-{}", arm.name),
            arm.colour,
            false,
            arm.name,
        ));
    }
    for (index, kind) in MarkerKind::ALL.iter().enumerate() {
        let class = format!("marker-{}", kind.class());
        svg.push_str(&legend_entry(
            index + 4,
            &class,
            kind.colour(),
            true,
            kind.label(),
        ));
    }
    svg.push_str("</g>\n</svg>");
    svg
}

/// Arm `index`'s line with a dot per day; each dot's title gives the day and value.
fn series(frame: &Frame, days: &[ArmDay], index: usize, arm: &Arm) -> String {
    let (name, colour) = (arm.name, arm.colour);
    let points: Vec<(f64, f64, u32, f64)> = days
        .iter()
        .map(|d| {
            let x = frame.x_px(f64::from(d.day) + 0.5);
            let value = d.values[index];
            (x, frame.y_px(value), d.day, value)
        })
        .collect();
    let path: Vec<String> = points
        .iter()
        .map(|(x, y, ..)| format!("{x:.1},{y:.1}"))
        .collect();
    let mut s = format!(
        "<g class=\"series series-{name}\">\n<polyline fill=\"none\" stroke=\"{colour}\" \
         stroke-width=\"2\" points=\"{}\"/>\n",
        path.join(" ")
    );
    for (x, y, day, value) in points {
        let _ = writeln!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"{colour}\"><title>{} day {day}: \
             {value:.4}</title></circle>",
            escape(name)
        );
    }
    s.push_str("</g>\n");
    s
}

/// Vertical dashed lines for the markers inside the chart's days.
fn marker_lines(frame: &Frame, markers: &[Marker]) -> String {
    let mut s = String::from("<g class=\"markers\">\n");
    let (top, bottom) = (TOP_PX, HEIGHT_PX - BOTTOM_PX);
    let inside = |m: &&Marker| m.offset_days >= frame.first_day && m.offset_days <= frame.end_day;
    for marker in markers.iter().filter(inside) {
        // Each kind is nudged sideways a little, so that an alarm and the training it
        // started in the same hour both stay visible.
        let nudge_px = (marker.kind as usize as f64 - 2.0) * 2.0;
        let x = frame.x_px(marker.offset_days) + nudge_px;
        let _ = writeln!(
            s,
            "<line class=\"marker marker-{}\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" \
             y2=\"{bottom:.1}\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\">\
             <title>{} at {}</title></line>",
            marker.kind.class(),
            marker.kind.colour(),
            escape(marker.kind.label()),
            escape(&marker.time)
        );
    }
    s.push_str("</g>\n");
    s
}

/// A round step (1, 2 or 5 times a power of ten) giving about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

/// The labels chart: one bar per day of labels asked, a dashed line at the budget.
pub fn labels_chart(days: &[DayReport], budget_labels: u64, budget_note: &str) -> String {
    const ID: &str = "labels-chart";
    const TITLE: &str = "Labels asked per day against the daily budget";
    if days.is_empty() {
        return empty_svg(ID, TITLE);
    }
    let most = days.iter().map(|d| d.labels.asked).max().unwrap_or(0);
    let top = most.max(budget_labels).max(1) as f64 * 1.1;
    let step = nice_step(top);
    let frame = Frame::for_days(days, 0.0, top);
    let y_ticks: Vec<(f64, String)> = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|v| *v <= top)
        .map(|v| (v, format!("{v:.0}")))
        .collect();
    let mut svg = open_svg(ID, TITLE);
    svg.push_str(&axes(&frame, &y_ticks, "day of the run", "labels asked"));
    svg.push_str("<g class=\"bars\">\n");
    let bar_px = (frame.x_px(1.0) - frame.x_px(0.0)) * 0.7;
    for d in days {
        let x = frame.x_px(f64::from(d.day) + 0.5) - bar_px / 2.0;
        let y = frame.y_px(d.labels.asked as f64);
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_px:.1}\" height=\"{:.1}\" \
             fill=\"#1f77b4\"><title>day {}: {} labels asked</title></rect>",
            frame.y_px(0.0) - y,
            d.day,
            d.labels.asked
        );
    }
    let y = frame.y_px(budget_labels as f64);
    let _ = writeln!(
        svg,
        "</g>\n<line class=\"budget\" x1=\"{LEFT_PX:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" \
         stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>{}</title></line>",
        WIDTH_PX - RIGHT_PX,
        escape(budget_note)
    );
    svg.push_str("<g class=\"legend\">\n");
    svg.push_str(&legend_entry(
        0,
        "legend-asked",
        "#1f77b4",
        false,
        "labels asked",
    ));
    let budget_label = format!("daily budget ({budget_labels})");
    svg.push_str(&legend_entry(
        1,
        "legend-budget",
        "#d62728",
        true,
        &budget_label,
    ));
    svg.push_str("</g>\n</svg>");
    svg
}
