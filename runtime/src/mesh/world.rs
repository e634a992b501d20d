//! The simulated world on one side of NATS and the governed host on the other:
//! `ledgerloop devices` runs the world (fleet, oracle, outcomes) and `ledgerloop mesh
//! --world nats` runs the host and its agents.
//!
//! Each simulated hour the devices publish their readings as telemetry on
//! `ll.<scenario>.telemetry.<shard>` (shard = device key modulo [`SHARDS`], a shard's
//! rows batched [`MAX_ROWS_PER_MESSAGE`] to a message), which the host's Perceiver ingest
//! takes in queue group `perceiver`; then they close the hour with a request on
//! `ll.<scenario>.world` naming how many parts they sent. The host answers once every
//! part is in (or names the parts it lacks, which the devices send again), so the
//! devices never run more than one hour ahead: that reply is the acknowledgement, and
//! what waits in memory is bounded by one hour of telemetry. Labels on request,
//! outcomes (feedback) and the start and end of each day travel as requests on the same
//! subject. The served model's predictions come from `ll.<scenario>.predict`.
//!
//! Because the host sees the hour's rows in their original order and every exchange is
//! a request answered before the next, a run split this way writes the same log as
//! `ledgerloop sim`, event for event.
//!
//! * `world/devices.rs`: the devices' side, a `Policy` that forwards over NATS;
//! * `world/server.rs`: the host's side: telemetry ingest, world calls, predictions;
//! * `world/bench.rs`: `ledgerloop bench telemetry`.

pub mod bench;
pub mod devices;
pub mod server;

use ledgerloop_sim::data::{Dataset, FeatureSpec, Inputs, TaskShape};
use ledgerloop_sim::policy::{Feedback, LabelAnswer, LabelRequest, PolicyNote, ServingRoute};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Telemetry shards (subjects `ll.<scenario>.telemetry.0` ..).
pub const SHARDS: u64 = 8;
/// Rows in one telemetry message.
pub const MAX_ROWS_PER_MESSAGE: usize = 500;
/// Rows in one prediction request.
pub const MAX_PREDICT_ROWS: usize = 2_000;
/// Queue group of the Perceiver ingest.
pub const PERCEIVER_QUEUE: &str = crate::mesh::subjects::PERCEIVER_QUEUE;

/// Model inputs on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireInputs {
    /// Row-major features.
    Tabular {
        /// Columns per row.
        n_features: usize,
        /// `rows * n_features` values.
        values: Vec<f32>,
    },
    /// One utterance per row.
    Text {
        /// The utterances.
        texts: Vec<String>,
    },
}

impl WireInputs {
    /// Rows `from..to` of `inputs`.
    pub fn rows(inputs: &Inputs, from: usize, to: usize) -> Self {
        match inputs {
            Inputs::Tabular { n_features, values } => WireInputs::Tabular {
                n_features: *n_features,
                values: values[from * n_features..to * n_features].to_vec(),
            },
            Inputs::Text { texts } => WireInputs::Text {
                texts: texts[from..to].to_vec(),
            },
        }
    }

    /// The rows of `inputs` at `indices`, in that order.
    pub fn pick(inputs: &Inputs, indices: &[u32]) -> Self {
        match inputs {
            Inputs::Tabular { n_features, values } => WireInputs::Tabular {
                n_features: *n_features,
                values: indices
                    .iter()
                    .flat_map(|i| {
                        let at = *i as usize * n_features;
                        values[at..at + n_features].iter().copied()
                    })
                    .collect(),
            },
            Inputs::Text { texts } => WireInputs::Text {
                texts: indices.iter().map(|i| texts[*i as usize].clone()).collect(),
            },
        }
    }

    /// All rows of `inputs`.
    pub fn of(inputs: &Inputs) -> Self {
        Self::rows(inputs, 0, rows_of(inputs))
    }

    /// Back to the simulator's type, checking the row count.
    pub fn inputs(self, rows: usize) -> Result<Inputs> {
        let inputs = match self {
            WireInputs::Tabular { n_features, values } => Inputs::Tabular { n_features, values },
            WireInputs::Text { texts } => Inputs::Text { texts },
        };
        if rows_of(&inputs) != rows {
            return Err(Error::Mesh {
                reason: format!("inputs hold {} rows, not {rows}", rows_of(&inputs)),
            });
        }
        Ok(inputs)
    }
}

/// Rows in `inputs`.
pub fn rows_of(inputs: &Inputs) -> usize {
    match inputs {
        Inputs::Tabular { n_features, values } => values.len() / (*n_features).max(1),
        Inputs::Text { texts } => texts.len(),
    }
}

