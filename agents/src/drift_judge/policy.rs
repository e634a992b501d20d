//! The DriftJudge's policy: which concept-drift detector watches the error stream, how
//! the data-drift reference and windows are sized, the thresholds, the cool-down and
//! hysteresis, and how severity maps to a retraining strategy.

use serde::{Deserialize, Serialize};

use crate::drift::{
    Adwin, AdwinParams, AnyDetector, Ddm, DdmParams, HddmA, HddmAParams, HddmW, HddmWParams, Kswin,
    KswinParams, PageHinkley, PageHinkleyParams,
};
use crate::error::{invalid, Result};

/// Largest reference sample per feature; keeps the state and the tests' cost bounded.
pub const MAX_REFERENCE_SIZE: usize = 5000;
/// Largest current window per feature.
pub const MAX_CURRENT_WINDOW: usize = 5000;
/// Largest ring of recent outcomes used for the current error rate.
pub const MAX_RECENT_OUTCOMES: usize = 10_000;
const COMPONENT: &str = "DriftJudgePolicy";
/// Quiet data rounds that close an alarm episode unless the policy says otherwise.
pub const DEFAULT_EPISODE_QUIET_ROUNDS: u32 = 3;
/// Most quiet rounds an episode may wait for (a year of daily rounds).
pub const MAX_EPISODE_QUIET_ROUNDS: u32 = 366;

/// The concept-drift detector and its River parameters (all of them must be given).
///
/// In TOML: `[detector] kind = "adwin", delta = 0.002, clock = 32, max_buckets = 5,
/// min_window_length = 5, grace_period = 10`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// ADWIN (adaptive windowing).
    Adwin(AdwinParams),
    /// DDM (drift detection method).
    Ddm(DdmParams),
    /// HDDM_A (Hoeffding bounds on averages).
    HddmA(HddmAParams),
    /// HDDM_W (Hoeffding bounds on weighted averages).
    HddmW(HddmWParams),
    /// Page-Hinkley.
    PageHinkley(PageHinkleyParams),
    /// KSWIN (windowed Kolmogorov-Smirnov).
    Kswin(KswinParams),
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self::Adwin(AdwinParams::default())
    }
}

impl DetectorConfig {
    /// The name recorded in events (`adwin`, `ddm`, `hddm_a`, `hddm_w`, `page_hinkley`, `kswin`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Adwin(_) => "adwin",
            Self::Ddm(_) => "ddm",
            Self::HddmA(_) => "hddm_a",
            Self::HddmW(_) => "hddm_w",
            Self::PageHinkley(_) => "page_hinkley",
            Self::Kswin(_) => "kswin",
        }
    }

    /// Builds a fresh detector, rejecting invalid parameters.
    pub fn build(&self) -> Result<AnyDetector> {
        Ok(match *self {
            Self::Adwin(p) => AnyDetector::Adwin(Adwin::new(p)?),
            Self::Ddm(p) => AnyDetector::Ddm(Ddm::new(p)?),
            Self::HddmA(p) => AnyDetector::HddmA(HddmA::new(p)?),
            Self::HddmW(p) => AnyDetector::HddmW(HddmW::new(p)?),
            Self::PageHinkley(p) => AnyDetector::PageHinkley(PageHinkley::new(p)?),
            Self::Kswin(p) => AnyDetector::Kswin(Kswin::new(p)?),
        })
    }
}

/// The strategy suggested for a low-severity shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallShiftStrategy {
    /// Retrain the classification head only.
    #[default]
    HeadOnly,
    /// Train low-rank adapters.
    Lora,
}

/// What one alarm stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmScope {
    /// Every signal (a feature's test, the error stream, the confidence) alarms on its
    /// own: a shift that reaches five features one after the other raises five alarms,
    /// one per cool-down. The behaviour before episodes existed.
    #[default]
    Signal,
    /// An alarm opens an episode: the shift it reported, with every signal that crosses
    /// while the episode lasts (in its round, during the cool-down, and after). A later
    /// crossing of an episode signal, or of the error stream or the confidence, is the
    /// same shift going on: it still asks for a retrain once the cool-down is over, but as
    /// a `DriftNoticed` with reason `episode_continues`, not a new alarm. Only a feature
    /// outside the episode raises a new alarm. The episode closes after
    /// `episode_quiet_rounds` data rounds in a row without a crossing of its signals.
    Episode,
}

