//! Scenario files. Every parameter of a run lives in one TOML file; unknown keys are an
//! error naming the key and the file (`deny_unknown_fields`), impossible values are
//! rejected by [`Scenario::validate`] before anything runs, and `--set key=value`
//! overrides are applied to the parsed TOML before it is typed (see [`overrides`]).

pub mod intent;
pub mod lines;
pub mod ont;
pub mod overrides;
pub mod recommend;
pub mod replay;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest label or feedback delay: 30 days. Delays bound how many answers and outcomes
/// wait in the oracle's and the feedback queue's buffers.
pub const MAX_DELAY_HOURS: i64 = 24 * 30;

/// Largest daily label budget (bounds the oracle's pending answers).
pub const MAX_DAILY_BUDGET: i64 = 10_000_000;

/// Which world generates the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorldKind {
    /// ONT fleet telemetry; label = goes offline within 24 h.
    Ont,
    /// Customer-service utterances; label = intent.
    Intent,
    /// Users and items; outcome = click.
    Recommend,
    /// Rows replayed from CSV / JSONL files.
    Replay,
}

/// Which learner the baselines (and the static policy) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnerKind {
    /// Built-in logistic regression (tabular) / hashed n-gram naive Bayes (text).
    Builtin,
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, world, seed, length.
    pub scenario: ScenarioMeta,
    /// Label oracle.
    pub oracle: OracleConfig,
    /// Delayed outcomes per serving version.
    pub feedback: FeedbackConfig,
    /// Champion / canary split.
    pub route: RouteConfig,
    /// Static and oracle baselines.
    pub baselines: BaselineConfig,
    /// How metrics are computed.
    pub evaluation: EvaluationConfig,
    /// ONT world parameters (when `world = "ont"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ont: Option<ont::OntConfig>,
    /// Intent world parameters (when `world = "intent"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<intent::IntentConfig>,
    /// Recommend world parameters (when `world = "recommend"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommend: Option<recommend::RecommendConfig>,
    /// Replay parameters (when `world = "replay"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<replay::ReplayConfig>,
    /// Folder of the scenario file; replay files are resolved against it. Not part of
    /// the scenario's content (not serialised), so moving a file changes no output.
    #[serde(skip)]
    pub source_dir: PathBuf,
}

/// `[scenario]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    /// Scenario name (used in stream names and reports).
    pub name: String,
    /// World generating the stream.
    pub world: WorldKind,
    /// Master seed; every component derives its own stream from it.
    pub seed: u64,
    /// Simulated days after the warm-up.
    pub days: u32,
    /// Calendar time of day 0 (RFC 3339, UTC).
    pub start: DateTime<Utc>,
    /// Learner used by the baselines.
    pub learner: LearnerKind,
}

/// `[oracle]`: labels only on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleConfig {
    /// Labels the oracle answers per simulated day; requests beyond it are refused.
    pub daily_budget: i64,
    /// Hours between a request and its answer.
    pub delay_hours: i64,
    /// Probability that an answer is the wrong label (uniformly another class).
    pub noise_rate: f64,
}

/// `[feedback]`: true outcomes revealed later, per serving version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Whether outcomes are revealed at all.
    pub enabled: bool,
    /// Hours between a prediction and its outcome.
    pub delay_hours: i64,
    /// Share of served rows whose outcome is ever observed.
    pub observed_fraction: f64,
}

/// `[route]`: how the policy's route is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Upper bound on any canary fraction a policy may publish.
    pub max_canary_fraction: f64,
}

/// `[baselines]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Days of history generated before day 0; the static model trains on them.
    pub train_days: u32,
    /// The oracle baseline retrains each day on this many most recent days.
    pub oracle_window_days: u32,
    /// Rows kept per class per day for training (class-stratified reservoir).
    pub rows_per_class_per_day: i64,
}

/// Population `accuracy` is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccuracyOn {
    /// All rows of the day.
    AllRows,
    /// The day's class-balanced review sample.
    BalancedReviewSample,
}

/// `[evaluation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Population of the headline accuracy.
    pub accuracy_on: AccuracyOn,
    /// Review-sample rows per class per day.
    pub review_per_class: i64,
}