/// One telemetry message: consecutive rows of one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryPart {
    /// Simulated hour.
    pub hour: u64,
    /// Index of this part among the hour's parts.
    pub part: u32,
    /// Shard of every row of the part.
    pub shard: u64,
    /// Index of each row within the hour (the host restores the hour's order).
    pub rows: Vec<u32>,
    /// Device key per row.
    pub keys: Vec<u64>,
    /// Slice per row.
    pub slices: Vec<u16>,
    /// Inputs per row.
    pub inputs: WireInputs,
}

/// The world's start, as the host needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldStart {
    /// Classes, columns, slices.
    pub shape: TaskShape,
    /// Labelled warm-up rows.
    pub warmup_inputs: WireInputs,
    /// Their labels.
    pub warmup_labels: Vec<u32>,
    /// Seed reserved for the policy.
    pub seed: u64,
    /// Seed the world fitted its static baseline with (the host fits the same one).
    pub static_seed: u64,
    /// Virtual clock: time of day 0, hour 0.
    pub clock_start: chrono::DateTime<chrono::Utc>,
    /// Virtual clock: warm-up days.
    pub clock_warmup_days: u32,
    /// Labels the oracle answers per day.
    pub label_budget_per_day: u64,
    /// Largest canary fraction the engine accepts.
    pub max_canary_fraction: f64,
}

impl WorldStart {
    /// The warm-up dataset.
    pub fn warmup(&self) -> Result<Dataset> {
        Ok(Dataset {
            inputs: self
                .warmup_inputs
                .clone()
                .inputs(self.warmup_labels.len())?,
            labels: self.warmup_labels.clone(),
            n_classes: self.shape.n_classes(),
        })
    }
}

/// A request of the devices to the host on `ll.<scenario>.world`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum WorldCall {
    /// The devices are here; answered once the host is ready (nothing is written
    /// before, so the host can check that the log is empty).
    Hello,
    /// The run starts (the warm-up set is in the `runs` object store under `object`).
    Start {
        /// Object holding the JSON of a [`WorldStart`].
        object: String,
        /// Its SHA-256.
        sha256: String,
    },
    /// Labels the oracle answered.
    Labels {
        /// Simulated hour.
        hour: u64,
        /// The answers.
        answers: Vec<LabelAnswer>,
    },
    /// Outcomes revealed for one served version.
    Feedback {
        /// Simulated hour.
        hour: u64,
        /// Version that served them.
        version: String,
        /// The outcomes.
        feedback: Vec<Feedback>,
    },
    /// Every telemetry part of `hour` has been published.
    Observe {
        /// Simulated hour.
        hour: u64,
        /// Rows of the hour.
        rows: u32,
        /// Parts they were sent in.
        parts: u32,
    },
    /// A day ended.
    EndOfDay {
        /// Run day.
        day: u32,
    },
    /// The run is over: the host may stop.
    Finish,
}

/// The host's answer to a [`WorldCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum WorldReply {
    /// Done; the serving route now.
    Done {
        /// Route after the call.
        route: ServingRoute,
    },
    /// The hour was observed: labels wanted, and the route.
    Observed {
        /// Label requests of the Perceiver.
        requests: Vec<LabelRequest>,
        /// Route after the call.
        route: ServingRoute,
    },
    /// Notes of the day, and the route.
    Day {
        /// Notes for the summary.
        notes: Vec<PolicyNote>,
        /// Route after the call.
        route: ServingRoute,
    },
    /// Some telemetry parts of the hour never arrived: send them again.
    Missing {
        /// Their indices.
        parts: Vec<u32>,
    },
    /// The host failed; the run cannot go on.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A prediction request on `ll.<scenario>.predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictRequest {
    /// The version to ask; `None`: each row's version on the current route.
    pub version: Option<String>,
    /// Device key per row (the route's canary split is by key).
    pub keys: Vec<u64>,
    /// Inputs per row.
    pub inputs: WireInputs,
}

/// The answer to a [`PredictRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum PredictReply {
    /// One version and one class per row.
    Predicted {
        /// Version that answered each row.
        versions: Vec<String>,
        /// Predicted class per row.
        classes: Vec<u32>,
    },
    /// The request could not be answered.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The shard a device's telemetry goes to.
pub fn shard_of(key: u64) -> u64 {
    key % SHARDS
}

/// A feature list for error messages.
pub fn feature_names(features: &[FeatureSpec]) -> Vec<&str> {
    features.iter().map(|f| f.name.as_str()).collect()
}
