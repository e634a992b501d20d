//! `audit --deep` on a ranking run: every ranker fitted again and every evaluation
//! report recomputed from the rebuilt consumption.
//!
//! The first ranker is fitted again on the recorded warm-up training rows with the
//! parameters its `BaselineTrained` records (users, categories, slate size) and the
//! recorded policy's affinity weight; every training job is re-run by
//! `workers::rank::train` on the rows its `TrainingStarted` composes; every evaluation by
//! `workers::rank::evaluate` on the consumption delivered before it, against the
//! re-derived champion. A re-derived ranker must hash to the SHA-256 its `ModelTrained`
//! records (the first ranker's event records only its id, which holds the first hex
//! digits of that hash), and the re-run job's `ModelTrained` must equal the recorded one.
//!
//! The log keeps only the rankers' hashes; their weights live in `<run>/artifacts`,
//! where anyone who later reads a ranker takes it from. So the stored copy of every
//! reproduced ranker is compared with the re-derived bytes as well: a copy that was
//! altered or lost is reported even when the log itself is intact.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledgerloop_agents::evaluator::EvaluationReport;
use ledgerloop_agents::trainer::TrainingJob;
use ledgerloop_events::catalogue::InputRecorded;
use ledgerloop_events::{Event, RecordedEvent};
use ledgerloop_sim::world::recommend::model::PopAffinityParams;

use super::{Data, DeepReport, Loaded, Worker};
use crate::blobs::BlobStore;
use crate::config::{GovernedConfig, HostSettings, RankerSettings};
use crate::host::BASELINE_ARM;
use crate::workers::rank::{self, RankModel};
use crate::workers::TrainingData;

/// The first ranker's `BaselineTrained` metric holding the number of users.
const USERS_METRIC: &str = "users";
/// ... the number of item categories.
const CATEGORIES_METRIC: &str = "categories";
/// ... the slate size (the `k` of HR@k and of the ranker's per-category lists).
const SLATE_SIZE_METRIC: &str = "slate_size";

/// What the deep audit of a ranking run has re-derived so far.
pub(super) struct RankRerun<'a> {
    loaded: &'a Loaded<'a>,
    data: &'a Data,
    /// The run's stored ranker weights.
    artifacts: BlobStore,
    settings: &'a HostSettings,
    params: PopAffinityParams,
    /// Re-derived rankers by their recorded id.
    models: BTreeMap<String, Arc<RankModel>>,
    /// Training jobs by the recorded id of the ranker they made.
    jobs: BTreeMap<String, TrainingJob>,
    report: DeepReport,
}

impl<'a> RankRerun<'a> {
    /// A re-run of the log in `loaded` on `data`, with the ranker's parameters read from
    /// the first ranker's `BaselineTrained` and `ranker`.
    pub(super) fn new(
        loaded: &'a Loaded<'a>,
        data: &'a Data,
        artifacts: BlobStore,
        config: &'a GovernedConfig,
        ranker: &RankerSettings,
    ) -> Result<Self, String> {
        let baseline = loaded
            .order
            .iter()
            .find_map(|(_, e)| match e {
                Event::BaselineTrained(b) if b.arm == BASELINE_ARM => Some(b),
                _ => None,
            })
            .ok_or("no BaselineTrained of the governed arm")?;
        let count = |key: &str| {
            baseline
                .metrics
                .get(key)
                .filter(|v| v.is_finite() && **v >= 0.0 && v.fract() == 0.0)
                .map(|v| *v as usize)
                .ok_or_else(|| format!("BaselineTrained records no whole `{key}` metric"))
        };
        let params = PopAffinityParams {
            users: count(USERS_METRIC)?,
            categories: count(CATEGORIES_METRIC)?,
            k: count(SLATE_SIZE_METRIC)?,
            affinity_weight: ranker.affinity_weight,
        };
        Ok(Self {
            loaded,
            data,
            artifacts,
            settings: &config.host,
            params,
            models: BTreeMap::new(),
            jobs: BTreeMap::new(),
            report: DeepReport::default(),
        })
    }

    /// The report of everything re-run.
    pub(super) fn into_report(self) -> DeepReport {
        self.report
    }

    fn rerun_event(&mut self, r: &RecordedEvent, e: &Event) -> Result<(), String> {
        match e {
            Event::BaselineTrained(b) if b.arm == BASELINE_ARM => {
                self.report.models_checked += 1;
                let model = rank::fit(&self.data.warmup, self.params).map_err(|e| e.to_string())?;
                self.check(r, e, &b.model_id, None, model);
                Ok(())
            }
            Event::ModelTrained(_) | Event::TrainingFailed(_) => self.retrain(r, e),
            Event::InputRecorded(rec) if rec.kind == "evaluation_report" => self.reevaluate(r, rec),
            _ => Ok(()),
        }
    }

    /// Counts `model` as reproduced when it is the recorded ranker, checks its stored
    /// copy, and keeps it under the recorded id for the jobs and evaluations after it.
    fn check(
        &mut self,
        r: &RecordedEvent,
        e: &Event,
        recorded_id: &str,
        recorded_sha: Option<&str>,
        model: RankModel,
    ) {
        let same_sha = recorded_sha.is_none_or(|sha| sha == model.artifact_sha256);
        if model.model_id == recorded_id && same_sha {
            self.report.models_reproduced += 1;
            self.check_stored(r, e, &model);
        } else {
            self.report.mismatches.push(format!(
                "{}: re-fitted ranker is {} ({}), recorded {}",
                at(r, e),
                model.model_id,
                model.artifact_sha256,
                recorded_sha.unwrap_or(recorded_id)
            ));
        }
        // Later jobs build on the recorded id either way, so one difference is reported
        // at its source and again only where it propagates.
        self.models.insert(recorded_id.to_string(), Arc::new(model));
    }

