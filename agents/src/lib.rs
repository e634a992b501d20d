//! ledgerloop's agents: pure, I/O-free deciders of the governed training loop.
//!
//! For now this crate holds the statistical core of the DriftJudge:
//!
//! * [`drift`] declares the [`drift::DriftDetector`] trait and re-exports everything below.
//! * `drift/adwin.rs`, `drift/ddm.rs`, `drift/hddm_a.rs`, `drift/hddm_w.rs`,
//!   `drift/page_hinkley.rs` and `drift/kswin.rs` hold one concept-drift detector each,
//!   ported from River 0.26.1 so that detections are identical on identical input.
//! * [`drift::AnyDetector`] wraps all six in one serialisable enum for snapshots.
//! * `drift/py_random.rs` reproduces CPython's Mersenne Twister and `random.sample`,
//!   which KSWIN needs to draw the same sub-windows as River.
//! * `drift/special.rs` has the special functions (log-gamma, regularised incomplete
//!   gamma, erfc, normal CDF) and `drift/ks.rs` the exact two-sample Kolmogorov-Smirnov
//!   test as scipy computes it.
//! * `drift/data_drift.rs` chooses and runs the per-feature data-drift test as Evidently
//!   does, and `drift/distances.rs` holds the Wasserstein, Jensen-Shannon, PSI and
//!   chi-square/z-test computations together with Evidently's binning.
//! * [`perceiver`] holds the Perceiver: cleaning, feature summaries, label selection
//!   under a daily budget, pseudo-labels and online feedback.
//! * [`drift_judge`] holds the DriftJudge: data, concept and performance drift with
//!   cool-down and hysteresis, and retrain requests with a severity and a strategy.
//! * [`decider`] holds the [`decider::Decider`] contract every agent implements.
//! * [`error`] holds the crate's error type.
//! * [`evaluator`] holds the Evaluator: gates and McNemar's test turn a worker's evaluation report into a verdict.
//! * [`releaser`] holds the Releaser: registry, stepped canaries, online guard, approval and rollback.
//! * [`trainer`] holds the Trainer: when to retrain, on which data set (content hash) and with which strategy.
//! * [`distiller`] holds the Distiller: teacher -> student distillation requests and lineage.

pub mod decider;
pub mod distiller;
pub mod drift;
pub mod drift_judge;
pub mod error;
pub mod evaluator;
pub mod perceiver;
pub mod releaser;
pub mod trainer;

pub use error::{Error, Result};
