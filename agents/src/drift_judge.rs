//! The DriftJudge: watches the serving champion for data drift (per-feature tests against
//! its reference), concept drift (a River-identical detector on its online errors) and a
//! label-free performance drop (CBPE's expected accuracy), raises one alarm per shift, and
//! asks for a retrain with a severity and a suggested strategy.
//!
//! Its inputs are events already in the log: `BaselineTrained` (arm `baseline_arm`),
//! `ModelPromoted` and `RolledBack` name the champion; the Perceiver's `BatchIngested`
//! (samples and confidence) and `FeedbackRecorded` (the 0/1 error stream) feed it; a
//! rejecting `VerdictIssued` on the champion re-arms its signals (ranking hosts hand it
//! on). Its state is therefore the fold of those inputs together with its own decisions, in log
//! order; [`DriftJudge::step`] decides and then folds the input and the decisions.
//!
//! `evolve` cannot see the policy, so when a champion appears the judge records a
//! `DriftNoticed` with reason `watch_started` whose rule parameters hold its whole
//! policy; folding that event builds the detector and resets the reference. Decisions on
//! that champion then follow the recorded policy, so an auditor re-derives them from the
//! log alone; a changed policy takes effect with the next champion.
//!
//! The reference is the champion's first `reference_hours` of ingested samples (a seeded
//! reservoir of `reference_size` rows): the champion was trained on the data just before
//! it took over and was checked on it, so the data right after is the closest record in
//! the log of the distribution it is known to serve well.
//!
//! Alarm scope (see [`AlarmScope`]): per `signal` (the default) each signal alarms on
//! its own; per `episode` one alarm stands for a shift however many signals it reaches,
//! and later crossings of its signals ask for the same retrains beside a `DriftNoticed`
//! with reason `episode_continues` instead of a new alarm.
//!
//! Severity (see [`policy::DriftJudgePolicy::severity`]): the strongest signal's
//! normalised score (1 = threshold) below `medium_score` is `low` (`head_only` or `lora`),
//! below `high_score` `medium` (`fine_tune`), otherwise `high` (`full`); a data round in
//! which at least `wide_shift_share` of the features drifted raises it one level.

use ledgerloop_events::catalogue::{DriftDetected, DriftNoticed, Evidence, RetrainRequested, Rule};
use ledgerloop_events::Event;

use crate::decider::Decider;
use crate::error::Result;

pub mod policy;
pub mod signal;
pub mod state;

pub use policy::{AlarmScope, DetectorConfig, DriftJudgePolicy, Severity, SmallShiftStrategy};
pub use signal::Signal;
pub use state::{DriftJudgeState, Episode};

/// `DriftNoticed.reason` recording that the judge began watching a champion.
pub const REASON_WATCH_STARTED: &str = "watch_started";
/// Most signals kept disarmed at once (every feature plus concept and performance).
pub const MAX_DISARMED: usize = state::MAX_WATCHED_FEATURES + 2;

/// The DriftJudge decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftJudge {
    policy: DriftJudgePolicy,
}

impl DriftJudge {
    /// Builds the decider, rejecting an unusable policy.
    pub fn new(policy: DriftJudgePolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Self { policy })
    }

    /// The policy in force for the next champion.
    pub fn policy(&self) -> &DriftJudgePolicy {
        &self.policy
    }

    /// What a host does with one input event: decide, then fold the input and the
    /// decisions, in the order they stand in the log.
    pub fn step(&self, state: &mut DriftJudgeState, input: &Event) -> Result<Vec<Event>> {
        let events = self.decide(state, input)?;
        Self::evolve(state, input);
        for e in &events {
            Self::evolve(state, e);
        }
        Ok(events)
    }

    fn watch(&self, state: &DriftJudgeState, model_id: &str) -> Vec<Event> {
        if state.champion.as_deref() == Some(model_id)
            && state.policy.as_ref() == Some(&self.policy)
        {
            return Vec::new();
        }
        let params = match serde_json::to_value(&self.policy) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => Default::default(),
        };
        let p = &self.policy;
        let evidence = Evidence::new()
            .with("reference_hours", p.reference_hours as f64)
            .with("reference_size", p.reference_size as f64)
            .with("current_window", p.current_window as f64)
            .with("cooldown_hours", p.cooldown_hours as f64);
        vec![Event::from(DriftNoticed {
            detector: p.detector.name().to_owned(),
            reason: REASON_WATCH_STARTED.to_owned(),
            drift_kind: String::new(),
            feature: None,
            model_id: model_id.to_owned(),
            hour: state.last_hour,
            evidence,
            rule: Rule {
                policy: p.rule_name("watch"),
                params,
            },
        })]
    }
}

