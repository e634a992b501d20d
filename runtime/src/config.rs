//! The agents' policy file: one TOML table per agent plus the host's own settings.
//!
//! Unknown keys anywhere are an error, and every policy is validated by its decider
//! before the run starts, so a typo or an impossible threshold never reaches day 0.
//! Field meanings are documented on the policy structs (`ledgerloop_agents::*::*Policy`)
//! and, for the host, on [`HostSettings`]; `scenarios/agents/ont.toml` writes every
//! field out.

use std::path::{Path, PathBuf};

use ledgerloop_agents::distiller::{Distiller, DistillerPolicy};
use ledgerloop_agents::drift_judge::{DriftJudge, DriftJudgePolicy};
use ledgerloop_agents::evaluator::{Evaluator, EvaluatorPolicy};
use ledgerloop_agents::perceiver::{Perceiver, PerceiverPolicy};
use ledgerloop_agents::releaser::{Releaser, ReleaserPolicy};
use ledgerloop_agents::trainer::{Trainer, TrainerPolicy};
use serde::{Deserialize, Serialize};

use crate::costs::CostModel;
use crate::error::{Error, Result};
use crate::faults::FaultSettings;
use crate::host::OperatorCommand;
use crate::step::Agents;

/// Settings of the sim host itself (how workers train and evaluate, what the Perceiver
/// is shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSettings {
    /// Share of routing keys (devices) whose readings and outcomes reach the Perceiver,
    /// chosen by a stable hash; serving covers every key regardless. In (0, 1].
    pub perceive_share: f64,
    /// Share of routing keys whose revealed outcomes reach the Perceiver (stable hash,
    /// independent of `perceive_share`). In (0, 1].
    pub feedback_share: f64,
    /// Class-balance the outcome stream: an outcome of class `c` is kept with probability
    /// `min(1, n_rarest / n_c)` (cumulative counts of outcomes revealed before the hour,
    /// decided by a stable hash), so the online error rate the DriftJudge and Releaser
    /// watch is the balanced error the scenario scores, not the base rate of a rare class.
    pub balance_feedback: bool,
    /// Hidden layer widths of the served MLP (teacher); empty makes it a logistic
    /// regression (every strategy then trains its one layer).
    pub hidden_layers: Vec<usize>,
    /// Hidden layer widths of the distilled edge student; empty as for the teacher.
    pub student_hidden_layers: Vec<usize>,
    /// Epochs of a from-scratch fit (early stopping may end sooner).
    pub max_epochs: usize,
    /// Epochs of a warm-started job (head-only, LoRA, fine-tune).
    pub fine_tune_epochs: usize,
    /// Mini-batch rows.
    pub batch_size: usize,
    /// Learning rate of a from-scratch fit.
    pub learning_rate: f64,
    /// Learning rate of a warm-started job.
    pub fine_tune_learning_rate: f64,
    /// Share of the warm-up rows kept out of training as the old-distribution holdout
    /// the Evaluator's forgetting gate reads. In [0.05, 0.5].
    pub warmup_holdout_share: f64,
    /// Labels that must arrive after a candidate's training data (the time-held-out set)
    /// before it is evaluated.
    pub eval_min_rows: usize,
    /// Hours after training at which a candidate is evaluated on however many held-out
    /// labels exist (at least `eval_floor_rows`), so evaluation cannot stall.
    pub eval_max_wait_hours: u64,
    /// Class-balance the time-held-out set (as many of the newest rows per class as the
    /// rarest class has), so the Evaluator's held-out and slice accuracies are balanced
    /// accuracies, the metric the ONT scenario scores.
    pub balance_heldout: bool,
    /// Fewest held-out labels an evaluation runs on.
    pub eval_floor_rows: usize,
    /// Most held-out labels an evaluation reads (the newest).
    pub eval_max_rows: usize,
    /// Rows scored to measure a candidate's per-prediction latency.
    pub latency_probe_rows: usize,
    /// Operator commands given at fixed hours (rollback, approve), for studying
    /// interventions offline; empty in normal runs.
    pub operator_commands: Vec<OperatorCommand>,
    /// The deterministic cost model the workers record their CPU seconds with.
    pub costs: CostModel,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            perceive_share: 0.05,
            feedback_share: 1.0,
            balance_feedback: false,
            hidden_layers: vec![64, 64],
            student_hidden_layers: vec![32, 16],
            max_epochs: 30,
            fine_tune_epochs: 15,
            batch_size: 256,
            learning_rate: 3e-3,
            fine_tune_learning_rate: 1e-3,
            warmup_holdout_share: 0.2,
            eval_min_rows: 600,
            eval_max_wait_hours: 72,
            balance_heldout: false,
            eval_floor_rows: 100,
            eval_max_rows: 4000,
            latency_probe_rows: 256,
            operator_commands: Vec::new(),
            costs: CostModel::default(),
        }
    }
}

