//! The Trainer's policy: when a retrain request may start a job, what data the job gets,
//! which strategy it uses, how failures are retried and whether training is federated.

use ledgerloop_events::Rule;
use serde::{Deserialize, Serialize};

use super::augment::AugmentPolicy;
use super::augment_text::{self, TextAugmentPolicy};
use super::budget::BudgetPolicy;
use crate::error::{invalid, Result};

/// Component name used in policy errors.
const POLICY: &str = "trainer policy";
/// Upper bound on concurrent jobs, so that the state stays small.
pub const MAX_CONCURRENT_JOBS: usize = 4;
/// Upper bound on attempts per request, so that a broken worker cannot loop for ever.
pub const MAX_ATTEMPTS: u32 = 10;
/// Largest LoRA rank accepted; adapters beyond this are no longer "low rank" for the
/// small models of the loop.
pub const MAX_LORA_RANK: u32 = 64;
/// Largest pseudo-label share accepted: the composition must stay mostly true labels.
pub const MAX_PSEUDO_SHARE: f64 = 0.9;

/// A training strategy, from the lightest to the heaviest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Warm start from the parent and train only the output layer.
    HeadOnly,
    /// Warm start and train low-rank adapters (merged on export).
    Lora,
    /// Warm start and fine-tune every layer.
    FineTune,
    /// Train from scratch on the composed data set.
    Full,
}