/// The policy recorded in a `watch_started` notice, if it parses and validates.
fn recorded_policy(rule: &Rule) -> Option<DriftJudgePolicy> {
    let map: serde_json::Map<String, serde_json::Value> = rule.params.clone().into_iter().collect();
    let policy: DriftJudgePolicy = serde_json::from_value(serde_json::Value::Object(map)).ok()?;
    policy.validate().ok().map(|()| policy)
}

/// Episode scope: an alarm opens an episode, or restarts the open one with its new
/// signal added (the shifts overlap, and neither should alarm again while both go on).
fn open_episode(state: &mut DriftJudgeState, kind: &str, feature: Option<&str>) {
    let scope = state.policy.as_ref().map(|p| p.alarm_scope);
    if scope != Some(AlarmScope::Episode) {
        return;
    }
    let mut episode = state.episode.take().unwrap_or_default();
    episode.opened_hour = state.last_hour;
    episode.quiet_rounds = 0;
    episode.add(signal::signal_key(kind, feature));
    state.episode = Some(episode);
}

/// Adds a crossing signal to the open episode, if there is one.
fn join_episode(state: &mut DriftJudgeState, kind: &str, feature: Option<&str>) {
    if let Some(episode) = state.episode.as_mut() {
        episode.add(signal::signal_key(kind, feature));
    }
}

fn disarm(state: &mut DriftJudgeState, kind: &str, feature: Option<&str>) {
    if state.disarmed.len() < MAX_DISARMED {
        state.disarmed.insert(signal::signal_key(kind, feature));
    }
}

impl Decider for DriftJudge {
    type State = DriftJudgeState;
    type Input = Event;

    fn decide(&self, state: &DriftJudgeState, input: &Event) -> Result<Vec<Event>> {
        let (after, hour, signals) = match input {
            Event::BaselineTrained(b) if b.arm == self.policy.baseline_arm => {
                return Ok(self.watch(state, &b.model_id))
            }
            Event::ModelPromoted(p) => return Ok(self.watch(state, &p.model_id)),
            Event::RolledBack(r) => return Ok(self.watch(state, &r.restored_model_id)),
            Event::FeedbackRecorded(f) => {
                let mut after = state.clone();
                let signals = after.observe_feedback(f);
                (after, f.hour, signals)
            }
            Event::BatchIngested(b) => {
                let mut after = state.clone();
                let signals = after.observe_batch(b);
                (after, b.hour, signals)
            }
            _ => return Ok(Vec::new()),
        };
        Ok(match &after.policy {
            Some(policy) => judge(policy, &after, hour, &signals),
            None => Vec::new(),
        })
    }

