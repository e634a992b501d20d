//! The typed catalogue of every event the loop writes.
//!
//! Adding an event type is a one-place change: write its payload struct in the file of
//! the agent that emits it (`catalogue/*.rs`) and add one line to the `catalogue!` call
//! below, giving its variant, its stored name, its current schema version and whether it
//! is a *decision* (carries `evidence` and `rule`, re-derivable by an auditor) or a
//! *fact* (something that happened: a worker result, an arrival, an observation).
//!
//! Raising a schema version means adding an upcast from the old version in
//! [`crate::upcast`] and a frozen fixture of the old version under `tests/fixtures/`.

use serde::{de::DeserializeOwned, Serialize};

use crate::{upcast, Error, Result};

mod common;
mod drift;
mod evaluate;
mod host;
mod operator;
mod perceive;
mod release;
mod train;
mod world;

pub use common::{Cost, Evidence, Rule};
pub use drift::{DriftDetected, DriftNoticed, RetrainRequested};
pub use evaluate::VerdictIssued;
pub use host::{InputRecorded, PoliciesLoaded};
pub use operator::{ApprovalGranted, OperatorNoted};
pub use perceive::{
    BatchIngested, FeedbackRecorded, LabelsReceived, LabelsRequested, PseudoLabelsAccepted,
    ReadingsQuarantined,
};
pub use release::{CanaryStarted, CanaryStepAdvanced, ModelPromoted, RolledBack};
pub use train::{
    Augmentation, CostBenefit, DistillationStarted, ModelTrained, RetrainDeferred,
    StudentDistilled, TrainingFailed, TrainingStarted,
};
pub use world::{BaselineTrained, DayClosed, ScenarioStarted, WarmStart};

/// Whether an event records a decision (with evidence and rule) or a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Decision,
    Fact,
}

/// One entry of the catalogue: what a build knows about an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeInfo {
    pub name: &'static str,
    pub schema_version: u16,
    pub kind: EventKind,
}

macro_rules! decision_parts {
    (decision, $p:ident) => {
        Some((&$p.evidence, &$p.rule))
    };
    (fact, $p:ident) => {{
        let _ = $p;
        None
    }};
}

macro_rules! kind_of {
    (decision) => {
        EventKind::Decision
    };
    (fact) => {
        EventKind::Fact
    };
}

macro_rules! catalogue {
    ($( $variant:ident = $name:literal, version $version:literal, $kind:ident; )*) => {
        /// Every event of the loop, typed. The variant name is the stored event type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $variant($variant), )*
        }

        /// The catalogue, in declaration order.
        pub const EVENT_TYPES: &[EventTypeInfo] = &[
            $( EventTypeInfo { name: $name, schema_version: $version, kind: kind_of!($kind) }, )*
        ];

        impl Event {
            /// The stored type name.
            pub fn event_type(&self) -> &'static str {
                match self { $( Event::$variant(_) => $name, )* }
            }

            /// The schema version this build writes for the event's type.
            pub fn schema_version(&self) -> u16 {
                match self { $( Event::$variant(_) => $version, )* }
            }

            /// Decision or fact.
            pub fn kind(&self) -> EventKind {
                match self { $( Event::$variant(_) => kind_of!($kind), )* }
            }

            /// The evidence and rule of a decision event; `None` for facts.
            pub fn decision(&self) -> Option<(&Evidence, &Rule)> {
                match self { $( Event::$variant(p) => decision_parts!($kind, p), )* }
            }

            /// The payload as JSON bytes, checked to decode back (see [`Event::to_payload_json`]).
            fn encode_payload(&self) -> Result<Vec<u8>> {
                match self { $( Event::$variant(p) => encode_checked($name, $version, p), )* }
            }

            /// The event of `event_type` with a default payload (every payload type
            /// implements `Default`); used to generate fixtures and documentation.
            pub fn default_for(event_type: &str) -> Option<Event> {
                match event_type {
                    $( $name => Some(Event::$variant($variant::default())), )*
                    _ => None,
                }
            }

            /// Decodes a stored payload of `event_type` at `version`, upcasting older
            /// versions to the current one.
            pub fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<Event> {
                match event_type {
                    $( $name => Ok(Event::$variant(decode_versioned($name, $version, version, payload)?)), )*
                    other => Err(Error::UnknownEventType {
                        event_type: other.to_string(),
                        version,
                        known: EVENT_TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
                    }),
                }
            }
        }

        $(
            impl From<$variant> for Event {
                fn from(p: $variant) -> Event {
                    Event::$variant(p)
                }
            }
        )*
    };
}

