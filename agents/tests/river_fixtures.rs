//! Compares every detector with River 0.26.1 on the committed fixture streams.
//!
//! `fixtures/drift_river.json` is written by `fixtures/make_drift_fixtures.py`; it holds
//! seeded input streams and, for each detector and parameter set, the indices at which
//! River flagged drift and warning. The detections here must be identical.

use std::collections::BTreeMap;

use ledgerloop_agents::drift::{
    Adwin, AdwinParams, AnyDetector, Ddm, DdmParams, DriftDetector, HddmA, HddmAParams, HddmW,
    HddmWParams, Kswin, KswinParams, PageHinkley, PageHinkleyMode, PageHinkleyParams,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Fixture {
    river_version: String,
    streams: BTreeMap<String, Vec<f64>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    detector: String,
    params: BTreeMap<String, Value>,
    stream: String,
    drifts: Vec<usize>,
    warnings: Vec<usize>,
}

fn load() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drift_river.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file is committed");
    serde_json::from_str(&text).expect("fixture is valid JSON")
}

fn f(p: &BTreeMap<String, Value>, k: &str, default: f64) -> f64 {
    p.get(k).and_then(Value::as_f64).unwrap_or(default)
}

fn u(p: &BTreeMap<String, Value>, k: &str, default: u32) -> u32 {
    p.get(k)
        .and_then(Value::as_u64)
        .map_or(default, |v| u32::try_from(v).expect("fits"))
}

fn b(p: &BTreeMap<String, Value>, k: &str, default: bool) -> bool {
    p.get(k).and_then(Value::as_bool).unwrap_or(default)
}

type Params = BTreeMap<String, Value>;

fn adwin(p: &Params) -> AnyDetector {
    let d = AdwinParams::default();
    let params = AdwinParams {
        delta: f(p, "delta", d.delta),
        clock: u(p, "clock", d.clock),
        max_buckets: u(p, "max_buckets", d.max_buckets),
        min_window_length: u(p, "min_window_length", d.min_window_length),
        grace_period: u(p, "grace_period", d.grace_period),
    };
    AnyDetector::Adwin(Adwin::new(params).expect("valid"))
}

fn ddm(p: &Params) -> AnyDetector {
    let d = DdmParams::default();
    let params = DdmParams {
        warm_start: u(p, "warm_start", d.warm_start),
        warning_threshold: f(p, "warning_threshold", d.warning_threshold),
        drift_threshold: f(p, "drift_threshold", d.drift_threshold),
    };
    AnyDetector::Ddm(Ddm::new(params).expect("valid"))
}

fn hddm_a(p: &Params) -> AnyDetector {
    let d = HddmAParams::default();
    let params = HddmAParams {
        drift_confidence: f(p, "drift_confidence", d.drift_confidence),
        warning_confidence: f(p, "warning_confidence", d.warning_confidence),
        two_sided_test: b(p, "two_sided_test", d.two_sided_test),
    };
    AnyDetector::HddmA(HddmA::new(params).expect("valid"))
}

fn hddm_w(p: &Params) -> AnyDetector {
    let d = HddmWParams::default();
    let params = HddmWParams {
        drift_confidence: f(p, "drift_confidence", d.drift_confidence),
        warning_confidence: f(p, "warning_confidence", d.warning_confidence),
        lambda_val: f(p, "lambda_val", d.lambda_val),
        two_sided_test: b(p, "two_sided_test", d.two_sided_test),
    };
    AnyDetector::HddmW(HddmW::new(params).expect("valid"))
}

fn page_hinkley(p: &Params) -> AnyDetector {
    let d = PageHinkleyParams::default();
    let mode = match p.get("mode").and_then(Value::as_str) {
        Some("up") => PageHinkleyMode::Up,
        Some("down") => PageHinkleyMode::Down,
        _ => PageHinkleyMode::Both,
    };
    let params = PageHinkleyParams {
        min_instances: u(p, "min_instances", d.min_instances),
        delta: f(p, "delta", d.delta),
        threshold: f(p, "threshold", d.threshold),
        alpha: f(p, "alpha", d.alpha),
        mode,
    };
    AnyDetector::PageHinkley(PageHinkley::new(params).expect("valid"))
}

fn kswin(p: &Params) -> AnyDetector {
    let d = KswinParams::default();
    let params = KswinParams {
        alpha: f(p, "alpha", d.alpha),
        window_size: u(p, "window_size", d.window_size),
        stat_size: u(p, "stat_size", d.stat_size),
        seed: p
            .get("seed")
            .and_then(Value::as_u64)
            .expect("fixtures seed KSWIN"),
    };
    AnyDetector::Kswin(Kswin::new(params).expect("valid"))
}

/// Builds the detector a fixture case names, from River's parameter names and defaults.
fn build(name: &str, p: &Params) -> AnyDetector {
    match name {
        "ADWIN" => adwin(p),
        "DDM" => ddm(p),
        "HDDM_A" => hddm_a(p),
        "HDDM_W" => hddm_w(p),
        "PageHinkley" => page_hinkley(p),
        "KSWIN" => kswin(p),
        other => panic!("fixture names an unknown detector {other}"),
    }
}

/// Every detector, parameter set and stream flags drift and warning at exactly River's indices.
#[test]
fn detections_identical_to_river() {
    let fx = load();
    assert_eq!(fx.river_version, "0.26.1");
    let mut mismatches = Vec::new();
    let (mut drifts, mut warnings) = (0usize, 0usize);
    for case in &fx.cases {
        let mut det = build(&case.detector, &case.params);
        let (mut got_d, mut got_w) = (Vec::new(), Vec::new());
        for (i, &x) in fx.streams[&case.stream].iter().enumerate() {
            let out = det.update(x);
            if out.drift {
                got_d.push(i);
            }
            if out.warning {
                got_w.push(i);
            }
        }
        drifts += case.drifts.len();
        warnings += case.warnings.len();
        if got_d != case.drifts || got_w != case.warnings {
            mismatches.push(format!(
                "{} {:?} on {}: drifts {:?} vs River {:?}; warnings {} vs {}",
                case.detector,
                case.params,
                case.stream,
                got_d,
                case.drifts,
                got_w.len(),
                case.warnings.len()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatching cases:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The fixture must exercise the detectors, not just agree on silence.
    assert!(
        fx.cases.len() >= 90 && drifts >= 300 && warnings >= 3000,
        "{drifts} {warnings}"
    );
}