impl HostSettings {
    /// Rejects settings no run could use.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let share = self.perceive_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(format!("host.perceive_share = {share}: must lie in (0, 1]"));
        }
        let share = self.feedback_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(format!("host.feedback_share = {share}: must lie in (0, 1]"));
        }
        let h = self.warmup_holdout_share;
        if !(0.05..=0.5).contains(&h) {
            return Err(format!(
                "host.warmup_holdout_share = {h}: must lie in [0.05, 0.5]"
            ));
        }
        for (name, lr) in [
            ("learning_rate", self.learning_rate),
            ("fine_tune_learning_rate", self.fine_tune_learning_rate),
        ] {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(format!("host.{name} = {lr}: must be finite and > 0"));
            }
        }
        let layers = self.hidden_layers.iter().chain(&self.student_hidden_layers);
        if layers.clone().any(|w| *w == 0 || *w > 4096) {
            return Err("host.hidden_layers: needs 1..=4096 units per layer".into());
        }
        for (name, v) in [
            ("max_epochs", self.max_epochs),
            ("fine_tune_epochs", self.fine_tune_epochs),
            ("batch_size", self.batch_size),
            ("eval_floor_rows", self.eval_floor_rows),
            ("latency_probe_rows", self.latency_probe_rows),
        ] {
            if v == 0 {
                return Err(format!("host.{name} must be at least 1"));
            }
        }
        self.costs.validate()?;
        if self.eval_floor_rows > self.eval_min_rows || self.eval_min_rows > self.eval_max_rows {
            return Err(format!(
                "host: need eval_floor_rows ({}) <= eval_min_rows ({}) <= eval_max_rows ({})",
                self.eval_floor_rows, self.eval_min_rows, self.eval_max_rows
            ));
        }
        Ok(())
    }
}

/// Settings of the ranking workers (the `[ranker]` table of a ranking world's policy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankerSettings {
    /// Weight of a user's category affinity against item popularity in the governed
    /// recommender, >= 0 (the scenario's `recommend.affinity_weight` is the static and
    /// oracle arms' weight).
    pub affinity_weight: f64,
}

impl Default for RankerSettings {
    fn default() -> Self {
        Self {
            affinity_weight: 1.0,
        }
    }
}

impl RankerSettings {
    /// Rejects settings no fit could use.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let w = self.affinity_weight;
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!(
                "ranker.affinity_weight = {w}: must be finite and >= 0"
            ));
        }
        Ok(())
    }
}

/// The whole policy file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernedConfig {
    /// The host.
    pub host: HostSettings,
    /// Perceiver policy.
    pub perceiver: PerceiverPolicy,
    /// DriftJudge policy.
    pub drift_judge: DriftJudgePolicy,
    /// Trainer policy.
    pub trainer: TrainerPolicy,
    /// Distiller policy.
    pub distiller: DistillerPolicy,
    /// Evaluator policy.
    pub evaluator: EvaluatorPolicy,
    /// Releaser policy.
    pub releaser: ReleaserPolicy,
    /// The ranking workers' settings; present only in a ranking world's policy, and left
    /// out of the recorded policies otherwise (so classification logs are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranker: Option<RankerSettings>,
    /// Faults injected by the deterministic fault simulation (`ledgerloop simtest`);
    /// absent and off in normal runs, and then left out of the recorded policies.
    #[serde(skip_serializing_if = "FaultSettings::is_off")]
    pub fault_injection: FaultSettings,
}

