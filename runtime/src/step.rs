//! The one way an input reaches an agent, shared by the sim host and the auditor.
//!
//! Each agent has its own convention for facts (the Trainer and Distiller fold an input
//! fact *before* deciding; the DriftJudge decides first and then folds it; the Releaser
//! folds a verdict before deciding). [`apply`] encodes all of them, so a host and an
//! auditor that both call it on the same inputs reach the same states and decisions.
//! An input that only updates state (a baseline, an approval) is an [`Input::Fold`]: it
//! is folded and never decided on.

use ledgerloop_agents::decider::Decider;
use ledgerloop_agents::distiller::{Distiller, DistillerInput, DistillerState};
use ledgerloop_agents::drift_judge::{DriftJudge, DriftJudgeState};
use ledgerloop_agents::evaluator::{EvaluationReport, Evaluator, EvaluatorState};
use ledgerloop_agents::perceiver::{
    FeedbackBatch, Perceiver, PerceiverInput, PerceiverState, ReadingBatch,
};
use ledgerloop_agents::releaser::{
    OnlineStats, Releaser, ReleaserInput, ReleaserState, RollbackCommand,
};
use ledgerloop_agents::trainer::{Trainer, TrainerInput, TrainerState};
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

use crate::error::{agent, Result};

/// The six roles, in the order a host consults them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Cleans readings, chooses labels, tallies feedback.
    Perceiver,
    /// Data, concept and performance drift.
    DriftJudge,
    /// When and on what to retrain.
    Trainer,
    /// Teacher -> student for the edge.
    Distiller,
    /// Candidate vs champion gates.
    Evaluator,
    /// Registry, canaries, promotion and rollback.
    Releaser,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Perceiver,
        Role::DriftJudge,
        Role::Trainer,
        Role::Distiller,
        Role::Evaluator,
        Role::Releaser,
    ];

    /// The role's name, also its actor role and its stream's prefix.
    pub fn name(self) -> &'static str {
        match self {
            Role::Perceiver => "perceiver",
            Role::DriftJudge => "drift_judge",
            Role::Trainer => "trainer",
            Role::Distiller => "distiller",
            Role::Evaluator => "evaluator",
            Role::Releaser => "releaser",
        }
    }

    /// The role with this name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What is handed to an agent. Event inputs are recorded by reference (their id); the
/// others are recorded inline or as a blob (see `journal`).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An hour's readings with the serving model's probabilities (Perceiver).
    Readings(ReadingBatch),
    /// An hour's revealed outcomes (Perceiver).
    Feedback(FeedbackBatch),
    /// A logged event the agent reacts to (DriftJudge, Trainer, Distiller).
    Event(Event),
    /// A logged event the agent only folds into its state.
    Fold(Event),
    /// A logged event delivered with the data rows it stands for (a label delivery, the
    /// warm-up set), recorded so `audit --deep` can re-run the workers. The agent sees
    /// only the event: it is decided on, or only folded when `fold_only`.
    Rows {
        /// The event.
        event: Event,
        /// Fold without deciding.
        fold_only: bool,
        /// The rows.
        rows: Box<crate::data::RowsRecord>,
    },
    /// The hour passed (Trainer, Distiller).
    Tick,
    /// An evaluation worker's measurements (Evaluator).
    Report(EvaluationReport),
    /// A verdict with the online statistics at its arrival (Releaser).
    Verdict {
        /// The `VerdictIssued` event.
        verdict: Event,
        /// Cumulative served/error counts per version.
        online: OnlineStats,
    },
    /// The hourly analysis of the running canary (Releaser).
    Analyse(OnlineStats),
    /// An operator's rollback command (Releaser).
    Rollback {
        /// Who asked.
        command: RollbackCommand,
        /// Online statistics now.
        online: OnlineStats,
    },
}

impl Input {
    /// The tag recorded in `InputRecorded.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Readings(_) => "reading_batch",
            Input::Feedback(_) => "feedback_batch",
            Input::Event(_) => "event",
            Input::Fold(_) => "fold",
            Input::Rows { .. } => "rows",
            Input::Tick => "tick",
            // The Trainer reads an evaluation's cost from this record (iteration scope).
            Input::Report(_) => ledgerloop_agents::trainer::EVALUATION_REPORT_KIND,
            Input::Verdict { .. } => "verdict",
            Input::Analyse(_) => "analyse",
            Input::Rollback { .. } => "rollback",
        }
    }
}

