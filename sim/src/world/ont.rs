//! The ONT fleet. Each device has baselines drawn from its model, an age of line, and a
//! pre-drawn next outage; in the hours before an outage a precursor (depending on the
//! failure mode) grows in its readings. The label of a reading is "goes offline within
//! the next 24 h", known to the world because outages are scheduled ahead.
//!
//! Devices are grouped in fixed shards of [`SHARD_DEVICES`], each with its own RNG, so
//! shards can be generated on several threads and the output does not depend on the
//! thread count.

mod device;

use crate::clock::Clock;
use crate::config::ont::OntConfig;
use crate::data::{Batch, FeatureSpec, Inputs, TaskShape};
use crate::error::Result;
use crate::rng::component_rng;
use crate::world::World;

use device::{Fleet, Shard};

/// Devices per RNG shard (fixed: changing it changes every draw).
pub const SHARD_DEVICES: usize = 1024;

/// Reading columns, units last. Counters are heavy-tailed and marked `log_scale`.
pub const FEATURES: [(&str, bool); N_FEATURES] = [
    ("rx_power_dbm", false),
    ("tx_power_dbm", false),
    ("laser_bias_ma", false),
    ("temperature_c", false),
    ("supply_voltage_v", false),
    ("crc_errors_per_hour", true),
    ("fec_errors_per_hour", true),
    ("packet_loss_pct", true),
    ("uptime_hours", true),
    ("reboot_count", true),
    ("traffic_mb", true),
    ("firmware_generation", false),
];

/// Deviation columns appended when `[ont.device_baseline]` is enabled, in the order the
/// device code computes them (units last; `log` = difference of `ln(1 + x)`).
pub const BASELINE_FEATURES: [&str; BASELINE_COLUMNS] = [
    "rx_power_vs_baseline_db",
    "tx_power_vs_baseline_db",
    "laser_bias_vs_baseline_ma",
    "temperature_vs_baseline_c",
    "fec_errors_vs_baseline_log",
    "packet_loss_vs_baseline_log",
    "traffic_vs_baseline_log",
];

/// Number of deviation columns.
pub const BASELINE_COLUMNS: usize = 7;

/// Per deviation column, the raw column it follows (index into [`FEATURES`]); a
/// log-scaled counter there is compared on `ln(1 + x)`.
pub(crate) const BASELINE_SOURCES: [usize; BASELINE_COLUMNS] = [
    0,  // rx_power_dbm
    1,  // tx_power_dbm
    2,  // laser_bias_ma
    3,  // temperature_c
    6,  // fec_errors_per_hour
    7,  // packet_loss_pct
    10, // traffic_mb
];

/// Firmware slots per device model in the slice list (initial, rollout, new model's).
pub const FIRMWARES: u16 = 3;

/// Number of reading columns.
pub const N_FEATURES: usize = 12;

/// The ONT world.
#[derive(Debug)]
pub struct OntWorld {
    shape: TaskShape,
    fleet: Fleet,
    shards: Vec<Shard>,
    threads: usize,
}

impl OntWorld {
    /// Builds the fleet for `cfg` with the scenario seed.
    pub fn new(cfg: &OntConfig, clock: Clock, days: u32, seed: u64) -> Self {
        let fleet = Fleet::new(cfg, clock, days, seed);
        let devices = cfg.devices as usize;
        let shards = (0..devices.div_ceil(SHARD_DEVICES))
            .map(|s| {
                let first = s * SHARD_DEVICES;
                let last = (first + SHARD_DEVICES).min(devices);
                let rng = component_rng(seed, &format!("world/ont/shard/{s}"));
                Shard::new(&fleet, first, last, rng)
            })
            .collect();
        // One slice per (model, firmware): `HG8145/V5R019`, ... (empty ones are not reported).
        let firmwares = [
            &cfg.initial_firmware,
            &cfg.drift.firmware_rollout.version,
            &cfg.drift.new_device_model.firmware,
        ];
        let slice_names: Vec<String> = cfg
            .device_models
            .iter()
            .chain(std::iter::once(&cfg.drift.new_device_model.model))
            .flat_map(|m| firmwares.iter().map(move |fw| format!("{}/{fw}", m.name)))
            .collect();
        let shape = TaskShape {
            class_names: vec!["online".into(), "offline_within_24h".into()],
            features: FEATURES
                .iter()
                .map(|(name, log_scale)| (*name, *log_scale))
                .chain(
                    BASELINE_FEATURES
                        .iter()
                        .filter(|_| cfg.device_baseline.enabled)
                        .map(|name| (*name, false)),
                )
                .map(|(name, log_scale)| FeatureSpec {
                    name: name.to_string(),
                    log_scale,
                })
                .collect(),
            slice_names,
        };
        Self {
            shape,
            fleet,
            shards,
            threads: cfg.threads as usize,
        }
    }

    /// Devices in the fleet.
    pub fn devices(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }
}

impl World for OntWorld {
    fn shape(&self) -> &TaskShape {
        &self.shape
    }

    fn empty_batch(&self) -> Batch {
        Batch::new(Inputs::Tabular {
            n_features: self.fleet.n_features(),
            values: Vec::new(),
        })
    }

    fn generate(&mut self, hour: u64, batch: &mut Batch) -> Result<()> {
        let n = self.devices();
        batch.hour = hour;
        batch.keys.resize(n, 0);
        batch.truth.resize(n, 0);
        batch.slices.resize(n, 0);
        let Inputs::Tabular { values, .. } = &mut batch.inputs else {
            return Ok(());
        };
        let width = self.fleet.n_features();
        values.resize(n * width, 0.0);
        let ctx = self.fleet.hour_context(hour);
        let fleet = &self.fleet;
        // Pair each shard with its disjoint slices of the output buffers.
        let mut jobs: Vec<_> = self
            .shards
            .iter_mut()
            .zip(values.chunks_mut(SHARD_DEVICES * width))
            .zip(batch.keys.chunks_mut(SHARD_DEVICES))
            .zip(batch.truth.chunks_mut(SHARD_DEVICES))
            .zip(batch.slices.chunks_mut(SHARD_DEVICES))
            .map(|((((s, v), k), t), sl)| (s, v, k, t, sl))
            .collect();
        let per_thread = jobs.len().div_ceil(self.threads.max(1)).max(1);
        if self.threads <= 1 || jobs.len() <= 1 {
            for (s, v, k, t, sl) in jobs.iter_mut() {
                s.generate(fleet, &ctx, v, k, t, sl);
            }
            return Ok(());
        }
        std::thread::scope(|scope| {
            for group in jobs.chunks_mut(per_thread) {
                let ctx = &ctx;
                scope.spawn(move || {
                    for (s, v, k, t, sl) in group.iter_mut() {
                        s.generate(fleet, ctx, v, k, t, sl);
                    }
                });
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each deviation column follows the raw column it is named after.
    #[test]
    fn deviation_columns_follow_the_raw_columns_they_name() {
        for (name, column) in BASELINE_FEATURES.iter().zip(BASELINE_SOURCES) {
            let (raw, _) = FEATURES[column];
            let stem = name.split("_vs_baseline").next().unwrap_or_default();
            assert!(raw.starts_with(stem), "{name} follows {raw}");
        }
    }
}