impl AlarmScope {
    /// Whether this is the default (`signal`), which is left out of the recorded policy.
    pub fn is_signal(&self) -> bool {
        matches!(self, AlarmScope::Signal)
    }
}

/// How bad a shift is; decides the suggested retraining strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Just over threshold: a light update suffices.
    Low,
    /// Clearly over threshold: fine-tune the whole model from the champion.
    Medium,
    /// Far over threshold or most features moved: retrain fully.
    High,
}

impl Severity {
    /// The name recorded in `RetrainRequested.severity`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// One level up (high stays high).
    pub fn bumped(self) -> Self {
        match self {
            Self::Low => Self::Medium,
            _ => Self::High,
        }
    }
}

/// The DriftJudge's whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftJudgePolicy {
    /// Prefix of the rule names of every decision (`<name>.data`, `<name>.concept`, ...).
    pub name: String,
    /// `BaselineTrained.arm` whose model is the first champion (the sim's `static`).
    pub baseline_arm: String,
    /// Detector fed with the champion's 0/1 online errors.
    pub detector: DetectorConfig,
    /// Hours after a champion starts serving whose ingested samples form its reference.
    pub reference_hours: u64,
    /// Reference rows kept per feature (seeded reservoir over the reference hours). At
    /// most 1000 selects KS for numeric features, more selects Wasserstein (Evidently).
    pub reference_size: usize,
    /// Seed of the reservoir.
    pub reservoir_seed: u64,
    /// Hours each current window spans; a round runs when the first batch after the
    /// window arrives, and windows never overlap. Keep it a whole number of days when the
    /// world has a daily cycle.
    pub window_hours: u64,
    /// Rows kept per feature in a current window (seeded reservoir); like
    /// `reference_size`, it bounds the state and the cost of a round.
    pub current_window: usize,
    /// P-value at or below which KS, chi-square and z-tests call a feature drifted.
    /// Stricter than Evidently's 0.05 because the judge tests every window for weeks.
    pub pvalue_threshold: f64,
    /// Distance at or above which Wasserstein (normalised) and Jensen-Shannon call a
    /// feature drifted (Evidently's 0.1).
    pub distance_threshold: f64,
    /// Drifted features a round needs before data drift can raise an alarm.
    pub min_drifted_features: usize,
    /// Outcomes after a champion starts serving that define its baseline error rate.
    pub error_baseline_outcomes: u64,
    /// Most recent outcomes whose error rate is compared with the baseline.
    pub recent_outcomes: usize,
    /// Error-rate increase that counts as severity score 1 for concept drift.
    pub error_increase_unit: f64,
    /// Drop of the mean top-class probability (CBPE's expected accuracy) from the
    /// reference that raises a performance alarm (score 1).
    pub confidence_drop_threshold: f64,
    /// Severity score under which a crossing is only noticed (`below_action_threshold`);
    /// stops a detector's flag on a falling error rate from asking for a retrain.
    pub min_action_score: f64,
    /// Hysteresis: after an alarm or notice a signal is disarmed until its score falls
    /// below this value.
    pub rearm_score: f64,
    /// Cool-down: hours after an alarm during which no other alarm is raised.
    pub cooldown_hours: u64,
    /// Score from which severity is `medium`.
    pub medium_score: f64,
    /// Score from which severity is `high`.
    pub high_score: f64,
    /// Share of tested features drifted in one round that raises severity by one level.
    pub wide_shift_share: f64,
    /// Strategy for `low` severity; `medium` maps to `fine_tune` and `high` to `full`.
    pub small_shift_strategy: SmallShiftStrategy,
    /// Write the gain a retrain is expected to recover into each `RetrainRequested`
    /// (`gain.*` evidence), for a Trainer that weighs gain against cost. Off by default
    /// and then left out of the recorded rule, so older logs re-derive unchanged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub estimate_gain: bool,
    /// `signal` (default): one alarm per signal; `episode`: one alarm per shift, see
    /// [`AlarmScope`]. Left out of the recorded policy when `signal`, so older logs
    /// re-derive unchanged.
    #[serde(skip_serializing_if = "AlarmScope::is_signal")]
    pub alarm_scope: AlarmScope,
    /// Episode scope: data rounds in a row without a crossing of the episode's signals
    /// that close it, in [1, 366] (default 3). Left out of the recorded policy when 3.
    #[serde(skip_serializing_if = "is_default_quiet_rounds")]
    pub episode_quiet_rounds: u32,
    /// Episode scope: while an episode is open, a crossing of *any* feature continues it
    /// (and keeps it from closing), not only of the features already in it. A shift that
    /// grows for weeks, like a new device model replacing a growing share of the fleet,
    /// reaches one feature after another days apart, and each would otherwise alarm as
    /// new; the price is that a second shift starting while the first is still crossing
    /// continues it without an alarm of its own (its retrain is still requested). Off by
    /// default and then left out of the recorded policy, so older logs re-derive unchanged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub episode_joins_any_feature: bool,
    /// Episode scope: the cool-down, in hours since the last retrain request, for a
    /// crossing that *continues* the open episode; a new alarm still waits the full
    /// `cooldown_hours`. A shift that keeps growing (a firmware rollout reaching more of the
    /// fleet every day) wears each new champion down within days, and one retrain per
    /// `cooldown_hours` lags it. 0 (the default) means `cooldown_hours`, and is then left
    /// out of the recorded policy, so older logs re-derive unchanged; otherwise in
    /// [1, `cooldown_hours`].
    #[serde(skip_serializing_if = "is_zero_hours")]
    pub episode_cooldown_hours: u64,
}