/// The six deciders with their validated policies.
#[derive(Debug, Clone)]
pub struct Agents {
    /// Perceiver.
    pub perceiver: Perceiver,
    /// DriftJudge.
    pub drift_judge: DriftJudge,
    /// Trainer.
    pub trainer: Trainer,
    /// Distiller.
    pub distiller: Distiller,
    /// Evaluator.
    pub evaluator: Evaluator,
    /// Releaser.
    pub releaser: Releaser,
}

/// The six folds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct States {
    /// Perceiver.
    pub perceiver: PerceiverState,
    /// DriftJudge.
    pub drift_judge: DriftJudgeState,
    /// Trainer.
    pub trainer: TrainerState,
    /// Distiller.
    pub distiller: DistillerState,
    /// Evaluator.
    pub evaluator: EvaluatorState,
    /// Releaser.
    pub releaser: ReleaserState,
}

/// Hands `input`, arriving at `hour`, to `role`: decides and folds following the
/// agent's convention. Returns the decisions, already folded into `states`. An input
/// the agent does not take is an error naming both.
pub fn apply(
    agents: &Agents,
    states: &mut States,
    role: Role,
    hour: u64,
    input: &Input,
) -> Result<Vec<Event>> {
    match input {
        Input::Fold(event)
        | Input::Rows {
            event,
            fold_only: true,
            ..
        } => {
            fold(states, role, event);
            return Ok(Vec::new());
        }
        Input::Rows { event, .. } => {
            return apply(agents, states, role, hour, &Input::Event(event.clone()));
        }
        _ => {}
    }
    match role {
        Role::Perceiver => {
            let input = match input {
                Input::Readings(b) => PerceiverInput::Batch(b.clone()),
                Input::Feedback(f) => PerceiverInput::Feedback(f.clone()),
                other => return Err(wrong(role, other)),
            };
            agents
                .perceiver
                .decide_and_evolve(&mut states.perceiver, &input)
                .map_err(agent("perceiver"))
        }
        Role::DriftJudge => match input {
            Input::Event(e) => agents
                .drift_judge
                .step(&mut states.drift_judge, e)
                .map_err(agent("drift_judge")),
            other => Err(wrong(role, other)),
        },
        Role::Trainer => {
            let input = trainer_input(hour, input)?;
            if let Some(fact) = fact_of(&input) {
                Trainer::evolve(&mut states.trainer, &fact);
            }
            agents
                .trainer
                .decide_and_evolve(&mut states.trainer, &input)
                .map_err(agent("trainer"))
        }
        Role::Distiller => {
            let input = distiller_input(hour, input)?;
            if let Some(fact) = distiller_fact(&input) {
                Distiller::evolve(&mut states.distiller, &fact);
            }
            agents
                .distiller
                .decide_and_evolve(&mut states.distiller, &input)
                .map_err(agent("distiller"))
        }
        Role::Evaluator => match input {
            Input::Report(r) => agents
                .evaluator
                .decide_and_evolve(&mut states.evaluator, r)
                .map_err(agent("evaluator")),
            other => Err(wrong(role, other)),
        },
        Role::Releaser => releaser_step(agents, states, input),
    }
}

/// Folds `event` into `role`'s state (the decider's `evolve`).
pub fn fold(states: &mut States, role: Role, event: &Event) {
    match role {
        Role::Perceiver => Perceiver::evolve(&mut states.perceiver, event),
        Role::DriftJudge => DriftJudge::evolve(&mut states.drift_judge, event),
        Role::Trainer => Trainer::evolve(&mut states.trainer, event),
        Role::Distiller => Distiller::evolve(&mut states.distiller, event),
        Role::Evaluator => Evaluator::evolve(&mut states.evaluator, event),
        Role::Releaser => Releaser::evolve(&mut states.releaser, event),
    }
}

