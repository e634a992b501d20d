//! Errors raised by the agents crate.

/// Everything that can go wrong in this crate: bad parameters and unusable samples.
///
/// Detectors never panic on bad parameters; their constructors return
/// [`Error::InvalidParameter`] instead so that a policy file can be rejected before a run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A parameter lies outside the range in which the algorithm is defined.
    #[error("{component}: parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The detector or test that rejected the parameter.
        component: &'static str,
        /// The parameter's name, as River or Evidently spells it.
        name: &'static str,
        /// The rejected value, rendered for the message.
        value: String,
        /// Which range the parameter must lie in.
        reason: &'static str,
    },
    /// A reference or current sample was empty.
    #[error("{what} sample is empty")]
    EmptySample {
        /// Which sample was empty ("reference" or "current").
        what: &'static str,
    },
    /// The reference and current columns are of different kinds (numeric vs categorical).
    #[error("reference column is {reference} but current column is {current}")]
    MismatchedColumns {
        /// Kind of the reference column.
        reference: &'static str,
        /// Kind of the current column.
        current: &'static str,
    },
    /// A sample held NaN or an infinity, which none of the tests define.
    #[error("{what} sample holds a non-finite value at index {index}")]
    NonFinite {
        /// Which sample held the value ("reference" or "current").
        what: &'static str,
        /// Position of the first offending value.
        index: usize,
    },
    /// A worker's report or an online statistic was unusable (out of range, non-finite,
    /// inconsistent counts); the decider refuses to decide on it rather than guess.
    #[error("{component}: invalid input: {reason}")]
    InvalidInput {
        /// The decider that refused the input.
        component: &'static str,
        /// What was wrong, with the offending value.
        reason: String,
    },
    /// An explicit request (e.g. a canary for an unblessed candidate, a rollback with
    /// nothing to restore) that policy forbids; nothing was decided.
    #[error("{component}: refused `{subject}`: {reason}")]
    Refused {
        /// The decider that refused.
        component: &'static str,
        /// The model or command refused.
        subject: String,
        /// Which rule forbids it.
        reason: String,
    },
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error::InvalidParameter`]; a helper so validations stay one line each.
pub(crate) fn invalid(
    component: &'static str,
    name: &'static str,
    value: impl std::fmt::Display,
    reason: &'static str,
) -> Error {
    Error::InvalidParameter {
        component,
        name,
        value: value.to_string(),
        reason,
    }
}
