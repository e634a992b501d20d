//! ledgerloop-sim: the simulated world the loop is studied in.
//!
//! What lives where:
//! - [`config`]: scenario files (TOML, every parameter documented in `scenarios/*.toml`),
//!   validation, `--set` overrides;
//! - [`rng`], [`clock`]: per-component seeded randomness and virtual time;
//! - [`world`]: generators of hourly batches with hidden truth — [`world::ont`] (ONT
//!   fleet), [`world::intent`] (customer-service utterances), [`world::replay`] (CSV /
//!   JSONL files); the recommend world has its own loop in [`world::recommend`];
//! - [`sink`], [`log_sink`]: where a run's records go (the event log for the CLI);
//! - [`engine`]: the hour-by-hour discrete-event loop, baselines (static, oracle) side by
//!   side with the served policy;
//! - [`policy`]: the interface a governor (static baseline, the agents) implements, the
//!   serving route (champion / canary by stable hash); [`policy::rank`] for rankings;
//! - [`oracle`]: label oracle (budget, delay, noise) and delayed feedback per version;
//! - [`learner`]: the learner interface and built-in learners;
//! - [`metrics`], [`summary`]: per-day metrics, `summary.json`, the terminal table;
//! - [`bench`]: the ONT throughput benchmark the CLI's `bench sim` calls.

pub mod bench;
pub mod clock;
pub mod config;
pub mod data;
pub mod engine;
pub mod error;
pub mod learner;
pub mod log_sink;
pub mod metrics;
pub mod oracle;
pub mod policy;
pub mod rng;
pub mod run;
pub mod sink;
pub mod summary;
pub mod world;

pub use error::{Error, Result};