    fn evolve(state: &mut DriftJudgeState, event: &Event) {
        match event {
            Event::DriftNoticed(n) if n.reason == REASON_WATCH_STARTED => {
                let Some(policy) = recorded_policy(&n.rule) else {
                    return;
                };
                if let Ok(detector) = policy.detector.build() {
                    state.start_watch(policy, &n.model_id, detector);
                    state.last_hour = state.last_hour.max(n.hour);
                }
            }
            // An episode's continuation is the alarm it stands in for, minus the count:
            // it disarms its signal exactly as the alarm would have, so the judge asks
            // for the same retrains in either alarm scope.
            Event::DriftNoticed(n) if n.reason == REASON_EPISODE_CONTINUES => {
                disarm(state, &n.drift_kind, n.feature.as_deref());
                join_episode(state, &n.drift_kind, n.feature.as_deref());
            }
            // A crossing held back by the cool-down or the hysteresis while an episode is
            // open is the episode's shift spreading to another signal.
            Event::DriftNoticed(n)
                if n.reason == REASON_COOLDOWN || n.reason == REASON_HYSTERESIS =>
            {
                join_episode(state, &n.drift_kind, n.feature.as_deref());
            }
            // Only an alarm (or the continuation above) disarms its signal. A crossing
            // noticed during another alarm's cool-down (or too small to act on) stays
            // armed: if the shift persists past the cool-down, it raises its own alarm
            // instead of being swallowed by one it had nothing to do with.
            Event::DriftNoticed(_) => {}
            Event::DriftDetected(d) => {
                disarm(state, &d.drift_kind, d.feature.as_deref());
                state.alarms += 1;
                open_episode(state, &d.drift_kind, d.feature.as_deref());
            }
            Event::RetrainRequested(r) => state.last_alarm_hour = Some(r.hour),
            // A rejected candidate leaves the drift its alarm reported unanswered while the
            // champion serves on: every signal re-arms, so a shift that persists alarms
            // again once the cool-down ends instead of staying silenced by the hysteresis.
            // Only hosts that hand verdicts to the DriftJudge (rankings) reach this.
            Event::VerdictIssued(v)
                if v.verdict == crate::evaluator::REJECTED
                    && v.champion_model_id.is_some()
                    && v.champion_model_id == state.champion =>
            {
                state.disarmed.clear();
            }
            Event::FeedbackRecorded(f) => {
                state.observe_feedback(f);
            }
            Event::BatchIngested(b) => {
                state.observe_batch(b);
            }
            _ => {}
        }
    }
}

/// Notice reason: a retrain was requested less than `cooldown_hours` ago (or on this
/// input); for a crossing that continues the open episode, `episode_cooldown_hours` when
/// set.
pub const REASON_COOLDOWN: &str = "cooldown";
/// Notice reason: the signal already alarmed and has not fallen below `rearm_score`.
pub const REASON_HYSTERESIS: &str = "hysteresis";
/// Notice reason: the crossing is too small (or in the good direction) to act on.
pub const REASON_BELOW_ACTION: &str = "below_action_threshold";
/// Notice reason (alarm scope `episode`): the crossing belongs to the open episode's
/// shift; a retrain is requested beside it, as an alarm would have, without a new alarm.
pub const REASON_EPISODE_CONTINUES: &str = "episode_continues";

/// The decisions for the signals of one input, judged against `state` (the state after
/// the input was observed). Fired signals are taken strongest first, so when several
/// cross at once the alarm names the strongest and the others are noticed.
pub fn judge(
    policy: &DriftJudgePolicy,
    state: &DriftJudgeState,
    hour: u64,
    signals: &[Signal],
) -> Vec<Event> {
    let mut fired: Vec<&Signal> = signals.iter().filter(|s| s.fired).collect();
    fired.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.key().cmp(&b.key()))
    });
    let since_alarm = state.last_alarm_hour.map(|h| hour.saturating_sub(h));
    let model_id = state.champion.clone().unwrap_or_default();
    let mut events = Vec::new();
    let mut raised = false;
    for s in fired {
        let episode = match &state.episode {
            Some(e)
                if policy.alarm_scope == AlarmScope::Episode
                    && e.covers(s, policy.episode_joins_any_feature) =>
            {
                Some(e)
            }
            _ => None,
        };
        let cooldown = policy.cooldown_for(episode.is_some());
        let cooling = since_alarm.is_some_and(|d| d < cooldown);
        let reason = if state.disarmed.contains(&s.key()) {
            Some(REASON_HYSTERESIS)
        } else if cooling || raised {
            Some(REASON_COOLDOWN)
        } else if s.score < policy.min_action_score {
            Some(REASON_BELOW_ACTION)
        } else {
            None
        };
        match (reason, episode) {
            (Some(reason), _) => {
                events.push(noticed(policy, s, reason, &model_id, hour, since_alarm))
            }
            (None, episode) => {
                raised = true;
                events.push(match episode {
                    Some(e) => continues(policy, s, e, &model_id, hour, since_alarm),
                    None => detected(s, &model_id),
                });
                let mut request = retrain(policy, s, &model_id, hour);
                if policy.estimate_gain {
                    add_gain(&mut request, state, signals);
                }
                events.push(request);
            }
        }
    }
    events
}

