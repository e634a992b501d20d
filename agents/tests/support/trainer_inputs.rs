//! The one job start shared by the Trainer's augmentation tests.

#![allow(dead_code)]

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{Trainer, TrainerInput, TrainerPolicy, TrainingJob};
use ledgerloop_events::catalogue::{
    BaselineTrained, LabelsReceived, RetrainRequested, TrainingStarted,
};
use ledgerloop_events::Event;

/// Given a baseline and 5,000 labels, when a high-severity request arrives, then the
/// Trainer under `policy` starts one job: its `TrainingStarted` and the job spec read
/// back from it.
pub fn started_job(policy: TrainerPolicy) -> (TrainingJob, TrainingStarted) {
    let t = Trainer::new(policy).expect("valid policy");
    let labels = Event::LabelsReceived(LabelsReceived {
        request_id: "r".into(),
        labels: 5000,
        cost: 0.0,
    });
    let baseline = Event::BaselineTrained(BaselineTrained {
        arm: "static".into(),
        model_id: "m0".into(),
        training_rows: 1000,
        ..Default::default()
    });
    let mut state = fold::<Trainer>(&[baseline, labels]);
    let request = RetrainRequested {
        severity: "high".into(),
        strategy: "full".into(),
        model_id: "m0".into(),
        hour: 30,
        ..Default::default()
    };
    Trainer::evolve(&mut state, &Event::RetrainRequested(request.clone()));
    let events = t
        .decide_and_evolve(&mut state, &TrainerInput::RetrainRequested(request))
        .expect("decides");
    let [Event::TrainingStarted(s)] = events.as_slice() else {
        panic!("expected one TrainingStarted, got {events:?}");
    };
    (TrainingJob::from_started(s).expect("job"), s.clone())
}