fn is_zero_hours(hours: &u64) -> bool {
    *hours == 0
}

impl DriftJudgePolicy {
    /// The cool-down a crossing must wait out: `episode_cooldown_hours` when it continues
    /// an open episode and that is set, `cooldown_hours` otherwise.
    pub fn cooldown_for(&self, continues_episode: bool) -> u64 {
        if continues_episode && self.episode_cooldown_hours > 0 {
            self.episode_cooldown_hours
        } else {
            self.cooldown_hours
        }
    }
}

fn is_default_quiet_rounds(rounds: &u32) -> bool {
    *rounds == DEFAULT_EPISODE_QUIET_ROUNDS
}

impl Default for DriftJudgePolicy {
    fn default() -> Self {
        Self {
            name: "drift_judge".to_owned(),
            baseline_arm: "static".to_owned(),
            detector: DetectorConfig::default(),
            reference_hours: 24,
            reference_size: 1000,
            reservoir_seed: 0,
            window_hours: 24,
            current_window: 1000,
            pvalue_threshold: 0.001,
            distance_threshold: 0.1,
            min_drifted_features: 1,
            error_baseline_outcomes: 500,
            recent_outcomes: 300,
            error_increase_unit: 0.05,
            confidence_drop_threshold: 0.05,
            min_action_score: 1.0,
            rearm_score: 0.5,
            cooldown_hours: 72,
            medium_score: 2.0,
            high_score: 4.0,
            wide_shift_share: 0.5,
            small_shift_strategy: SmallShiftStrategy::HeadOnly,
            estimate_gain: false,
            alarm_scope: AlarmScope::Signal,
            episode_quiet_rounds: DEFAULT_EPISODE_QUIET_ROUNDS,
            episode_joins_any_feature: false,
            episode_cooldown_hours: 0,
        }
    }
}

fn positive(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            COMPONENT,
            name,
            v,
            "must be finite and greater than zero",
        ))
    }
}

fn size(name: &'static str, v: usize, max: usize) -> Result<()> {
    if v == 0 || v > max {
        return Err(invalid(
            COMPONENT,
            name,
            v,
            "must be at least 1 and within the crate's bound",
        ));
    }
    Ok(())
}