fn releaser_step(agents: &Agents, states: &mut States, input: &Input) -> Result<Vec<Event>> {
    let input = match input {
        Input::Verdict { verdict, online } => {
            let Event::VerdictIssued(v) = verdict else {
                return Err(wrong(Role::Releaser, input));
            };
            // The verdict is folded first, so the state knows the candidate is blessed.
            Releaser::evolve(&mut states.releaser, verdict);
            ReleaserInput::Verdict {
                verdict: v.clone(),
                online: online.clone(),
            }
        }
        Input::Analyse(online) => ReleaserInput::Tick(online.clone()),
        Input::Rollback { command, online } => ReleaserInput::Rollback {
            command: command.clone(),
            online: online.clone(),
        },
        other => return Err(wrong(Role::Releaser, other)),
    };
    agents
        .releaser
        .decide_and_evolve(&mut states.releaser, &input)
        .map_err(agent("releaser"))
}

fn trainer_input(hour: u64, input: &Input) -> Result<TrainerInput> {
    Ok(match input {
        Input::Tick => TrainerInput::Tick { hour },
        Input::Event(Event::RetrainRequested(r)) => TrainerInput::RetrainRequested(r.clone()),
        Input::Event(Event::LabelsReceived(l)) => TrainerInput::LabelsReceived {
            labels: l.clone(),
            hour,
        },
        Input::Event(Event::PseudoLabelsAccepted(p)) => TrainerInput::PseudoLabelsAccepted {
            pseudo: p.clone(),
            hour,
        },
        Input::Event(Event::ModelTrained(m)) => TrainerInput::ModelTrained {
            trained: m.clone(),
            hour,
        },
        Input::Event(Event::TrainingFailed(f)) => TrainerInput::TrainingFailed {
            failed: f.clone(),
            hour,
        },
        other => return Err(wrong(Role::Trainer, other)),
    })
}

/// The fact a Trainer input carries, folded before `decide` (module convention).
fn fact_of(input: &TrainerInput) -> Option<Event> {
    Some(match input {
        TrainerInput::RetrainRequested(r) => Event::RetrainRequested(r.clone()),
        TrainerInput::LabelsReceived { labels, .. } => Event::LabelsReceived(labels.clone()),
        TrainerInput::PseudoLabelsAccepted { pseudo, .. } => {
            Event::PseudoLabelsAccepted(pseudo.clone())
        }
        TrainerInput::ModelTrained { trained, .. } => Event::ModelTrained(trained.clone()),
        TrainerInput::TrainingFailed { failed, .. } => Event::TrainingFailed(failed.clone()),
        TrainerInput::Tick { .. } => return None,
    })
}

fn distiller_input(hour: u64, input: &Input) -> Result<DistillerInput> {
    Ok(match input {
        Input::Tick => DistillerInput::Tick { hour },
        Input::Event(Event::ModelTrained(m)) => DistillerInput::ModelTrained {
            trained: m.clone(),
            hour,
        },
        Input::Event(Event::ModelPromoted(p)) => DistillerInput::ModelPromoted(p.clone()),
        Input::Event(Event::StudentDistilled(s)) => DistillerInput::StudentDistilled {
            student: s.clone(),
            hour,
        },
        Input::Event(Event::TrainingFailed(f)) => DistillerInput::TrainingFailed {
            failed: f.clone(),
            hour,
        },
        other => return Err(wrong(Role::Distiller, other)),
    })
}

fn distiller_fact(input: &DistillerInput) -> Option<Event> {
    Some(match input {
        DistillerInput::ModelTrained { trained, .. } => Event::ModelTrained(trained.clone()),
        DistillerInput::ModelPromoted(p) => Event::ModelPromoted(p.clone()),
        DistillerInput::StudentDistilled { student, .. } => {
            Event::StudentDistilled(student.clone())
        }
        DistillerInput::TrainingFailed { failed, .. } => Event::TrainingFailed(failed.clone()),
        DistillerInput::Tick { .. } => return None,
    })
}

fn wrong(role: Role, input: &Input) -> crate::Error {
    let what = match input {
        Input::Event(e) | Input::Fold(e) | Input::Rows { event: e, .. } => {
            format!("{} event", e.event_type())
        }
        other => other.kind().to_string(),
    };
    crate::Error::Replay {
        stream: role.name().to_string(),
        sequence: 0,
        reason: format!("the {} does not take a {what} input", role.name()),
    }
}
