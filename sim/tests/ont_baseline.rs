//! ONT per-device baseline deviations (`[ont.device_baseline]`): what the seven extra
//! columns hold, that they leave the raw columns alone, and that they restart when a
//! device's firmware changes.

use ledgerloop_sim::bench::ont_scenario;
use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::data::{Batch, Inputs};
use ledgerloop_sim::world::ont::{OntWorld, BASELINE_FEATURES, FEATURES, N_FEATURES};
use ledgerloop_sim::world::World;

/// Column of `rx_power_vs_baseline_db` and of `fec_errors_vs_baseline_log`.
const RX_DEVIATION: usize = N_FEATURES;
const FEC_DEVIATION: usize = N_FEATURES + 4;

/// Builds the world of `scenarios/ont-offline.toml` with `overrides`.
fn world(overrides: &[&str]) -> OntWorld {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = ont_scenario(&overrides).expect("scenario");
    let cfg = scenario.ont.as_ref().expect("ont section");
    let clock = Clock::new(scenario.scenario.start, scenario.baselines.train_days);
    OntWorld::new(cfg, clock, scenario.scenario.days, scenario.scenario.seed)
}

/// The rows of hours `0..hours`, one batch per hour.
fn hours(world: &mut OntWorld, hours: u64) -> Vec<Batch> {
    (0..hours)
        .map(|h| {
            let mut batch = world.empty_batch();
            world.generate(h, &mut batch).expect("generate");
            batch
        })
        .collect()
}

fn values(batch: &Batch) -> (&[f32], usize) {
    match &batch.inputs {
        Inputs::Tabular { n_features, values } => (values, *n_features),
        other => panic!("ONT rows are tabular, got {other:?}"),
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// Enabled, the world has 19 columns named as documented; the twelve raw columns, keys,
/// labels and slices are bit-identical to a run without them (the baseline draws nothing).
#[test]
fn deviation_columns_leave_the_raw_columns_alone() {
    let small = ["ont.devices=300", "scenario.days=3"];
    let mut with = world(&[small[0], small[1], "ont.device_baseline.enabled=true"]);
    let mut without = world(&[small[0], small[1], "ont.device_baseline.enabled=false"]);
    let names: Vec<&str> = with
        .shape()
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let expected: Vec<&str> = FEATURES
        .iter()
        .map(|(n, _)| *n)
        .chain(BASELINE_FEATURES)
        .collect();
    assert_eq!(names, expected);
    assert_eq!(without.shape().features.len(), N_FEATURES);
    for (a, b) in hours(&mut with, 48)
        .iter()
        .zip(hours(&mut without, 48).iter())
    {
        let ((va, wa), (vb, wb)) = (values(a), values(b));
        assert_eq!((wa, wb), (N_FEATURES + BASELINE_FEATURES.len(), N_FEATURES));
        for (ra, rb) in va.chunks(wa).zip(vb.chunks(wb)) {
            assert_eq!(&ra[..N_FEATURES], rb);
        }
        assert_eq!(
            (&a.keys, &a.truth, &a.slices),
            (&b.keys, &b.truth, &b.slices)
        );
    }
}

/// Healthy readings sit on their device's baseline (mean receive-power deviation within
/// 0.1 dB of zero) while readings of devices that go offline within 24 h sit clearly
/// below it: the deviation separates them better than the raw receive power does.
#[test]
fn failing_devices_read_below_their_own_baseline() {
    let mut w = world(&[
        "ont.devices=3000",
        "scenario.days=1",
        "ont.drift.line_ageing.enabled=false",
    ]);
    let batches = hours(&mut w, 24 * 8);
    let (mut healthy, mut failing) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    // Day 2 onwards: every baseline has seen at least a day of readings.
    for batch in &batches[48..] {
        let (v, width) = values(batch);
        for (row, truth) in v.chunks(width).zip(&batch.truth) {
            let side = if *truth == 1 {
                &mut failing
            } else {
                &mut healthy
            };
            side.0.push(f64::from(row[RX_DEVIATION]));
            side.1.push(f64::from(row[0]));
        }
    }
    assert!(
        failing.0.len() > 1000,
        "{} failing readings",
        failing.0.len()
    );
    let healthy_deviation = mean(&healthy.0);
    assert!(healthy_deviation.abs() < 0.1, "{healthy_deviation}");
    let sd = |xs: &[f64]| {
        let m = mean(xs);
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt()
    };
    // Standardised gap between the classes, deviation vs raw column.
    let gap_deviation = (healthy_deviation - mean(&failing.0)) / sd(&healthy.0);
    let gap_raw = (mean(&healthy.1) - mean(&failing.1)) / sd(&healthy.1);
    eprintln!("standardised gap: deviation {gap_deviation:.2}, raw {gap_raw:.2}");
    assert!(
        gap_deviation > 2.0 * gap_raw,
        "{gap_deviation} vs {gap_raw}"
    );
}

/// The new firmware reports FEC x8; the baseline restarts at the upgrade, so an upgraded
/// device's FEC deviation stays near zero instead of jumping by ln 8 = 2.08.
#[test]
fn baseline_restarts_when_the_firmware_changes() {
    let mut w = world(&[
        "ont.devices=1000",
        "scenario.days=4",
        "ont.drift.firmware_rollout.start_day=1",
        "ont.drift.firmware_rollout.end_day=2",
        "ont.drift.firmware_rollout.share=1.0",
    ]);
    let warmup_hours = 7 * 24;
    let batches = hours(&mut w, warmup_hours + 4 * 24);
    let last = batches.last().expect("a batch");
    let (v, width) = values(last);
    let upgraded: Vec<f64> = v
        .chunks(width)
        .filter(|row| row[N_FEATURES - 1] == 1.0)
        .map(|row| f64::from(row[FEC_DEVIATION]))
        .collect();
    assert!(upgraded.len() > 900, "{} upgraded", upgraded.len());
    let m = mean(&upgraded);
    assert!(m.abs() < 0.3, "mean FEC deviation after the upgrade {m}");
}
