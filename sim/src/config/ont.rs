//! `[ont]`: the ONT fleet and its drift schedule. Every field is documented in
//! `scenarios/ont-offline.toml`; units are in the names.

use serde::{Deserialize, Serialize};

use super::Check;
use crate::error::Result;

/// Most device models in the initial fleet (slices are `u16`: model x firmware).
pub const MAX_DEVICE_MODELS: usize = 1000;

/// The ONT world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OntConfig {
    /// Devices in the fleet (constant; replaced devices keep their slot).
    pub devices: i64,
    /// Worker threads generating readings (output does not depend on it).
    pub threads: i64,
    /// Mean days between two outages of one device (before model multipliers).
    pub mean_days_between_failures: f64,
    /// Shortest warning period: hours between the first precursor and the outage.
    pub precursor_hours_min: i64,
    /// Longest warning period.
    pub precursor_hours_max: i64,
    /// Weakest precursor severity in [0, 1] (1 = textbook degradation).
    pub severity_min: f64,
    /// Initial line age is uniform in [0, this].
    pub line_age_days_max: i64,
    /// Receive power lost per day of line age at install (dBm per day).
    pub line_loss_dbm_per_age_day: f64,
    /// Device-to-device spread of the baseline receive power (standard deviation, dB).
    pub rx_power_spread_db: f64,
    /// Hour-to-hour noise of receive power (standard deviation, dB).
    pub rx_power_noise_db: f64,
    /// Probability per device-hour of a harmless glitch (error burst, no outage).
    pub glitch_rate: f64,
    /// Device models in the initial fleet.
    pub device_models: Vec<DeviceModel>,
    /// Firmware name of the initial fleet.
    pub initial_firmware: String,
    /// Scheduled changes.
    pub drift: OntDrift,
    /// Per-device baseline deviations computed at the collector (off when absent, so
    /// scenario files written before it keep their columns and their logs).
    #[serde(default)]
    pub device_baseline: DeviceBaseline,
}

/// `[ont.device_baseline]`: the collector keeps a running baseline of each device's own
/// readings and reports, beside the raw columns, how far the reading is from it.
///
/// Devices differ from each other by more than a precursor moves one of them (receive
/// power spreads 1.5 dB across the fleet, an optical precursor lowers it by up to 4 dB),
/// so "this device is 2 dB below its usual" separates failing devices from healthy ones
/// that merely sit on a long line. The baseline restarts when the device's model or
/// firmware changes, because both move its usual readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceBaseline {
    /// Adds the deviation columns when true.
    pub enabled: bool,
    /// Time constant of the exponential running mean (hours); the first readings after a
    /// restart are averaged with equal weight until this many have been seen.
    pub time_constant_hours: f64,
}

impl Default for DeviceBaseline {
    fn default() -> Self {
        Self {
            enabled: false,
            time_constant_hours: 168.0,
        }
    }
}

/// One device model's baselines and failure behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceModel {
    /// Model name (a slice in reports).
    pub name: String,
    /// Share of the initial fleet (shares are normalised).
    pub share: f64,
    /// Typical receive power (dBm).
    pub rx_power_dbm: f64,
    /// Typical transmit power (dBm).
    pub tx_power_dbm: f64,
    /// Typical laser bias current (mA).
    pub laser_bias_ma: f64,
    /// Typical case temperature (degrees C).
    pub temperature_c: f64,
    /// Nominal supply voltage (V).
    pub supply_voltage_v: f64,
    /// Typical corrected FEC codewords per hour.
    pub fec_errors_per_hour: f64,
    /// Outage rate relative to `mean_days_between_failures`.
    pub hazard_multiplier: f64,
    /// How its outages announce themselves.
    pub failure_mix: FailureMix,
}

/// Relative weights of failure modes (normalised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureMix {
    /// Fibre / connector degradation: receive power falls, FEC and CRC errors rise.
    pub optical: f64,
    /// Laser wear-out: bias current and temperature rise, transmit power falls.
    pub laser: f64,
    /// Power supply: voltage sags, packet loss rises.
    pub power: f64,
    /// No warning at all (power cut, cable cut).
    pub sudden: f64,
}

/// `[ont.drift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OntDrift {
    /// New firmware that reports counters differently.
    pub firmware_rollout: FirmwareRollout,
    /// Receive power slowly falls as lines age.
    pub line_ageing: LineAgeing,
    /// A season of interference in one region.
    pub interference: Interference,
    /// A new device model enters the fleet.
    pub new_device_model: NewDeviceModel,
}

/// `[ont.drift.firmware_rollout]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareRollout {
    /// Off switch.
    pub enabled: bool,
    /// Name of the new firmware.
    pub version: String,
    /// First day of the rollout.
    pub start_day: u32,
    /// Day by which the whole share is upgraded.
    pub end_day: u32,
    /// Share of the fleet upgraded.
    pub share: f64,
    /// New firmware counts FEC in 4-symbol units: reported value = true value x this.
    pub fec_counter_scale: f64,
    /// New firmware reports packet loss per mille: reported value = true value x this.
    pub packet_loss_counter_scale: f64,
    /// New firmware stops reporting CRC errors (always 0).
    pub crc_counter_zeroed: bool,
}

/// `[ont.drift.line_ageing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineAgeing {
    /// Off switch.
    pub enabled: bool,
    /// Day ageing starts to show.
    pub start_day: u32,
    /// Receive power lost per day across the fleet (dB).
    pub attenuation_db_per_day: f64,
}

