//! The ONT throughput benchmark: the full engine (world, static predictions served,
//! oracle baseline retrained daily, metrics) over a fleet, timed, with the process's
//! peak resident memory. `ledgerloop bench sim` calls [`bench_ont`].

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Scenario;
use crate::error::Result;
use crate::policy::StaticPolicy;
use crate::run::run_scenario;

/// The default ONT scenario, compiled in so the benchmark needs no files.
pub const ONT_SCENARIO_TOML: &str = include_str!("../../scenarios/ont-offline.toml");

/// Result of one benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Devices simulated.
    pub devices: u64,
    /// Days simulated (after the warm-up).
    pub days: u32,
    /// Readings of the run days (devices x days x 24), each predicted by the static,
    /// served and oracle arms.
    pub readings: u64,
    /// Readings of the warm-up week as well (generated, not predicted).
    pub warmup_readings: u64,
    /// Wall time (seconds).
    pub elapsed_s: f64,
    /// Readings (warm-up included) per second.
    pub readings_per_s: f64,
    /// Peak resident set size of the process (KiB; 0 where /proc is unavailable).
    pub peak_rss_kib: u64,
    /// Static accuracy, first and last week.
    pub static_accuracy_first_last: (f64, f64),
}

/// The built-in ONT scenario with `overrides` applied.
pub fn ont_scenario(overrides: &[String]) -> Result<Scenario> {
    Scenario::from_toml_str(
        ONT_SCENARIO_TOML,
        Path::new("scenarios/ont-offline.toml"),
        overrides,
    )
}

/// Runs the ONT scenario with `devices` devices for `days` days and times it.
pub fn bench_ont(devices: u64, days: u32, seed: u64) -> Result<BenchReport> {
    let scenario = ont_scenario(&[
        format!("ont.devices={devices}"),
        format!("scenario.days={days}"),
        format!("scenario.seed={seed}"),
    ])?;
    let started = Instant::now();
    let out = run_scenario(&scenario, &mut StaticPolicy::default())?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let readings = devices * u64::from(days) * 24;
    let warmup_readings = devices * u64::from(scenario.baselines.train_days) * 24;
    let week = out.days.len().min(7);
    let mean = |d: &[crate::engine::DayReport]| {
        d.iter().map(|x| x.static_arm.accuracy).sum::<f64>() / d.len().max(1) as f64
    };
    Ok(BenchReport {
        devices,
        days,
        readings,
        warmup_readings,
        elapsed_s,
        readings_per_s: (readings + warmup_readings) as f64 / elapsed_s.max(1e-9),
        peak_rss_kib: peak_rss_kib(),
        static_accuracy_first_last: (
            mean(&out.days[..week]),
            mean(&out.days[out.days.len() - week..]),
        ),
    })
}

/// What `ledgerloop bench sim` runs: [`bench_ont`] with the figures by default
/// (10,000 devices, 90 days, seed 7).
pub fn bench_sim(
    devices: Option<u64>,
    days: Option<u32>,
    seed: Option<u64>,
) -> Result<BenchReport> {
    bench_ont(
        devices.unwrap_or(BENCH_DEVICES),
        days.unwrap_or(BENCH_DAYS),
        seed.unwrap_or(BENCH_SEED),
    )
}

/// Fleet size of the reference benchmark.
pub const BENCH_DEVICES: u64 = 10_000;
/// Days of the reference benchmark.
pub const BENCH_DAYS: u32 = 90;
/// Seed of the reference benchmark.
pub const BENCH_SEED: u64 = 7;

/// Peak resident set size (VmHWM) of this process in KiB, 0 if unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
