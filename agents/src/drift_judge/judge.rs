//! Turning fired signals into decisions: one alarm per shift (cool-down and hysteresis),
//! notices for everything suppressed, and a retrain request with severity and strategy.

use ledgerloop_events::catalogue::{DriftDetected, DriftNoticed, RetrainRequested, Rule};
use ledgerloop_events::Event;

use super::policy::DriftJudgePolicy;
use super::signal::Signal;
use super::state::DriftJudgeState;

/// Notice reason: an alarm was raised less than `cooldown_hours` ago (or on this input).
pub const REASON_COOLDOWN: &str = "cooldown";
/// Notice reason: the signal already alarmed and has not fallen below `rearm_score`.
pub const REASON_HYSTERESIS: &str = "hysteresis";
/// Notice reason: the crossing is too small (or in the good direction) to act on.
pub const REASON_BELOW_ACTION: &str = "below_action_threshold";

/// The decisions for the signals of one input, judged against `state` (the state after
/// the input was observed). Fired signals are taken strongest first, so when several
/// cross at once the alarm names the strongest and the others are noticed.
pub fn judge(policy: &DriftJudgePolicy, state: &DriftJudgeState, hour: u64, signals: &[Signal]) -> Vec<Event> {
    let mut fired: Vec<&Signal> = signals.iter().filter(|s| s.fired).collect();
    fired.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key().cmp(&b.key())));
    let since_alarm = state.last_alarm_hour.map(|h| hour.saturating_sub(h));
    let cooling = since_alarm.is_some_and(|d| d < policy.cooldown_hours);
    let model_id = state.champion.clone().unwrap_or_default();
    let mut events = Vec::new();
    let mut raised = false;
    for s in fired {
        let reason = if state.disarmed.contains(&s.key()) {
            Some(REASON_HYSTERESIS)
        } else if cooling || raised {
            Some(REASON_COOLDOWN)
        } else if s.score < policy.min_action_score {
            Some(REASON_BELOW_ACTION)
        } else {
            None
        };
        match reason {
            Some(reason) => events.push(noticed(policy, s, reason, &model_id, hour, since_alarm)),
            None => {
                raised = true;
                events.push(detected(s, &model_id));
                events.push(retrain(policy, s, &model_id, hour));
            }
        }
    }
    events
}

fn suppression_rule(policy: &DriftJudgePolicy, s: &Signal) -> Rule {
    s.rule
        .clone()
        .with("cooldown_hours", policy.cooldown_hours)
        .with("rearm_score", policy.rearm_score)
        .with("min_action_score", policy.min_action_score)
}

fn noticed(policy: &DriftJudgePolicy, s: &Signal, reason: &str, model_id: &str, hour: u64, since_alarm: Option<u64>) -> Event {
    let mut evidence = s.evidence.clone();
    if let Some(d) = since_alarm {
        evidence = evidence.with("hours_since_last_alarm", d as f64);
    }
    Event::from(DriftNoticed {
        detector: s.detector.clone(),
        reason: reason.to_owned(),
        drift_kind: s.kind.to_owned(),
        feature: s.feature.clone(),
        model_id: model_id.to_owned(),
        hour,
        evidence,
        rule: suppression_rule(policy, s),
    })
}

fn detected(s: &Signal, model_id: &str) -> Event {
    Event::from(DriftDetected {
        drift_kind: s.kind.to_owned(),
        detector: s.detector.clone(),
        feature: s.feature.clone(),
        model_id: model_id.to_owned(),
        evidence: s.evidence.clone(),
        rule: s.rule.clone(),
    })
}

fn retrain(policy: &DriftJudgePolicy, s: &Signal, model_id: &str, hour: u64) -> Event {
    let severity = policy.severity(s.score, s.drifted_share);
    let mut evidence = s.evidence.clone().with("score", s.score);
    if let Some((drifted, tested)) = s.drifted_share {
        evidence = evidence.with("features_drifted", drifted as f64).with("features_tested", tested as f64);
    }
    let small = serde_json::to_value(policy.small_shift_strategy).unwrap_or_default();
    let rule = Rule::new(policy.rule_name("retrain"))
        .with("medium_score", policy.medium_score)
        .with("high_score", policy.high_score)
        .with("wide_shift_share", policy.wide_shift_share)
        .with("small_shift_strategy", small);
    Event::from(RetrainRequested {
        severity: severity.name().to_owned(),
        strategy: policy.strategy(severity).to_owned(),
        model_id: model_id.to_owned(),
        hour,
        evidence,
        rule,
    })
}
