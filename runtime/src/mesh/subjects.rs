//! Every NATS subject of the mesh, in one place, so `nats sub 'll.>'` explains itself:
//!
//! | subject | published by | read by |
//! |---|---|---|
//! | `ll.<scenario>.telemetry.<shard>` | devices (`ledgerloop devices`) | Perceiver (queue group `perceiver`) |
//! | `ll.<scenario>.labels` | the labelling service (the device simulator's oracle) | Perceiver |
//! | `ll.<scenario>.feedback` | outcome sources | Perceiver |
//! | `ll.<scenario>.evt.<stream>` | the stream's owner only (JetStream stream `LL_EVENTS`) | every agent that needs it |
//! | `ll.<scenario>.in.<role>` | the host (request/reply: one agent call each) | that agent (queue group `agents`) |
//! | `ll.<scenario>.cmd.<role>` | operators (`approve`, `rollback`) | that agent |
//! | `ll.<scenario>.world` | devices (request/reply: hour closed, labels, outcomes, day end) | the mesh host |
//! | `ll.<scenario>.predict` | clients (request/reply) | the serving route (champion / canary) |
//! | `ll.<scenario>.alerts` | agents | operators |
//!
//! Event streams are named after their writer: one per agent role (`perceiver`,
//! `drift_judge`, `trainer`, `distiller`, `evaluator`, `releaser`), plus `world` (the
//! device simulator's facts), `workers` (training and distillation results), `labels`,
//! `host` and `operator`.

/// Queue group the Perceivers share, so each reading is cleaned once.
pub const PERCEIVER_QUEUE: &str = "perceiver";

/// Telemetry of one shard of the fleet.
pub fn telemetry(scenario: &str, shard: u32) -> String {
    format!("ll.{scenario}.telemetry.{shard}")
}

/// Telemetry of every shard (what the Perceiver subscribes to).
pub fn telemetry_all(scenario: &str) -> String {
    format!("ll.{scenario}.telemetry.*")
}

/// Label deliveries.
pub fn labels(scenario: &str) -> String {
    format!("ll.{scenario}.labels")
}

/// Revealed outcomes.
pub fn feedback(scenario: &str) -> String {
    format!("ll.{scenario}.feedback")
}

/// One event stream (see [`crate::mesh::jetstream::event_subject`]).
pub fn events(scenario: &str, stream: &str) -> String {
    crate::mesh::jetstream::event_subject(scenario, stream)
}

/// Calls of one agent (request/reply; see `mesh/agent.rs`).
pub fn agent_inputs(scenario: &str, role: &str) -> String {
    format!("ll.{scenario}.in.{role}")
}

/// Operator commands for one role.
pub fn commands(scenario: &str, role: &str) -> String {
    format!("ll.{scenario}.cmd.{role}")
}

/// Requests of the devices to the host (hour closed, labels, outcomes, day end).
pub fn world(scenario: &str) -> String {
    format!("ll.{scenario}.world")
}

/// Prediction requests.
pub fn predict(scenario: &str) -> String {
    format!("ll.{scenario}.predict")
}

/// Alerts for operators.
pub fn alerts(scenario: &str) -> String {
    format!("ll.{scenario}.alerts")
}