    /// Compares the run's stored weights of `model` with the re-derived bytes.
    fn check_stored(&mut self, r: &RecordedEvent, e: &Event, model: &RankModel) {
        self.report.artifacts_checked += 1;
        match self.artifacts.get(&model.artifact_sha256) {
            Ok(bytes) if bytes == model.artifact => self.report.artifacts_intact += 1,
            Ok(_) => self.report.mismatches.push(format!(
                "{}: the stored weights of {} differ from the re-fitted ones",
                at(r, e),
                model.model_id
            )),
            Err(err) => self.report.mismatches.push(format!(
                "{}: the stored weights of {}: {err}",
                at(r, e),
                model.model_id
            )),
        }
    }

    /// Re-runs the training job behind a `ModelTrained` or `TrainingFailed`.
    fn retrain(&mut self, r: &RecordedEvent, e: &Event) -> Result<(), String> {
        let Some((started_at, Event::TrainingStarted(started))) =
            r.causation_id.and_then(|c| self.loaded.get(c))
        else {
            // A refused distillation's failure is caused by its DistillationStarted:
            // no ranking worker ran for it.
            return Ok(());
        };
        let job = TrainingJob::from_started(started).map_err(|e| e.to_string())?;
        // The consumption the host held when the job started, no more: a job that asked
        // for rows not yet delivered failed in the run and must fail here too.
        let held = self
            .data
            .labels
            .range(0, self.data.labels_before(started_at.position));
        let data = TrainingData {
            warmup: &self.data.warmup,
            labels: &held,
            pseudo: &self.data.pseudo,
            n_classes: 0,
            transform: &self.data.transform,
        };
        let result = rank::train(&job, &data, self.params, &self.settings.costs);
        match (e, result) {
            (Event::ModelTrained(m), Ok((model, fact))) => {
                self.report.models_checked += 1;
                self.jobs.insert(m.model_id.clone(), job);
                // Other weights already make the rest of the fact differ: only a fact
                // that differs beside reproduced weights is a finding of its own.
                let same_weights =
                    model.model_id == m.model_id && model.artifact_sha256 == m.artifact_sha256;
                let same_fact = fact == *m;
                self.check(r, e, &m.model_id, Some(&m.artifact_sha256), model);
                if same_weights && !same_fact {
                    self.report.mismatches.push(format!(
                        "{}: the re-run job's ModelTrained differs in {}",
                        at(r, e),
                        differing_fields(&fact, m).join(", ")
                    ));
                }
                Ok(())
            }
            (Event::ModelTrained(m), Err(err)) => {
                self.report.models_checked += 1;
                Err(format!("{} failed on re-run: {err}", m.job_id))
            }
            (Event::TrainingFailed(_), Err(_)) => {
                self.report.failures_checked += 1;
                self.report.failures_reproduced += 1;
                Ok(())
            }
            (Event::TrainingFailed(f), Ok(_)) => {
                self.report.failures_checked += 1;
                Err(format!(
                    "{} failed in the run but trains on re-run",
                    f.job_id
                ))
            }
            _ => Ok(()),
        }
    }

    /// Recomputes a recorded evaluation report on the consumption delivered before it.
    fn reevaluate(&mut self, r: &RecordedEvent, rec: &InputRecorded) -> Result<(), String> {
        self.report.reports_checked += 1;
        let recorded: EvaluationReport =
            serde_json::from_value(rec.body.clone()).map_err(|e| e.to_string())?;
        let model = |id: &str| {
            self.models
                .get(id)
                .cloned()
                .ok_or(format!("ranker {id} not re-derived"))
        };
        let candidate = model(&recorded.candidate_model_id)?;
        let champion = model(&recorded.champion_model_id)?;
        let job = self
            .jobs
            .get(&recorded.candidate_model_id)
            .ok_or_else(|| format!("candidate {} without a job", recorded.candidate_model_id))?;
        let heldout = rank::heldout(
            &self.data.labels,
            job.composition.fresh_labels.to as usize,
            self.data.labels_before(r.position),
            self.settings.eval_max_rows,
        );
        let again = rank::evaluate(
            &candidate,
            &champion,
            &heldout,
            &self.data.old_holdout,
            self.params.k,
            &self.settings.costs,
        );
        if again == recorded {
            self.report.reports_reproduced += 1;
        } else {
            self.report.mismatches.push(format!(
                "{} #{} evaluation_report ({} vs {}): the recomputed report differs in {}",
                r.stream.as_str(),
                r.sequence,
                recorded.candidate_model_id,
                recorded.champion_model_id,
                differing_fields(&again, &recorded).join(", ")
            ));
        }
        Ok(())
    }
}

impl Worker for RankRerun<'_> {
    fn rerun(&mut self, r: &RecordedEvent, e: &Event) -> Result<(), String> {
        self.rerun_event(r, e)
            .map_err(|reason| format!("{}: {reason}", e.event_type()))
    }

    fn report(&mut self) -> &mut DeepReport {
        &mut self.report
    }
}

/// The event a finding is about: stream, sequence and type.
fn at(r: &RecordedEvent, e: &Event) -> String {
    format!("{} #{} {}", r.stream.as_str(), r.sequence, e.event_type())
}

/// Top-level fields whose JSON differs between `again` and `recorded`.
fn differing_fields<T: serde::Serialize>(again: &T, recorded: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(again), serde_json::to_value(recorded))
    else {
        return vec!["(not comparable as JSON)".to_string()];
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(b.keys().filter(|k| !a.contains_key(*k)).cloned())
        .collect()
}