fn suppression_rule(policy: &DriftJudgePolicy, s: &Signal) -> Rule {
    let rule = s
        .rule
        .clone()
        .with("cooldown_hours", policy.cooldown_hours)
        .with("rearm_score", policy.rearm_score)
        .with("min_action_score", policy.min_action_score);
    if policy.episode_cooldown_hours > 0 {
        rule.with("episode_cooldown_hours", policy.episode_cooldown_hours)
    } else {
        rule
    }
}

fn noticed(
    policy: &DriftJudgePolicy,
    s: &Signal,
    reason: &str,
    model_id: &str,
    hour: u64,
    since_alarm: Option<u64>,
) -> Event {
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

/// The notice that stands in for an alarm inside an open episode: the signal's evidence,
/// the episode's start and size, and the scope in the rule.
fn continues(
    policy: &DriftJudgePolicy,
    s: &Signal,
    episode: &Episode,
    model_id: &str,
    hour: u64,
    since_alarm: Option<u64>,
) -> Event {
    let mut event = noticed(
        policy,
        s,
        REASON_EPISODE_CONTINUES,
        model_id,
        hour,
        since_alarm,
    );
    if let Event::DriftNoticed(n) = &mut event {
        n.evidence = std::mem::take(&mut n.evidence)
            .with("episode.opened_hour", episode.opened_hour as f64)
            .with("episode.signals", episode.keys.len() as f64)
            .with("episode.quiet_rounds", f64::from(episode.quiet_rounds));
        n.rule = std::mem::take(&mut n.rule)
            .with("alarm_scope", "episode")
            .with("episode_quiet_rounds", policy.episode_quiet_rounds);
        if policy.episode_joins_any_feature {
            n.rule = std::mem::take(&mut n.rule).with("episode_joins_any_feature", true);
        }
        if policy.episode_cooldown_hours > 0 {
            n.rule = std::mem::take(&mut n.rule)
                .with("episode_cooldown_hours", policy.episode_cooldown_hours);
        }
    }
    event
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

/// Writes the gain a retrain is expected to recover into a `RetrainRequested`: the
/// online error increase of the champion over its baseline and the drop of the
/// label-free accuracy estimate (CBPE) from its reference, in accuracy points, and the
/// larger of the two (never below 0) as `gain.points`. The estimate comes from the
/// performance signal of this input when there is one, else from the samples held.
fn add_gain(request: &mut Event, state: &DriftJudgeState, signals: &[Signal]) {
    let Event::RetrainRequested(r) = request else {
        return;
    };
    let points = crate::trainer::budget::POINTS_PER_UNIT;
    let error_increase = match (state.errors.baseline_rate(), state.errors.recent_rate()) {
        (Some(b), Some(c)) => Some((c - b) * points),
        _ => None,
    };
    let drop = signals
        .iter()
        .find(|s| s.kind == "performance")
        .and_then(|s| s.evidence.get("statistic"))
        .or_else(|| Some(state.reference.confidence()? - state.current.confidence()?))
        .map(|d| d * points);
    let mut gain: f64 = 0.0;
    let mut evidence = std::mem::take(&mut r.evidence);
    for (key, value) in [
        ("gain.error_increase_points", error_increase),
        ("gain.accuracy_drop_points", drop),
    ] {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            evidence = evidence.with(key, v);
            gain = gain.max(v);
        }
    }
    r.evidence = evidence.with(crate::trainer::budget::GAIN_KEY, gain);
}

fn retrain(policy: &DriftJudgePolicy, s: &Signal, model_id: &str, hour: u64) -> Event {
    let severity = policy.severity(s.score, s.drifted_share);
    let mut evidence = s.evidence.clone().with("score", s.score);
    if let Some((drifted, tested)) = s.drifted_share {
        evidence = evidence
            .with("features_drifted", drifted as f64)
            .with("features_tested", tested as f64);
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
