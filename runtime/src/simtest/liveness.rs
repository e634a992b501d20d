//! Liveness: once the faults stop, no work the loop started stays unfinished for longer
//! than its policy allows.
//!
//! Precisely, with `q(h) = max(h, end of the fault window)` (work begun during the
//! faults is given its full allowance from the moment they stop), every item begun at
//! hour `h` whose deadline `q(h) + allowance` falls before the end of the run must be
//! finished by then:
//!
//! | begun | finished by | allowance |
//! |---|---|---|
//! | `TrainingStarted`, `DistillationStarted` | the worker's fact | worker timeout + longest delivery delay + 1 h |
//! | `RetrainRequested` | a `TrainingStarted` or `RetrainDeferred` of the Trainer | `RETRAIN_ANSWER_HOURS` |
//! | `ModelTrained` (a candidate) | its `VerdictIssued` | `eval_max_wait_hours` + `LABEL_SLACK_HOURS` |
//! | `CanaryStarted` | `ModelPromoted` or `RolledBack` of that model | steps x `max_step_hours` + 24 h |
//!
//! Promotion itself is not required: whether a candidate is better is the world's
//! business, not the loop's. What liveness rules out is a loop that stalls: a job never
//! answered, a request never acted on, a candidate never judged, a canary never ended.

use ledgerloop_events::Event;
use ledgerloop_sim::clock::Clock;

use crate::config::GovernedConfig;
use crate::restore::LogView;

/// Hours a retrain request may wait for the Trainer's answer (a job or a deferral).
pub const RETRAIN_ANSWER_HOURS: u64 = 72;
/// Hours beyond `eval_max_wait_hours` for held-out labels to arrive: the oracle's delay
/// (a day) and a day's margin.
pub const LABEL_SLACK_HOURS: u64 = 48;
/// Hours beyond the canary steps' longest duration.
const CANARY_SLACK_HOURS: u64 = 24;

/// One piece of begun work.
#[derive(Debug)]
struct Work {
    what: String,
    begun: u64,
    allowance: u64,
    done: bool,
}

/// Checks liveness on the finished log; returns what stalled, if anything.
pub fn check(
    view: &LogView,
    config: &GovernedConfig,
    clock: &Clock,
    faults_until: u64,
    end_hour: u64,
) -> Option<String> {
    let f = &config.fault_injection;
    let job_allowance = f.worker_timeout_hours + f.max_delay_hours + 1;
    let verdict_allowance = config.host.eval_max_wait_hours + LABEL_SLACK_HOURS;
    let canary_allowance =
        config.releaser.steps.len() as u64 * config.releaser.max_step_hours + CANARY_SLACK_HOURS;
    let hour_of = |t: chrono::DateTime<chrono::Utc>| {
        let h = (t - clock.time_of(0)).num_hours();
        u64::try_from(h).unwrap_or(0)
    };
    let mut work: Vec<Work> = Vec::new();
    let begin = |work: &mut Vec<Work>, what: String, begun, allowance| {
        work.push(Work {
            what,
            begun,
            allowance,
            done: false,
        })
    };
    let finish = |work: &mut Vec<Work>, what: &str| {
        for w in work.iter_mut().filter(|w| w.what == what) {
            w.done = true;
        }
    };
    for (r, e) in &view.events {
        let hour = hour_of(r.time);
        match e {
            Event::TrainingStarted(s) => begin(&mut work, job(&s.job_id), hour, job_allowance),
            Event::DistillationStarted(s) => begin(&mut work, job(&s.job_id), hour, job_allowance),
            Event::ModelTrained(m) => {
                finish(&mut work, &job(&m.job_id));
                begin(&mut work, verdict(&m.model_id), hour, verdict_allowance);
            }
            Event::TrainingFailed(x) => finish(&mut work, &job(&x.job_id)),
            Event::StudentDistilled(x) => finish(&mut work, &job(&x.job_id)),
            Event::RetrainRequested(_) => {
                begin(&mut work, request(), hour, RETRAIN_ANSWER_HOURS);
            }
            Event::RetrainDeferred(_) => finish(&mut work, &request()),
            Event::VerdictIssued(v) => finish(&mut work, &verdict(&v.candidate_model_id)),
            Event::CanaryStarted(c) => {
                begin(&mut work, canary(&c.model_id), hour, canary_allowance)
            }
            Event::ModelPromoted(p) => finish(&mut work, &canary(&p.model_id)),
            Event::RolledBack(b) => finish(&mut work, &canary(&b.model_id)),
            _ => {}
        }
        if let Event::TrainingStarted(_) = e {
            finish(&mut work, &request());
        }
    }
    work.iter()
        .find(|w| !w.done && w.begun.max(faults_until) + w.allowance <= end_hour)
        .map(|w| {
            format!(
                "{} begun at hour {} is still unfinished at hour {end_hour} (faults stopped at \
                 hour {faults_until}, allowance {} h)",
                w.what, w.begun, w.allowance
            )
        })
}

fn job(id: &str) -> String {
    format!("job {id}")
}

fn verdict(model: &str) -> String {
    format!("the verdict on candidate {model}")
}

fn canary(model: &str) -> String {
    format!("the canary of {model}")
}

fn request() -> String {
    "a retrain request".to_string()
}