impl Scenario {
    /// Reads, overrides, parses and validates a scenario file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadScenario {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path, overrides)
    }

    /// Parses scenario text (`path` only names the source in errors).
    pub fn from_toml_str(text: &str, path: &Path, overrides: &[String]) -> Result<Self> {
        let parse_err = |message: String| Error::ParseScenario {
            path: path.to_path_buf(),
            message,
        };
        // Typing the text as written first reports the file's own mistakes (unknown or
        // mistyped keys) with their line; the parser's message names the key.
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
            for assignment in overrides {
                overrides::apply(&mut table, assignment)?;
            }
            scenario = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    parse_err(format!("after --set overrides: {}", e.message()))
                })?;
        }
        scenario.source_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let check = Check {
            path,
            text: Some(text),
            overrides,
        };
        scenario.check(&check)?;
        Ok(scenario)
    }

    /// Rejects impossible values, naming the key and the file.
    pub fn validate(&self, path: &Path) -> Result<()> {
        self.check(&Check {
            path,
            text: None,
            overrides: &[],
        })
    }

    fn check(&self, c: &Check<'_>) -> Result<()> {
        let s = &self.scenario;
        c.require(
            !s.name.trim().is_empty(),
            "scenario.name",
            "must not be empty",
        )?;
        c.range_u("scenario.days", s.days.into(), 1, 3650)?;
        c.non_negative("oracle.daily_budget", self.oracle.daily_budget)?;
        c.range_i(
            "oracle.daily_budget",
            self.oracle.daily_budget,
            0,
            MAX_DAILY_BUDGET,
        )?;
        c.range_i(
            "oracle.delay_hours",
            self.oracle.delay_hours,
            0,
            MAX_DELAY_HOURS,
        )?;
        c.fraction("oracle.noise_rate", self.oracle.noise_rate)?;
        c.range_i(
            "feedback.delay_hours",
            self.feedback.delay_hours,
            0,
            MAX_DELAY_HOURS,
        )?;
        c.fraction(
            "feedback.observed_fraction",
            self.feedback.observed_fraction,
        )?;
        c.fraction("route.max_canary_fraction", self.route.max_canary_fraction)?;
        c.range_u(
            "baselines.train_days",
            self.baselines.train_days.into(),
            1,
            365,
        )?;
        c.range_u(
            "baselines.oracle_window_days",
            self.baselines.oracle_window_days.into(),
            1,
            365,
        )?;
        c.range_i(
            "baselines.rows_per_class_per_day",
            self.baselines.rows_per_class_per_day,
            1,
            1_000_000,
        )?;
        c.range_i(
            "evaluation.review_per_class",
            self.evaluation.review_per_class,
            1,
            1_000_000,
        )?;
        self.validate_world(c)
    }

    fn validate_world(&self, c: &Check<'_>) -> Result<()> {
        let missing = |section: &str| Error::Scenario {
            name: self.scenario.name.clone(),
            reason: format!("world = \"{section}\" needs a [{section}] section",),
        };
        match self.scenario.world {
            WorldKind::Ont => self.ont.as_ref().ok_or_else(|| missing("ont"))?.validate(c),
            WorldKind::Intent => self
                .intent
                .as_ref()
                .ok_or_else(|| missing("intent"))?
                .validate(c),
            WorldKind::Recommend => self
                .recommend
                .as_ref()
                .ok_or_else(|| missing("recommend"))?
                .validate(c),
            WorldKind::Replay => self
                .replay
                .as_ref()
                .ok_or_else(|| missing("replay"))?
                .validate(c),
        }
    }
}

/// Value checks that name the file, key and (when known) line of the offending value.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// File the values came from.
    pub path: &'a Path,
    /// The file's text, to find the line of a key.
    pub text: Option<&'a str>,
    /// `--set` assignments applied on top of the file.
    pub overrides: &'a [String],
}

impl Check<'_> {
    fn err(&self, key: &str, reason: String) -> Error {
        let overridden = self
            .overrides
            .iter()
            .any(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == key));
        let (path, line) = if overridden {
            (PathBuf::from("--set"), None)
        } else {
            (
                PathBuf::from(self.path),
                self.text.and_then(|t| lines::line_of(t, key)),
            )
        };
        Error::InvalidValue {
            path,
            line,
            key: key.to_string(),
            reason,
        }
    }

    /// `ok` or an error with `reason`.
    pub fn require(&self, ok: bool, key: &str, reason: &str) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(self.err(key, reason.to_string()))
        }
    }

    /// A probability / share in [0, 1].
    pub fn fraction(&self, key: &str, v: f64) -> Result<()> {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(self.err(key, format!("must be a fraction in [0, 1], got {v}")))
        }
    }

    /// A count that cannot be negative.
    pub fn non_negative(&self, key: &str, v: i64) -> Result<()> {
        if v >= 0 {
            Ok(())
        } else {
            Err(self.err(key, format!("must be >= 0, got {v}")))
        }
    }

    /// A finite float in [lo, hi].
    pub fn range_f(&self, key: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
        if v.is_finite() && v >= lo && v <= hi {
            Ok(())
        } else {
            Err(self.err(key, format!("must be in [{lo}, {hi}], got {v}")))
        }
    }

    /// A signed integer in [lo, hi].
    pub fn range_i(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<()> {
        if v >= lo && v <= hi {
            Ok(())
        } else {
            Err(self.err(key, format!("must be in [{lo}, {hi}], got {v}")))
        }
    }

    /// An unsigned integer in [lo, hi].
    pub fn range_u(&self, key: &str, v: u64, lo: u64, hi: u64) -> Result<()> {
        if v >= lo && v <= hi {
            Ok(())
        } else {
            Err(self.err(key, format!("must be in [{lo}, {hi}], got {v}")))
        }
    }

    /// `first <= second` for a pair of days (start/end of a drift phase).
    pub fn ordered(&self, key: &str, first: u32, second: u32) -> Result<()> {
        if first <= second {
            Ok(())
        } else {
            Err(self.err(key, format!("end day {second} is before start day {first}")))
        }
    }
}
