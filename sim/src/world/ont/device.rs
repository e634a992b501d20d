//! Device state and the per-hour reading generator of the ONT world.

use rand::Rng;

use crate::clock::Clock;
use crate::config::ont::{DeviceModel, OntConfig};
use crate::rng::{exponential, weighted_index, Normal, SimRng};

use super::{BASELINE_COLUMNS, BASELINE_SOURCES, FEATURES, FIRMWARES, N_FEATURES};

const NEVER: u64 = u64::MAX;

/// Failure modes, indices into a model's failure mix.
const OPTICAL: u8 = 0;
const LASER: u8 = 1;
const POWER: u8 = 2;

/// Fleet-wide parameters shared by every shard (read-only during generation).
#[derive(Debug)]
pub(super) struct Fleet {
    cfg: OntConfig,
    /// Initial models, then the new model last.
    models: Vec<DeviceModel>,
    initial_shares: Vec<f64>,
    clock: Clock,
    days: u32,
}

/// Everything about one hour that is the same for every device.
#[derive(Debug)]
pub(super) struct HourContext {
    hour: u64,
    /// Receive power lost to fleet-wide line ageing so far (dB).
    ageing_db: f64,
    /// Interference intensity in [0, 1] for devices of the affected region.
    interference: f64,
    /// Diurnal traffic factor.
    traffic_factor: f64,
    /// Diurnal temperature offset (degrees C).
    temperature_offset_c: f64,
}

impl Fleet {
    /// Columns per reading: the raw ones, then the baseline deviations when enabled.
    pub(super) fn n_features(&self) -> usize {
        if self.cfg.device_baseline.enabled {
            N_FEATURES + BASELINE_COLUMNS
        } else {
            N_FEATURES
        }
    }

    pub(super) fn new(cfg: &OntConfig, clock: Clock, days: u32, _seed: u64) -> Self {
        let mut models = cfg.device_models.clone();
        models.push(cfg.drift.new_device_model.model.clone());
        Self {
            initial_shares: cfg.device_models.iter().map(|m| m.share).collect(),
            models,
            cfg: cfg.clone(),
            clock,
            days,
        }
    }

    fn run_day(&self, hour: u64) -> f64 {
        (hour as f64 - self.clock.warmup_hours() as f64) / 24.0
    }

    fn hour_of_run_day(&self, day: f64) -> u64 {
        (self.clock.warmup_hours() as f64 + day * 24.0).max(0.0) as u64
    }

    pub(super) fn hour_context(&self, hour: u64) -> HourContext {
        let day = self.run_day(hour);
        let drift = &self.cfg.drift;
        let ageing = &drift.line_ageing;
        let ageing_db = if ageing.enabled && day > f64::from(ageing.start_day) {
            (day - f64::from(ageing.start_day)) * ageing.attenuation_db_per_day
        } else {
            0.0
        };
        let season = &drift.interference;
        let (s0, s1) = (f64::from(season.start_day), f64::from(season.end_day) + 1.0);
        let interference = if season.enabled && day >= s0 && day < s1 {
            (std::f64::consts::PI * (day - s0) / (s1 - s0)).sin()
        } else {
            0.0
        };
        let phase = 2.0 * std::f64::consts::PI * f64::from(self.clock.hour_of_day(hour)) / 24.0;
        HourContext {
            hour,
            ageing_db,
            interference,
            // Traffic peaks in the evening, temperature in the afternoon.
            traffic_factor: 1.0 + 0.6 * (phase - 3.5).sin(),
            temperature_offset_c: 2.5 * (phase - 2.0).sin(),
        }
    }
}