impl Strategy {
    /// The name written into `TrainingStarted.strategy` (the DriftJudge's vocabulary).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::HeadOnly => "head_only",
            Strategy::Lora => "lora",
            Strategy::FineTune => "fine_tune",
            Strategy::Full => "full",
        }
    }

    /// Parses a strategy name; `None` for anything not in the vocabulary.
    pub fn parse(name: &str) -> Option<Strategy> {
        [
            Strategy::HeadOnly,
            Strategy::Lora,
            Strategy::FineTune,
            Strategy::Full,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// Severity of a retrain request, as the DriftJudge writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A light update suffices.
    Low,
    /// Clearly over threshold.
    Medium,
    /// Far over threshold or most features moved.
    High,
}

impl Severity {
    /// Parses `low`, `medium` or `high`.
    pub fn parse(name: &str) -> Option<Severity> {
        match name {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    /// The rank recorded in evidence (0 low, 1 medium, 2 high).
    pub fn rank(self) -> f64 {
        match self {
            Severity::Low => 0.0,
            Severity::Medium => 1.0,
            Severity::High => 2.0,
        }
    }
}

/// Federated training: data stays on the edge nodes and only weights travel (FedAvg,
/// with a FedProx proximal term when `fedprox_mu` > 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedPolicy {
    /// Edge nodes taking part in each round, >= 2 (one client is not a federation).
    pub clients: u32,
    /// Communication rounds, >= 1.
    pub rounds: u32,
    /// FedProx proximal weight, finite and >= 0 (0 is plain FedAvg).
    pub fedprox_mu: f64,
}

/// The Trainer's whole policy, read from the `[trainer]` table of a policy file.
///
/// Unknown keys are rejected; missing keys take the defaults shown on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerPolicy {
    /// Policy name written into every decision's rule (default `trainer.v1`).
    pub name: String,
    /// `BaselineTrained.arm` whose training rows count as replay history (default
    /// `static`, the initial champion).
    pub baseline_arm: String,
    /// Fresh (oracle) labels that must have arrived since the last job before a retrain
    /// may start, >= 1 (default 200).
    pub min_fresh_labels: u64,
    /// Fraction of the history (baseline rows + labels used by earlier jobs) replayed
    /// into each job against forgetting, in [0, 1] (default 0.2).
    pub replay_fraction: f64,
    /// Cap on replayed rows per job (default 5000).
    pub max_replay_rows: u64,
    /// Largest share of the composed data set that pseudo-labels may make up, in
    /// [0, 0.9] (default 0.3); 0 disables pseudo-labels.
    pub max_pseudo_share: f64,
    /// Follow the request's suggested strategy when it names one (default true);
    /// otherwise map from severity alone.
    pub follow_suggestion: bool,
    /// Strategy for `low` severity (default `head_only`).
    pub low: Strategy,
    /// Strategy for `medium` severity (default `fine_tune`).
    pub medium: Strategy,
    /// Strategy for `high` severity (default `full`).
    pub high: Strategy,
    /// Fresh labels below which `full` is downgraded to `fine_tune`: a model trained from
    /// scratch on too few rows is worse than a warm start (default 2000).
    pub full_min_labels: u64,
    /// Fresh labels below which `fine_tune` is downgraded to `lora`, whose few
    /// parameters overfit less (default 500).
    pub fine_tune_min_labels: u64,
    /// LoRA rank with fewer than `lora_large_from_labels` fresh labels, in
    /// [1, 64] (default 4).
    pub lora_rank_small: u32,
    /// LoRA rank with at least `lora_large_from_labels` fresh labels, in
    /// [`lora_rank_small`, 64] (default 8).
    pub lora_rank_large: u32,
    /// Fresh labels from which the larger LoRA rank is used (default 1000).
    pub lora_large_from_labels: u64,
    /// Jobs that may run at once, in [1, 4] (default 1).
    pub max_concurrent_jobs: usize,
    /// Attempts per request, counting the first, in [1, 10] (default 3).
    pub max_attempts: u32,
    /// Hours to wait after a failed job before the retry; doubled after each further
    /// failure of the same request (default 6).
    pub backoff_hours: u64,
    /// Minimum hours between the starts of two jobs (default 24).
    pub cooldown_hours: u64,
    /// Federated rounds when the scenario keeps data on the edge nodes; `None` (the
    /// default) trains centrally.
    pub federated: Option<FederatedPolicy>,
    /// Compute budget and the gain a retrain must be worth (`[trainer.budget]`); `None`
    /// (the default) weighs nothing, exactly as before budgets existed, and is left out
    /// of the recorded rule so that older logs re-derive unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetPolicy>,
    /// Train on the newest this-many labels, even those an earlier job used, instead of
    /// only the labels since the last job: a sliding window for worlds whose recent
    /// behaviour is the target (rankings), where a job started soon after the last one
    /// would otherwise see a day of data. `min_fresh_labels` still counts only new labels.
    /// `None` (the default) is the behaviour before the option existed, and is left out of
    /// the recorded policy and rule, so older logs re-derive unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_window_labels: Option<u64>,
    /// Rare-class augmentation of tabular jobs (`[trainer.augment]`); `None` (the
    /// default) trains on the composed rows as they are, and is left out of the recorded
    /// policy and rule, so older logs re-derive unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentPolicy>,
    /// Rare-intent augmentation of text jobs (`[trainer.augment_text]`: character noise
    /// and lexicon substitutions); `None` (the default) trains on the composed messages
    /// as they are, and is left out of the recorded policy and rule, so older logs
    /// re-derive unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment_text: Option<TextAugmentPolicy>,
}

impl Default for TrainerPolicy {
    fn default() -> Self {
        TrainerPolicy {
            name: "trainer.v1".to_string(),
            baseline_arm: "static".to_string(),
            min_fresh_labels: 200,
            replay_fraction: 0.2,
            max_replay_rows: 5000,
            max_pseudo_share: 0.3,
            follow_suggestion: true,
            low: Strategy::HeadOnly,
            medium: Strategy::FineTune,
            high: Strategy::Full,
            full_min_labels: 2000,
            fine_tune_min_labels: 500,
            lora_rank_small: 4,
            lora_rank_large: 8,
            lora_large_from_labels: 1000,
            max_concurrent_jobs: 1,
            max_attempts: 3,
            backoff_hours: 6,
            cooldown_hours: 24,
            federated: None,
            budget: None,
            recent_window_labels: None,
            augment: None,
            augment_text: None,
        }
    }
}

impl TrainerPolicy {
    /// Checks every field lies in its documented range, so that a bad policy file is
    /// rejected before a run.
    pub fn validate(&self) -> Result<()> {
        if let Some(b) = &self.budget {
            b.validate()?;
        }
        if let Some(a) = &self.augment {
            a.validate()?;
        }
        if let Some(a) = &self.augment_text {
            a.validate()?;
        }
        if self.min_fresh_labels == 0 {
            return Err(invalid(POLICY, "min_fresh_labels", 0, "must be >= 1"));
        }
        if self.recent_window_labels == Some(0) {
            let why = "must be >= 1 (leave it out to train on the labels since the last job)";
            return Err(invalid(POLICY, "recent_window_labels", 0, why));
        }
        let r = self.replay_fraction;
        if !(0.0..=1.0).contains(&r) {
            return Err(invalid(POLICY, "replay_fraction", r, "must lie in [0, 1]"));
        }
        let s = self.max_pseudo_share;
        if !(0.0..=MAX_PSEUDO_SHARE).contains(&s) {
            return Err(invalid(
                POLICY,
                "max_pseudo_share",
                s,
                "must lie in [0, 0.9]",
            ));
        }
        if !(1..=MAX_LORA_RANK).contains(&self.lora_rank_small) {
            let v = self.lora_rank_small;
            return Err(invalid(POLICY, "lora_rank_small", v, "must lie in [1, 64]"));
        }
        if !(self.lora_rank_small..=MAX_LORA_RANK).contains(&self.lora_rank_large) {
            let v = self.lora_rank_large;
            let why = "must lie in [lora_rank_small, 64]";
            return Err(invalid(POLICY, "lora_rank_large", v, why));
        }
        if !(1..=MAX_CONCURRENT_JOBS).contains(&self.max_concurrent_jobs) {
            let v = self.max_concurrent_jobs;
            return Err(invalid(
                POLICY,
                "max_concurrent_jobs",
                v,
                "must lie in [1, 4]",
            ));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            let v = self.max_attempts;
            return Err(invalid(POLICY, "max_attempts", v, "must lie in [1, 10]"));
        }
        match &self.federated {
            Some(f) if f.clients < 2 => Err(invalid(POLICY, "clients", f.clients, "must be >= 2")),
            Some(f) if f.rounds == 0 => Err(invalid(POLICY, "rounds", 0, "must be >= 1")),
            Some(f) if !(f.fedprox_mu.is_finite() && f.fedprox_mu >= 0.0) => Err(invalid(
                POLICY,
                "fedprox_mu",
                f.fedprox_mu,
                "must be finite and >= 0",
            )),
            _ => Ok(()),
        }
    }

    /// The strategy for a request: the suggestion (when followed) or the severity's
    /// mapping, then downgraded while the fresh data are too few for it.
    pub fn strategy_for(
        &self,
        severity: Severity,
        suggested: Option<Strategy>,
        fresh: u64,
    ) -> Strategy {
        let mapped = match severity {
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
        };
        let mut strategy = match suggested {
            Some(s) if self.follow_suggestion => s,
            _ => mapped,
        };
        if strategy == Strategy::Full && fresh < self.full_min_labels {
            strategy = Strategy::FineTune;
        }
        if strategy == Strategy::FineTune && fresh < self.fine_tune_min_labels {
            strategy = Strategy::Lora;
        }
        strategy
    }

    /// The LoRA rank for `fresh` labels (0 for the other strategies).
    pub fn lora_rank(&self, strategy: Strategy, fresh: u64) -> u32 {
        match strategy {
            Strategy::Lora if fresh >= self.lora_large_from_labels => self.lora_rank_large,
            Strategy::Lora => self.lora_rank_small,
            _ => 0,
        }
    }

    /// Back-off before attempt `attempt + 1` after attempt `attempt` failed: the base,
    /// doubled per earlier failure, saturating rather than overflowing.
    pub fn backoff_after(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(MAX_ATTEMPTS);
        self.backoff_hours.saturating_mul(1u64 << doublings)
    }

    /// True when the compute budget covers the whole loop iteration: a host then hands
    /// the Trainer every distillation and evaluation to fold (see `budget::iteration`).
    pub fn budgets_iteration(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|b| b.scope == super::budget::BudgetScope::Iteration)
    }

    /// The rule recorded with every decision: the policy name and all its parameters.
    pub fn rule(&self) -> Rule {
        let federated = match &self.federated {
            Some(f) => serde_json::json!({
                "clients": f.clients, "rounds": f.rounds, "fedprox_mu": f.fedprox_mu
            }),
            None => serde_json::Value::Null,
        };
        let rule = Rule::new(self.name.clone())
            .with("baseline_arm", self.baseline_arm.clone())
            .with("min_fresh_labels", self.min_fresh_labels)
            .with("replay_fraction", self.replay_fraction)
            .with("max_replay_rows", self.max_replay_rows)
            .with("max_pseudo_share", self.max_pseudo_share)
            .with("follow_suggestion", self.follow_suggestion)
            .with("low", self.low.name())
            .with("medium", self.medium.name())
            .with("high", self.high.name())
            .with("full_min_labels", self.full_min_labels)
            .with("fine_tune_min_labels", self.fine_tune_min_labels)
            .with("lora_rank_small", self.lora_rank_small)
            .with("lora_rank_large", self.lora_rank_large)
            .with("lora_large_from_labels", self.lora_large_from_labels)
            .with("max_concurrent_jobs", self.max_concurrent_jobs)
            .with("max_attempts", self.max_attempts)
            .with("backoff_hours", self.backoff_hours)
            .with("cooldown_hours", self.cooldown_hours)
            .with("federated", federated);
        let rule = match &self.budget {
            Some(b) => rule.with("budget", b.params()),
            None => rule,
        };
        let rule = match &self.augment {
            Some(a) => rule.with("augment", a.params()),
            None => rule,
        };
        let rule = match &self.augment_text {
            Some(a) => rule.with(augment_text::RULE_PARAM, a.params()),
            None => rule,
        };
        match self.recent_window_labels {
            Some(window) => rule.with("recent_window_labels", window),
            None => rule,
        }
    }
}