impl GovernedConfig {
    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadPolicy {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates policy text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidPolicy {
            path: path.to_path_buf(),
            reason,
        };
        let config: GovernedConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.host.validate().map_err(invalid)?;
        config.fault_injection.validate().map_err(invalid)?;
        if let Some(ranker) = &config.ranker {
            ranker.validate().map_err(invalid)?;
        }
        config.agents().map_err(|e| invalid(e.to_string()))?;
        Ok(config)
    }

    /// The validated deciders.
    pub fn agents(&self) -> std::result::Result<Agents, ledgerloop_agents::Error> {
        Ok(Agents {
            perceiver: Perceiver::new(self.perceiver.clone())?,
            drift_judge: DriftJudge::new(self.drift_judge.clone())?,
            trainer: Trainer::new(self.trainer.clone())?,
            distiller: Distiller::new(self.distiller.clone())?,
            evaluator: Evaluator::new(self.evaluator.clone())?,
            releaser: Releaser::new(self.releaser.clone())?,
        })
    }

    /// The policy file that goes with a scenario file: `agents/<world>.toml` beside it.
    pub fn default_path(scenario_file: &Path, world: &str) -> PathBuf {
        scenario_file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("agents")
            .join(format!("{world}.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zero-width or oversized layer is refused; no hidden layer (a logistic-regression
    /// teacher) is accepted.
    #[test]
    fn layer_widths_are_checked_and_may_be_empty() {
        for body in ["hidden_layers = [64, 0]", "student_hidden_layers = [5000]"] {
            let err = GovernedConfig::parse(&format!("[host]\n{body}\n"), Path::new("p.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("hidden_layers"), "{err}");
        }
        let linear = GovernedConfig::parse("[host]\nhidden_layers = []\n", Path::new("p.toml"))
            .expect("a linear teacher is allowed");
        assert!(linear.host.hidden_layers.is_empty());
    }

    /// A misspelt key is refused with its name.
    #[test]
    fn unknown_key_is_refused() {
        let err = GovernedConfig::parse("[trainer]\nmin_fresh_label = 3\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("min_fresh_label"), "{err}");
    }

    /// An impossible threshold is refused before any run.
    #[test]
    fn impossible_threshold_is_refused() {
        let err = GovernedConfig::parse(
            "[perceiver]\npseudo_label_threshold = 1.5\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pseudo_label_threshold"), "{err}");
        let err = GovernedConfig::parse("[host]\nperceive_share = 0.0\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("perceive_share"), "{err}");
    }

    /// A misspelt key, an empty lexicon side and a rate out of range in
    /// `[trainer.augment_text]` are each refused with the field's name.
    #[test]
    fn bad_text_augmentation_table_is_refused() {
        let cases = [
            ("rare_below_row = 30\n", "rare_below_row"),
            ("lexicon = [[\"网速\", \"\"]]\n", "lexicon"),
            ("substitution_rate = 1.2\n", "substitution_rate"),
            ("char_noise_rate = -0.5\n", "char_noise_rate"),
        ];
        for (body, field) in cases {
            let text = format!("[trainer.augment_text]\n{body}");
            let err = GovernedConfig::parse(&text, Path::new("p.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    /// The shipped text-augmentation policy loads, with its lexicon, and the plain intent
    /// policy has no table.
    #[test]
    fn shipped_intent_policies_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let on = GovernedConfig::load(&root.join("scenarios/agents/intent-augment.toml"))
            .expect("intent-augment.toml loads");
        let table = on
            .trainer
            .augment_text
            .expect("a [trainer.augment_text] table");
        assert!(table.lexicon.len() >= 20, "{} pairs", table.lexicon.len());
        let plain = GovernedConfig::load(&root.join("scenarios/agents/intent.toml"))
            .expect("intent.toml loads");
        assert_eq!(plain.trainer.augment_text, None);
    }
}