impl DriftJudgePolicy {
    /// Rejects a policy that could not be applied or would never alarm sensibly.
    pub fn validate(&self) -> Result<()> {
        self.detector.build()?;
        size("reference_size", self.reference_size, MAX_REFERENCE_SIZE)?;
        size("current_window", self.current_window, MAX_CURRENT_WINDOW)?;
        size("recent_outcomes", self.recent_outcomes, MAX_RECENT_OUTCOMES)?;
        size(
            "min_drifted_features",
            self.min_drifted_features,
            usize::MAX,
        )?;
        if !(self.pvalue_threshold > 0.0 && self.pvalue_threshold < 1.0) {
            return Err(invalid(
                COMPONENT,
                "pvalue_threshold",
                self.pvalue_threshold,
                "must lie in (0, 1)",
            ));
        }
        for (name, v) in [
            ("distance_threshold", self.distance_threshold),
            ("error_increase_unit", self.error_increase_unit),
            ("confidence_drop_threshold", self.confidence_drop_threshold),
            ("min_action_score", self.min_action_score),
            ("medium_score", self.medium_score),
            ("wide_shift_share", self.wide_shift_share),
        ] {
            positive(name, v)?;
        }
        if !(self.rearm_score.is_finite() && self.rearm_score < 1.0) {
            return Err(invalid(
                COMPONENT,
                "rearm_score",
                self.rearm_score,
                "must be finite and below 1 (the alarm score)",
            ));
        }
        if !(self.high_score.is_finite() && self.high_score > self.medium_score) {
            return Err(invalid(
                COMPONENT,
                "high_score",
                self.high_score,
                "must be finite and above medium_score",
            ));
        }
        if !(1..=MAX_EPISODE_QUIET_ROUNDS).contains(&self.episode_quiet_rounds) {
            return Err(invalid(
                COMPONENT,
                "episode_quiet_rounds",
                self.episode_quiet_rounds,
                "must lie in [1, 366]",
            ));
        }
        if self.episode_joins_any_feature && self.alarm_scope != AlarmScope::Episode {
            return Err(invalid(
                COMPONENT,
                "episode_joins_any_feature",
                true,
                "needs alarm_scope = \"episode\" (there are no episodes to join)",
            ));
        }
        if self.episode_cooldown_hours > 0
            && (self.alarm_scope != AlarmScope::Episode
                || self.episode_cooldown_hours > self.cooldown_hours)
        {
            return Err(invalid(
                COMPONENT,
                "episode_cooldown_hours",
                self.episode_cooldown_hours,
                "needs alarm_scope = \"episode\" and must not exceed cooldown_hours",
            ));
        }
        if self.reference_hours == 0 || self.window_hours == 0 {
            return Err(invalid(
                COMPONENT,
                "reference_hours",
                self.reference_hours.min(self.window_hours),
                "reference_hours and window_hours must be at least 1",
            ));
        }
        Ok(())
    }

    /// Severity of a shift from its score, raised one level when a data round saw at least
    /// `wide_shift_share` of the features drift (and at least two features were tested).
    pub fn severity(&self, score: f64, drifted_share: Option<(usize, usize)>) -> Severity {
        let mut s = if score >= self.high_score {
            Severity::High
        } else if score >= self.medium_score {
            Severity::Medium
        } else {
            Severity::Low
        };
        if let Some((drifted, tested)) = drifted_share {
            if tested >= 2 && drifted as f64 >= self.wide_shift_share * tested as f64 {
                s = s.bumped();
            }
        }
        s
    }

    /// The suggested strategy: small shifts `head_only` (or `lora`), medium `fine_tune`,
    /// large `full`.
    pub fn strategy(&self, severity: Severity) -> &'static str {
        match (severity, self.small_shift_strategy) {
            (Severity::Low, SmallShiftStrategy::HeadOnly) => "head_only",
            (Severity::Low, SmallShiftStrategy::Lora) => "lora",
            (Severity::Medium, _) => "fine_tune",
            (Severity::High, _) => "full",
        }
    }

    /// The rule name of one kind of decision, e.g. `drift_judge.concept`.
    pub fn rule_name(&self, decision: &str) -> String {
        format!("{}.{decision}", self.name)
    }
}
