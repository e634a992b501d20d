//! The label oracle (budget, delay, noise) and delayed feedback per serving version, seen
//! through a probing policy that asks for every label and serves a canary.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledgerloop_sim::bench::ont_scenario;
use ledgerloop_sim::data::Observed;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Canary, Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::run::run_scenario;
use ledgerloop_sim::{Error, Result};

/// Asks for a label on every row and serves `fraction` of keys from a canary (the same
/// model under another name); records what comes back and when.
#[derive(Debug)]
struct Probe {
    route: ServingRoute,
    model: Option<Arc<dyn Classifier>>,
    fraction: f64,
    hour: u64,
    answers: Vec<(u64, LabelAnswer)>,
    feedback: Vec<(u64, String, Feedback)>,
}

impl Probe {
    fn new(fraction: f64) -> Self {
        Self {
            route: ServingRoute::champion("none"),
            model: None,
            fraction,
            hour: 0,
            answers: Vec::new(),
            feedback: Vec::new(),
        }
    }
}

impl Policy for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn start(&mut self, start: &PolicyStart<'_>) -> Result<()> {
        self.model = Some(start.baseline.clone());
        self.route = ServingRoute {
            champion: "champion".into(),
            canary: Some(Canary {
                version: "canary".into(),
                fraction: self.fraction,
            }),
        };
        Ok(())
    }
    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> Result<()> {
        self.answers.extend(answers.iter().map(|a| (hour, *a)));
        Ok(())
    }
    fn on_feedback(&mut self, hour: u64, version: &str, feedback: &[Feedback]) -> Result<()> {
        self.feedback
            .extend(feedback.iter().map(|f| (hour, version.to_string(), *f)));
        Ok(())
    }
    fn route(&self) -> &ServingRoute {
        &self.route
    }
    fn model(&self, _version: &str) -> Option<Arc<dyn Classifier>> {
        self.model.clone()
    }
    fn observe(&mut self, batch: Observed<'_>, requests: &mut Vec<LabelRequest>) -> Result<()> {
        self.hour = batch.hour;
        requests.extend((0..batch.keys.len() as u32).map(|row| LabelRequest { row }));
        Ok(())
    }
    fn end_of_day(&mut self, _day: u32) -> Result<Vec<PolicyNote>> {
        Ok(Vec::new())
    }
}

/// Labels stop at the daily budget, arrive exactly `delay_hours` later and are wrong at
/// about the noise rate; outcomes arrive `delay_hours` later, per version, and each key
/// stays in one version with the canary holding about its fraction of keys.
#[test]
fn oracle_and_feedback_follow_the_scenario() {
    let scenario = ont_scenario(&[
        "ont.devices=400".into(),
        "scenario.days=4".into(),
        "oracle.daily_budget=500".into(),
        "oracle.delay_hours=5".into(),
        "oracle.noise_rate=0.2".into(),
        "feedback.delay_hours=24".into(),
        "feedback.observed_fraction=1.0".into(),
    ])
    .expect("scenario");
    let mut probe = Probe::new(0.3);
    let out = run_scenario(&scenario, &mut probe).expect("run");
    for d in &out.days {
        assert_eq!(d.labels.asked, 500, "day {}", d.day);
        assert_eq!(d.labels.refused, 400 * 24 - 500, "day {}", d.day);
    }
    assert!(probe
        .answers
        .iter()
        .all(|(hour, a)| hour - a.asked_hour == 5));
    assert!(probe
        .feedback
        .iter()
        .all(|(hour, _, f)| hour - f.hour == 24));
    // Truth from the outcomes, to measure the oracle's noise.
    let truth: BTreeMap<(u64, u32), u32> = probe
        .feedback
        .iter()
        .map(|(_, _, f)| ((f.hour, f.row), f.outcome))
        .collect();
    let compared: Vec<bool> = probe
        .answers
        .iter()
        .filter_map(|(_, a)| truth.get(&(a.asked_hour, a.row)).map(|t| *t != a.label))
        .collect();
    assert!(compared.len() > 500);
    let wrong = compared.iter().filter(|w| **w).count() as f64 / compared.len() as f64;
    assert!((wrong - 0.2).abs() < 0.05, "noise {wrong}");
    let mut version_of_key: BTreeMap<u64, &str> = BTreeMap::new();
    for (_, version, f) in &probe.feedback {
        let v = version_of_key.entry(f.key).or_insert(version.as_str());
        assert_eq!(*v, version.as_str(), "key {} switched version", f.key);
    }
    let canary = version_of_key.values().filter(|v| **v == "canary").count() as f64;
    let share = canary / version_of_key.len() as f64;
    assert!((share - 0.3).abs() < 0.07, "canary share {share}");
    let day = &out.days[1];
    let names: Vec<&str> = day
        .served_versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(names, ["champion", "canary"]);
}

/// A canary fraction above `route.max_canary_fraction` stops the run with a policy error.
#[test]
fn canary_above_the_limit_is_refused() {
    let scenario = ont_scenario(&[
        "ont.devices=50".into(),
        "scenario.days=1".into(),
        "route.max_canary_fraction=0.2".into(),
    ])
    .expect("scenario");
    let err = run_scenario(&scenario, &mut Probe::new(0.5)).unwrap_err();
    assert!(
        matches!(&err, Error::Policy { reason, .. } if reason.contains("max_canary_fraction")),
        "{err}"
    );
}