/// `[ont.drift.interference]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interference {
    /// Off switch.
    pub enabled: bool,
    /// First day of the season.
    pub start_day: u32,
    /// Last day of the season (intensity peaks half-way).
    pub end_day: u32,
    /// Share of the fleet in the affected region.
    pub share: f64,
    /// CRC errors are multiplied by up to this.
    pub crc_multiplier: f64,
    /// FEC errors are multiplied by up to this.
    pub fec_multiplier: f64,
    /// Packet loss rises by up to this many percentage points.
    pub packet_loss_pct_added: f64,
}

/// `[ont.drift.new_device_model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceModel {
    /// Off switch.
    pub enabled: bool,
    /// First day the model is installed.
    pub start_day: u32,
    /// Share of the fleet swapped to it per day from then on.
    pub replace_share_per_day: f64,
    /// Firmware the new model ships with.
    pub firmware: String,
    /// The model itself.
    pub model: DeviceModel,
}

impl OntConfig {
    /// Rejects impossible values.
    pub fn validate(&self, c: &Check<'_>) -> Result<()> {
        c.range_i("ont.devices", self.devices, 1, 1_000_000)?;
        c.range_i("ont.threads", self.threads, 1, 64)?;
        c.range_f(
            "ont.mean_days_between_failures",
            self.mean_days_between_failures,
            1.0,
            1e5,
        )?;
        c.range_i(
            "ont.precursor_hours_min",
            self.precursor_hours_min,
            1,
            24 * 30,
        )?;
        c.range_i(
            "ont.precursor_hours_max",
            self.precursor_hours_max,
            self.precursor_hours_min,
            24 * 30,
        )?;
        c.fraction("ont.severity_min", self.severity_min)?;
        c.range_i("ont.line_age_days_max", self.line_age_days_max, 0, 36_500)?;
        c.range_f(
            "ont.line_loss_dbm_per_age_day",
            self.line_loss_dbm_per_age_day,
            0.0,
            1.0,
        )?;
        c.range_f("ont.rx_power_spread_db", self.rx_power_spread_db, 0.0, 20.0)?;
        c.range_f("ont.rx_power_noise_db", self.rx_power_noise_db, 0.0, 20.0)?;
        c.fraction("ont.glitch_rate", self.glitch_rate)?;
        c.require(
            !self.device_models.is_empty(),
            "ont.device_models",
            "needs at least one model",
        )?;
        c.require(
            self.device_models.len() <= MAX_DEVICE_MODELS,
            "ont.device_models",
            "has more than 1000 models",
        )?;
        for (i, m) in self.device_models.iter().enumerate() {
            m.validate(c, &format!("ont.device_models.{i}"))?;
        }
        c.range_f(
            "ont.device_baseline.time_constant_hours",
            self.device_baseline.time_constant_hours,
            1.0,
            24.0 * 365.0,
        )?;
        self.drift.validate(c)
    }
}

impl DeviceModel {
    fn validate(&self, c: &Check<'_>, key: &str) -> Result<()> {
        c.range_f(&format!("{key}.share"), self.share, 0.0, 1e6)?;
        c.range_f(
            &format!("{key}.hazard_multiplier"),
            self.hazard_multiplier,
            0.0,
            100.0,
        )?;
        c.range_f(
            &format!("{key}.fec_errors_per_hour"),
            self.fec_errors_per_hour,
            0.0,
            1e9,
        )?;
        c.range_f(
            &format!("{key}.supply_voltage_v"),
            self.supply_voltage_v,
            0.0,
            60.0,
        )?;
        let m = &self.failure_mix;
        for (name, w) in [
            ("optical", m.optical),
            ("laser", m.laser),
            ("power", m.power),
            ("sudden", m.sudden),
        ] {
            c.range_f(&format!("{key}.failure_mix.{name}"), w, 0.0, 1e6)?;
        }
        c.require(
            m.optical + m.laser + m.power + m.sudden > 0.0,
            &format!("{key}.failure_mix"),
            "needs a positive weight",
        )
    }
}

impl OntDrift {
    fn validate(&self, c: &Check<'_>) -> Result<()> {
        let f = &self.firmware_rollout;
        c.ordered("ont.drift.firmware_rollout.end_day", f.start_day, f.end_day)?;
        c.fraction("ont.drift.firmware_rollout.share", f.share)?;
        c.range_f(
            "ont.drift.firmware_rollout.fec_counter_scale",
            f.fec_counter_scale,
            0.0,
            1e6,
        )?;
        c.range_f(
            "ont.drift.firmware_rollout.packet_loss_counter_scale",
            f.packet_loss_counter_scale,
            0.0,
            1e6,
        )?;
        c.range_f(
            "ont.drift.line_ageing.attenuation_db_per_day",
            self.line_ageing.attenuation_db_per_day,
            0.0,
            1.0,
        )?;
        let i = &self.interference;
        c.ordered("ont.drift.interference.end_day", i.start_day, i.end_day)?;
        c.fraction("ont.drift.interference.share", i.share)?;
        c.range_f(
            "ont.drift.interference.crc_multiplier",
            i.crc_multiplier,
            0.0,
            1e6,
        )?;
        c.range_f(
            "ont.drift.interference.fec_multiplier",
            i.fec_multiplier,
            0.0,
            1e6,
        )?;
        c.range_f(
            "ont.drift.interference.packet_loss_pct_added",
            i.packet_loss_pct_added,
            0.0,
            100.0,
        )?;
        let n = &self.new_device_model;
        c.fraction(
            "ont.drift.new_device_model.replace_share_per_day",
            n.replace_share_per_day,
        )?;
        n.model.validate(c, "ont.drift.new_device_model.model")
    }
}