/// One device.
#[derive(Debug, Clone)]
struct Device {
    id: u64,
    model: u16,
    /// Firmware: 0 initial, 1 the rollout's, 2 the one the new model ships with.
    firmware: u16,
    /// Reports counters the new way (rollout firmware, or the new model's).
    new_firmware: bool,
    in_region: bool,
    upgrade_hour: u64,
    replace_hour: u64,
    line_loss_db: f32,
    rx_base_dbm: f32,
    tx_base_dbm: f32,
    bias_base_ma: f32,
    temp_base_c: f32,
    fec_base: f32,
    traffic_base_mb: f32,
    next_failure_hour: u64,
    precursor_start_hour: u64,
    severity: f32,
    mode: u8,
    uptime_hours: u32,
    reboots: u32,
    /// Running mean of this device's own readings in the baseline columns.
    baseline: [f64; BASELINE_COLUMNS],
    /// Readings folded into `baseline` since it last restarted.
    baseline_readings: u32,
}

/// A fixed group of devices with its own RNG.
#[derive(Debug)]
pub(super) struct Shard {
    devices: Vec<Device>,
    rng: SimRng,
    normal: Normal,
}

impl Shard {
    pub(super) fn new(fleet: &Fleet, first: usize, last: usize, mut rng: SimRng) -> Self {
        let mut normal = Normal::default();
        let devices = (first..last)
            .map(|id| new_device(fleet, id as u64, &mut rng, &mut normal))
            .collect();
        Self {
            devices,
            rng,
            normal,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.devices.len()
    }

    /// Writes this shard's rows of one hour.
    pub(super) fn generate(
        &mut self,
        fleet: &Fleet,
        ctx: &HourContext,
        values: &mut [f32],
        keys: &mut [u64],
        truth: &mut [u32],
        slices: &mut [u16],
    ) {
        let width = fleet.n_features();
        for (i, dev) in self.devices.iter_mut().enumerate() {
            step_events(fleet, dev, ctx.hour, &mut self.rng, &mut self.normal);
            let row = &mut values[i * width..(i + 1) * width];
            write_reading(fleet, dev, ctx, &mut self.rng, &mut self.normal, row);
            if width > N_FEATURES {
                write_baseline_deviations(fleet, dev, row);
            }
            keys[i] = dev.id;
            slices[i] = dev.model * FIRMWARES + dev.firmware;
            let ahead = dev.next_failure_hour.saturating_sub(ctx.hour);
            truth[i] = u32::from((1..=24).contains(&ahead));
            dev.uptime_hours += 1;
        }
    }
}

fn new_device(fleet: &Fleet, id: u64, rng: &mut SimRng, normal: &mut Normal) -> Device {
    let cfg = &fleet.cfg;
    let model = weighted_index(rng, &fleet.initial_shares) as u16;
    let rollout = &cfg.drift.firmware_rollout;
    let u: f64 = rng.gen();
    let upgrade_hour = if rollout.enabled && u < rollout.share && rollout.share > 0.0 {
        let span = f64::from(rollout.end_day - rollout.start_day);
        fleet.hour_of_run_day(f64::from(rollout.start_day) + span * u / rollout.share)
    } else {
        NEVER
    };
    let swap = &cfg.drift.new_device_model;
    let u: f64 = rng.gen();
    let replace_hour = if swap.enabled && swap.replace_share_per_day > 0.0 {
        let day = f64::from(swap.start_day) + u / swap.replace_share_per_day;
        if day < f64::from(fleet.days) {
            fleet.hour_of_run_day(day)
        } else {
            NEVER
        }
    } else {
        NEVER
    };
    let in_region = rng.gen::<f64>() < cfg.drift.interference.share;
    let line_age_days = rng.gen::<f64>() * cfg.line_age_days_max as f64;
    let mut dev = Device {
        id,
        model,
        firmware: 0,
        new_firmware: false,
        in_region,
        upgrade_hour,
        replace_hour,
        line_loss_db: (line_age_days * cfg.line_loss_dbm_per_age_day) as f32,
        rx_base_dbm: 0.0,
        tx_base_dbm: 0.0,
        bias_base_ma: 0.0,
        temp_base_c: 0.0,
        fec_base: 0.0,
        traffic_base_mb: 0.0,
        next_failure_hour: 0,
        precursor_start_hour: 0,
        severity: 0.0,
        mode: 0,
        uptime_hours: (rng.gen::<f64>() * 24.0 * 30.0) as u32,
        reboots: rng.gen_range(0..5),
        baseline: [0.0; BASELINE_COLUMNS],
        baseline_readings: 0,
    };
    draw_baselines(fleet, &mut dev, rng, normal);
    schedule_failure(fleet, &mut dev, 0, rng);
    dev
}

fn draw_baselines(fleet: &Fleet, dev: &mut Device, rng: &mut SimRng, normal: &mut Normal) {
    let m = &fleet.models[usize::from(dev.model)];
    let spread = fleet.cfg.rx_power_spread_db;
    dev.rx_base_dbm = (m.rx_power_dbm + spread * normal.sample(rng)) as f32;
    dev.tx_base_dbm = (m.tx_power_dbm + 0.3 * normal.sample(rng)) as f32;
    dev.bias_base_ma = (m.laser_bias_ma * (1.0 + 0.08 * normal.sample(rng))) as f32;
    dev.temp_base_c = (m.temperature_c + 3.0 * normal.sample(rng)) as f32;
    dev.fec_base = (m.fec_errors_per_hour * (0.5 * normal.sample(rng)).exp()) as f32;
    dev.traffic_base_mb = (300.0 * (0.8 * normal.sample(rng)).exp()) as f32;
}

/// Draws the next outage after `from_hour` and its precursor.
fn schedule_failure(fleet: &Fleet, dev: &mut Device, from_hour: u64, rng: &mut SimRng) {
    let cfg = &fleet.cfg;
    let m = &fleet.models[usize::from(dev.model)];
    let mean_hours = cfg.mean_days_between_failures * 24.0 / m.hazard_multiplier.max(1e-6);
    let gap = exponential(rng, mean_hours).max(1.0) as u64;
    dev.next_failure_hour = from_hour.saturating_add(gap.max(1));
    let lead = rng.gen_range(cfg.precursor_hours_min..=cfg.precursor_hours_max) as u64;
    dev.precursor_start_hour = dev.next_failure_hour.saturating_sub(lead);
    let mix = &m.failure_mix;
    dev.mode = weighted_index(rng, &[mix.optical, mix.laser, mix.power, mix.sudden]) as u8;
    dev.severity = (cfg.severity_min + (1.0 - cfg.severity_min) * rng.gen::<f64>()) as f32;
}

/// Firmware upgrades, model swaps and outages that happen at the start of `hour`.
fn step_events(fleet: &Fleet, dev: &mut Device, hour: u64, rng: &mut SimRng, normal: &mut Normal) {
    if hour == dev.upgrade_hour {
        dev.new_firmware = true;
        if dev.firmware == 0 {
            dev.firmware = 1;
        }
        dev.baseline_readings = 0;
        dev.uptime_hours = 0;
        dev.reboots += 1;
    }
    let new_model = (fleet.models.len() - 1) as u16;
    if hour == dev.replace_hour && dev.model != new_model {
        dev.model = new_model;
        dev.new_firmware = fleet.cfg.drift.firmware_rollout.enabled;
        dev.firmware = 2;
        dev.baseline_readings = 0;
        dev.uptime_hours = 0;
        dev.reboots = 0;
        draw_baselines(fleet, dev, rng, normal);
        schedule_failure(fleet, dev, hour, rng);
    }
    if hour >= dev.next_failure_hour {
        dev.uptime_hours = 0;
        dev.reboots += 1;
        schedule_failure(fleet, dev, hour, rng);
    }
}

/// Writes one reading: baselines + noise + precursor + drift + firmware reporting.
fn write_reading(
    fleet: &Fleet,
    dev: &Device,
    ctx: &HourContext,
    rng: &mut SimRng,
    normal: &mut Normal,
    row: &mut [f32],
) {
    let cfg = &fleet.cfg;
    let m = &fleet.models[usize::from(dev.model)];
    let sp = if ctx.hour >= dev.precursor_start_hour && ctx.hour < dev.next_failure_hour {
        let span = (dev.next_failure_hour - dev.precursor_start_hour) as f64;
        f64::from(dev.severity) * (ctx.hour - dev.precursor_start_hour + 1) as f64 / span
    } else {
        0.0
    };
    let on = |mode: u8| if dev.mode == mode { sp } else { 0.0 };
    let (optical, laser, power) = (on(OPTICAL), on(LASER), on(POWER));
    let mut n = || normal.sample(rng);
    let rx = f64::from(dev.rx_base_dbm - dev.line_loss_db) - ctx.ageing_db
        + cfg.rx_power_noise_db * n()
        - 4.0 * optical;
    let tx = f64::from(dev.tx_base_dbm) + 0.15 * n() - 1.5 * laser;
    let bias = f64::from(dev.bias_base_ma) + 0.5 * n() + 6.0 * laser;
    let temp = f64::from(dev.temp_base_c) + ctx.temperature_offset_c + 1.5 * n() + 8.0 * laser;
    let volt = m.supply_voltage_v * (1.0 + 0.01 * n()) - 0.3 * power;
    let region = if dev.in_region { ctx.interference } else { 0.0 };
    let season = &cfg.drift.interference;
    let mut fec = f64::from(dev.fec_base) * (0.7 * n() + 3.0 * optical).exp();
    fec *= 1.0 + (season.fec_multiplier - 1.0) * region;
    let mut crc = fec * 0.01 * (0.5 * n() + 1.5 * optical).exp();
    crc *= 1.0 + (season.crc_multiplier - 1.0) * region;
    let mut loss = 0.02 * (0.6 * n()).exp() + 0.8 * optical + 1.0 * power;
    loss += season.packet_loss_pct_added * region;
    let traffic =
        f64::from(dev.traffic_base_mb) * ctx.traffic_factor * (0.3 * n()).exp() * (1.0 - 0.5 * sp);
    let u: f64 = rng.gen();
    if u < cfg.glitch_rate {
        // A harmless burst of errors: the main source of false alarms in the field.
        let burst = 5.0 + 30.0 * rng.gen::<f64>();
        fec *= burst;
        crc *= burst;
        loss += 0.3 * rng.gen::<f64>();
    }
    if dev.new_firmware {
        let fw = &cfg.drift.firmware_rollout;
        fec *= fw.fec_counter_scale;
        loss *= fw.packet_loss_counter_scale;
        if fw.crc_counter_zeroed {
            crc = 0.0;
        }
    }
    let out: [f64; N_FEATURES] = [
        rx,
        tx,
        bias,
        temp,
        volt,
        crc.round(),
        fec.round(),
        loss,
        f64::from(dev.uptime_hours),
        f64::from(dev.reboots),
        traffic,
        f64::from(u8::from(dev.new_firmware)),
    ];
    for (dst, v) in row.iter_mut().zip(out) {
        *dst = v as f32;
    }
}

/// Appends how far this reading is from the device's running baseline, then folds the
/// reading into it. Reads the columns as reported (`f32`), so a collector that only sees
/// the reading computes the same numbers. Counters are compared on `ln(1 + x)`, so the
/// deviation is a ratio and does not grow with the device's usual error level.
fn write_baseline_deviations(fleet: &Fleet, dev: &mut Device, row: &mut [f32]) {
    let tracked = BASELINE_SOURCES.map(|column| {
        let x = f64::from(row[column]);
        if FEATURES[column].1 {
            x.max(0.0).ln_1p()
        } else {
            x
        }
    });
    if dev.baseline_readings == 0 {
        dev.baseline = tracked;
    }
    let tau = fleet.cfg.device_baseline.time_constant_hours;
    let weight = (1.0 / f64::from(dev.baseline_readings + 1)).max(1.0 / tau);
    for (k, v) in tracked.iter().enumerate() {
        row[N_FEATURES + k] = (v - dev.baseline[k]) as f32;
        dev.baseline[k] += weight * (v - dev.baseline[k]);
    }
    dev.baseline_readings = dev.baseline_readings.saturating_add(1);
}
