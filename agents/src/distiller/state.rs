//! The Distiller's state: teachers waiting for a student, the running job, and the
//! teacher -> student lineage.

use std::collections::{BTreeMap, VecDeque};

use ledgerloop_events::catalogue::{DistillationStarted, StudentDistilled};
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

/// Teachers waiting for a free slot; the oldest is dropped beyond this, since a newer
/// teacher makes an older student less useful.
pub const MAX_QUEUE: usize = 8;
/// Teachers whose lineage is kept; the oldest is forgotten beyond this, which bounds the
/// state of a months-long run.
pub const MAX_LINEAGE: usize = 256;

/// What made a model a candidate teacher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistilTrigger {
    /// A worker trained it (`ModelTrained`).
    Trained,
    /// The Releaser promoted it to champion (`ModelPromoted`).
    Promoted,
    /// Nothing is distilled (e.g. a text model, for which no edge student exists).
    Never,
}

/// The queue of the `Never` trigger: always empty.
static NO_TEACHERS: VecDeque<String> = VecDeque::new();

/// The student distilled from one teacher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentRecord {
    /// The distillation job that made it.
    pub job_id: String,
    /// The student's model id.
    pub model_id: String,
    /// SHA-256 of the student's artifact.
    pub artifact_sha256: String,
    /// Student size in bytes.
    pub size_bytes: u64,
    /// Teacher size in bytes.
    pub teacher_size_bytes: u64,
}

/// Where one teacher stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lineage {
    /// A job is distilling it (attempt number).
    Running {
        /// The job.
        job_id: String,
        /// 1 for the first try.
        attempt: u32,
    },
    /// Its last attempt failed.
    Failed {
        /// Attempts made so far.
        attempts: u32,
    },
    /// Its student exists.
    Distilled(StudentRecord),
}

/// The fold of the Distiller's inputs and decisions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistillerState {
    /// Distillation jobs started since the log began; numbers the next job id.
    pub jobs_started: u64,
    /// The running job's id and teacher.
    pub running: Option<(String, String)>,
    /// Trained teachers not yet distilled, in arrival order (at most [`MAX_QUEUE`]).
    pub trained: VecDeque<String>,
    /// Promoted teachers not yet distilled, in arrival order (at most [`MAX_QUEUE`]).
    /// Two queues, so that candidates of the trigger a policy ignores can never push
    /// out those it acts on.
    pub promoted: VecDeque<String>,
    /// Teacher -> where it stands.
    pub lineage: BTreeMap<String, Lineage>,
    /// Teachers in the order their lineage began, for eviction.
    pub lineage_order: VecDeque<String>,
    /// The latest hour any folded event carried.
    pub last_hour: u64,
}

impl DistillerState {
    /// Folds one event; events the Distiller does not read are ignored.
    pub(crate) fn apply(&mut self, event: &Event) {
        match event {
            Event::ModelTrained(m) => self.enqueue(&m.model_id, DistilTrigger::Trained),
            Event::ModelPromoted(p) => {
                self.last_hour = self.last_hour.max(p.hour);
                self.enqueue(&p.model_id, DistilTrigger::Promoted);
            }
            Event::DistillationStarted(d) => self.on_started(d),
            Event::StudentDistilled(s) => self.on_distilled(s),
            Event::TrainingFailed(f) => self.on_failed(&f.job_id),
            _ => {}
        }
    }

    fn enqueue(&mut self, teacher: &str, trigger: DistilTrigger) {
        if teacher.is_empty() || self.lineage.contains_key(teacher) {
            return;
        }
        let Some(queue) = self.queue_mut(trigger) else {
            return;
        };
        if queue.iter().any(|t| t == teacher) {
            return;
        }
        if queue.len() >= MAX_QUEUE {
            queue.pop_front();
        }
        queue.push_back(teacher.to_string());
    }

    fn queue_mut(&mut self, trigger: DistilTrigger) -> Option<&mut VecDeque<String>> {
        match trigger {
            DistilTrigger::Trained => Some(&mut self.trained),
            DistilTrigger::Promoted => Some(&mut self.promoted),
            DistilTrigger::Never => None,
        }
    }

    /// The teachers waiting under `trigger`, oldest first.
    pub fn queue(&self, trigger: DistilTrigger) -> &VecDeque<String> {
        match trigger {
            DistilTrigger::Trained => &self.trained,
            DistilTrigger::Promoted => &self.promoted,
            DistilTrigger::Never => &NO_TEACHERS,
        }
    }

    fn on_started(&mut self, d: &DistillationStarted) {
        self.last_hour = self.last_hour.max(d.hour);
        self.jobs_started = self.jobs_started.saturating_add(1);
        self.trained.retain(|t| *t != d.teacher_model_id);
        self.promoted.retain(|t| *t != d.teacher_model_id);
        self.running = Some((d.job_id.clone(), d.teacher_model_id.clone()));
        let running = Lineage::Running {
            job_id: d.job_id.clone(),
            attempt: d.attempt,
        };
        if self
            .lineage
            .insert(d.teacher_model_id.clone(), running)
            .is_none()
        {
            self.lineage_order.push_back(d.teacher_model_id.clone());
            while self.lineage_order.len() > MAX_LINEAGE {
                if let Some(old) = self.lineage_order.pop_front() {
                    self.lineage.remove(&old);
                }
            }
        }
    }

    fn on_failed(&mut self, job_id: &str) {
        let Some((_, teacher)) = self.running.take_if(|(job, _)| job == job_id) else {
            return;
        };
        let attempts = match self.lineage.get(&teacher) {
            Some(Lineage::Running { attempt, .. }) => *attempt,
            _ => 1,
        };
        if let Some(entry) = self.lineage.get_mut(&teacher) {
            *entry = Lineage::Failed { attempts };
        }
    }

    fn on_distilled(&mut self, s: &StudentDistilled) {
        let Some((_, teacher)) = self.running.take_if(|(job, _)| *job == s.job_id) else {
            return;
        };
        let record = StudentRecord {
            job_id: s.job_id.clone(),
            model_id: s.model_id.clone(),
            artifact_sha256: s.artifact_sha256.clone(),
            size_bytes: s.size_bytes,
            teacher_size_bytes: s.teacher_size_bytes,
        };
        if let Some(entry) = self.lineage.get_mut(&teacher) {
            *entry = Lineage::Distilled(record);
        }
    }
}

/// The student distilled from `teacher`, once its job has reported back.
pub fn student_of<'a>(state: &'a DistillerState, teacher: &str) -> Option<&'a StudentRecord> {
    match state.lineage.get(teacher) {
        Some(Lineage::Distilled(record)) => Some(record),
        _ => None,
    }
}

/// The teacher a student was distilled from (lineage seen backwards).
pub fn teacher_of<'a>(state: &'a DistillerState, student: &str) -> Option<&'a str> {
    state.lineage.iter().find_map(|(teacher, l)| match l {
        Lineage::Distilled(r) if r.model_id == student => Some(teacher.as_str()),
        _ => None,
    })
}
