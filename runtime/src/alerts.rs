//! Alerts: the events an operator must see, derived from the log.
//!
//! An alert is not a new fact: it is a view of an event already recorded (a confirmed
//! drift, a failed gate, a rollback, an exhausted budget, a failed worker), named by the
//! id of the decision that raised it, so an operator can `explain` it. [`alert_for`]
//! maps one event to its alert; the report lists them all ([`read`]) and a mesh host
//! can publish each on [`subject`] as it appends the event.

use std::path::Path;

use chrono::{DateTime, Utc};
use ledgerloop_events::{Event, FileLog};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;

/// Trainer deferral reason that raises a budget alert.
const BUDGET_EXHAUSTED: &str = "budget_exhausted";
/// Verdict of a candidate that failed a gate.
const REJECTED: &str = "rejected";

/// What kind of alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The DriftJudge confirmed a drift and asked for a retrain.
    DriftConfirmed,
    /// A candidate failed one of the Evaluator's gates.
    GateFailed,
    /// A canary (or new champion) was rolled back.
    Rollback,
    /// A retrain waits because the compute budget is spent.
    BudgetExhausted,
    /// A worker's job failed.
    WorkerFailure,
}

impl AlertKind {
    /// The name shown and published.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::DriftConfirmed => "drift_confirmed",
            AlertKind::GateFailed => "gate_failed",
            AlertKind::Rollback => "rollback",
            AlertKind::BudgetExhausted => "budget_exhausted",
            AlertKind::WorkerFailure => "worker_failure",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// Id of the decision that raised it (for a worker failure: the decision that
    /// started the job; the failure's own id when its cause is not recorded).
    pub decision_id: Uuid,
    /// Id of the event the alert is about.
    pub event_id: Uuid,
    /// When the event was recorded (virtual time in the sim).
    pub time: String,
    /// The model concerned, when there is one.
    pub model_id: Option<String>,
    /// One line for an operator.
    pub message: String,
}

/// The subject a mesh publishes alerts of `scenario` on (`ll.<scenario>.alerts`).
pub fn subject(scenario: &str) -> String {
    crate::mesh::subjects::alerts(scenario)
}

/// The alert an event raises, if it raises one: `id`, `cause` and `time` are the
/// event's envelope (its id, causation id and time).
pub fn alert_for(
    id: Uuid,
    cause: Option<Uuid>,
    time: DateTime<Utc>,
    event: &Event,
) -> Option<Alert> {
    let (kind, model_id, message) = match event {
        Event::DriftDetected(d) => (
            AlertKind::DriftConfirmed,
            Some(d.model_id.clone()),
            format!(
                "{} drift confirmed by {}{}",
                d.drift_kind,
                d.detector,
                d.feature
                    .as_ref()
                    .map(|f| format!(" on {f}"))
                    .unwrap_or_default()
            ),
        ),
        Event::VerdictIssued(v) if v.verdict == REJECTED => (
            AlertKind::GateFailed,
            Some(v.candidate_model_id.clone()),
            format!("candidate failed gates: {}", v.failed_gates.join(", ")),
        ),
        Event::RolledBack(r) => (
            AlertKind::Rollback,
            Some(r.model_id.clone()),
            format!("rolled back ({}); {} serves", r.reason, r.restored_model_id),
        ),
        Event::RetrainDeferred(d) if d.reason == BUDGET_EXHAUSTED => {
            let left = d.weighed.as_ref().map_or(String::new(), |w| {
                format!(
                    ": needs {:.1} cpu s, {} left",
                    w.estimated_cpu_seconds,
                    budget_left(w.cpu_budget_left_day, w.cpu_budget_left_week)
                )
            });
            (
                AlertKind::BudgetExhausted,
                Some(d.model_id.clone()),
                format!("retrain waits for the compute budget{left}"),
            )
        }
        Event::TrainingFailed(f) => (
            AlertKind::WorkerFailure,
            None,
            format!("job {} failed: {}", f.job_id, f.reason),
        ),
        _ => return None,
    };
    let decision_id = match event {
        Event::TrainingFailed(_) => cause.unwrap_or(id),
        _ => id,
    };
    Some(Alert {
        kind,
        decision_id,
        event_id: id,
        time: time.format("%Y-%m-%d %H:%M").to_string(),
        model_id: model_id.filter(|m| !m.is_empty()),
        message,
    })
}

/// The smaller of the day's and the week's budget left, as text.
fn budget_left(day: Option<f64>, week: Option<f64>) -> String {
    match (day, week) {
        (Some(d), Some(w)) => format!("{:.1} cpu s", d.min(w)),
        (Some(v), None) | (None, Some(v)) => format!("{v:.1} cpu s"),
        (None, None) => "no limit".to_string(),
    }
}

/// Every alert of the log in `log_dir`, in log order.
pub fn read(log_dir: &Path) -> Result<Vec<Alert>> {
    let log = FileLog::open_read_only(log_dir)?;
    let mut out = Vec::new();
    for recorded in log.read_all(0)? {
        let recorded = recorded?;
        let event = recorded.decode()?;
        out.extend(alert_for(
            recorded.id,
            recorded.causation_id,
            recorded.time,
            &event,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ledgerloop_events::catalogue::{RetrainDeferred, TrainingFailed};

    const ID: Uuid = Uuid::from_u128(7);

    fn alert(event: &Event, cause: Option<Uuid>) -> Option<Alert> {
        let time = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single()?;
        alert_for(ID, cause, time, event)
    }

    /// A budget deferral raises a budget alert naming the deferral; other deferrals
    /// raise none; a worker failure links the decision that started the job.
    #[test]
    fn alerts_link_the_deciding_event() {
        let deferred = Event::RetrainDeferred(RetrainDeferred {
            reason: "budget_exhausted".into(),
            model_id: "m0".into(),
            ..Default::default()
        });
        let raised = alert(&deferred, None).expect("alert");
        assert_eq!(raised.kind, AlertKind::BudgetExhausted);
        assert_eq!(raised.decision_id, ID);
        let cooldown = Event::RetrainDeferred(RetrainDeferred {
            reason: "cooldown".into(),
            ..Default::default()
        });
        assert!(alert(&cooldown, None).is_none());
        let failed = Event::TrainingFailed(TrainingFailed {
            job_id: "train-1".into(),
            reason: "diverged".into(),
            spent: None,
        });
        let started = Uuid::from_u128(3);
        let raised = alert(&failed, Some(started)).expect("alert");
        assert_eq!(raised.kind, AlertKind::WorkerFailure);
        assert_eq!(raised.decision_id, started);
        assert_eq!(raised.event_id, ID);
        assert_eq!(subject("ont"), "ll.ont.alerts");
    }
}