catalogue! {
    // Simulated world (written by the sim host, not by an agent).
    ScenarioStarted = "ScenarioStarted", version 1, fact;
    BaselineTrained = "BaselineTrained", version 1, fact;
    DayClosed = "DayClosed", version 1, fact;
    // Perceiver.
    BatchIngested = "BatchIngested", version 1, fact;
    ReadingsQuarantined = "ReadingsQuarantined", version 1, decision;
    LabelsRequested = "LabelsRequested", version 1, decision;
    LabelsReceived = "LabelsReceived", version 1, fact;
    PseudoLabelsAccepted = "PseudoLabelsAccepted", version 1, decision;
    FeedbackRecorded = "FeedbackRecorded", version 1, fact;
    // DriftJudge.
    DriftDetected = "DriftDetected", version 1, decision;
    DriftNoticed = "DriftNoticed", version 1, decision;
    RetrainRequested = "RetrainRequested", version 1, decision;
    // Trainer and Distiller.
    TrainingStarted = "TrainingStarted", version 1, decision;
    ModelTrained = "ModelTrained", version 2, fact;
    TrainingFailed = "TrainingFailed", version 1, fact;
    StudentDistilled = "StudentDistilled", version 1, fact;
    RetrainDeferred = "RetrainDeferred", version 1, decision;
    DistillationStarted = "DistillationStarted", version 1, decision;
    // Evaluator.
    VerdictIssued = "VerdictIssued", version 1, decision;
    // Releaser.
    CanaryStarted = "CanaryStarted", version 1, decision;
    CanaryStepAdvanced = "CanaryStepAdvanced", version 1, decision;
    ModelPromoted = "ModelPromoted", version 1, decision;
    RolledBack = "RolledBack", version 1, decision;
    // Operators.
    ApprovalGranted = "ApprovalGranted", version 1, fact;
    OperatorNoted = "OperatorNoted", version 1, fact;
    // Hosts.
    InputRecorded = "InputRecorded", version 1, fact;
    PoliciesLoaded = "PoliciesLoaded", version 1, fact;
}

impl Event {
    /// The payload as the JSON bytes that will be stored and hashed.
    ///
    /// The bytes are decoded back before they are accepted: JSON cannot carry NaN or
    /// infinite numbers (serde writes them as `null`), and such a payload would be
    /// unreadable later, so it is refused now with the type named.
    pub fn to_payload_json(&self) -> Result<Vec<u8>> {
        self.encode_payload()
    }

    /// Looks up a type in the catalogue.
    pub fn type_info(event_type: &str) -> Option<&'static EventTypeInfo> {
        EVENT_TYPES.iter().find(|t| t.name == event_type)
    }
}

fn encode_checked<T: Serialize + DeserializeOwned + PartialEq>(
    name: &str,
    version: u16,
    payload: &T,
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::InvalidEvent {
        reason: format!("{name} v{version}: {reason}"),
    };
    let bytes = serde_json::to_vec(payload).map_err(|e| fail(e.to_string()))?;
    let back: T = serde_json::from_slice(&bytes).map_err(|e| {
        fail(format!(
            "does not decode back ({e}); NaN or infinite numbers?"
        ))
    })?;
    if &back != payload {
        return Err(fail(
            "does not round-trip through JSON (NaN or infinite numbers?)".into(),
        ));
    }
    Ok(bytes)
}

fn decode_versioned<T: DeserializeOwned>(
    name: &str,
    current: u16,
    version: u16,
    payload: &[u8],
) -> Result<T> {
    let fail = |reason: String| Error::PayloadDecode {
        event_type: name.to_string(),
        version,
        reason,
    };
    if version == 0 {
        return Err(fail("schema versions start at 1".into()));
    }
    if version > current {
        return Err(Error::FutureSchemaVersion {
            event_type: name.to_string(),
            version,
            supported: current,
        });
    }
    if version == current {
        return serde_json::from_slice(payload).map_err(|e| fail(e.to_string()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| fail(e.to_string()))?;
    let upcast = upcast::to_current(name, version, current, value)?;
    serde_json::from_value(upcast).map_err(|e| fail(format!("after upcast to v{current}: {e}")))
}
