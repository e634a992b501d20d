//! ledgerloop-runtime: the hosts that run the six agents, and the auditor.
//!
//! What lives where:
//! - [`alerts`]: the events an operator must see, derived from the log, each naming the
//!   decision that raised it;
//! - [`step`]: the one function that hands an input to an agent ([`step::apply`]),
//!   shared by hosts and the auditor so both reach the same decisions;
//! - [`journal`]: how each agent call is written to the log (`InputRecorded` + the
//!   decisions, one batch) and how an auditor rebuilds the input;
//! - [`blobs`]: content-addressed storage of large inputs and model weights;
//! - [`config`]: the agents' policy file (`scenarios/agents/*.toml`) and host settings;
//! - [`costs`]: the sim's deterministic cost model and the costs of a log summed per
//!   loop iteration;
//! - [`data`]: label, pseudo-label and warm-up row stores, the feature transform, the
//!   served models;
//! - [`transfer`]: a run's first model fine-tuned from another run's model (its final
//!   champion by default), resolved from that run's log and checked by SHA-256;
//! - [`workers`]: training, evaluation and distillation with `ledgerloop-models`, and
//!   the ranking workers (`workers/rank.rs`);
//! - [`host`]: [`host::GovernedPolicy`], the sim host, a simulator `Policy`;
//! - [`rank_host`]: [`rank_host::RankGovernedPolicy`], the sim host of ranking worlds
//!   (recommend), a simulator `RankPolicy` with the same agents and journal;
//! - [`mesh`]: the same agents over NATS: JetStream log backend, each agent a
//!   supervised ractor actor (or `ledgerloop agent` process) fed from its subject, the
//!   world over NATS (`devices`), predictions, operator commands, export, subjects,
//!   durability check, metrics and the generated per-agent server config;
//! - [`audit`]: re-derives every decision of a log from its recorded inputs;
//! - [`restore`]: rebuilds an agent's state from its recorded history (after a crash);
//! - [`faults`], [`simtest`]: deterministic fault simulation over many seeds, with the
//!   invariants checked after every simulated hour;
//! - [`explain`]: the causal chain of an event or a model version;
//! - [`report`]: the self-contained HTML report of a run folder (charts and decisions).
#![forbid(unsafe_code)]

pub mod alerts;
pub mod audit;
pub mod blobs;
pub mod config;
pub mod costs;
pub mod data;
pub mod error;
pub mod explain;
pub mod faults;
pub mod host;
pub mod journal;
pub mod mesh;
pub mod rank_host;
pub mod report;
pub mod restore;
pub mod simtest;
pub mod step;
pub mod transfer;
pub mod workers;

pub use error::{Error, Result};
