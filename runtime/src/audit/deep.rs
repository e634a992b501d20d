//! `audit --deep`: re-runs the workers from the recorded data and checks every
//! artifact hash and evaluation report.
//!
//! The data come from the log's recorded inputs: the warm-up rows (with the world's
//! column flags and the first fit's seed) and every label delivery are `rows` inputs of
//! the Trainer; pseudo-labels are the rows of the stored reading batches that each
//! `PseudoLabelsAccepted` names, labelled with the serving model's top class. The first
//! model is fitted again (a warm-started one fine-tuned again from the source weights
//! copied into the run's artifacts folder, checked by SHA-256), then every training job in log order on the re-derived parent,
//! every evaluation on the re-derived models, every distillation on the re-derived
//! teacher. A hash that differs is reported with the job that produced it.
//!
//! A ranking run (its policy has a `[ranker]` table) is re-run by `deep/rank.rs` on the
//! same rebuilt data: the warm-up consumption and every hour's delivered consumption are
//! the Trainer's `rows` inputs there too.

mod rank;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ledgerloop_agents::evaluator::EvaluationReport;
use ledgerloop_agents::perceiver::ReadingBatch;
use ledgerloop_agents::trainer::TrainingJob;
use ledgerloop_events::catalogue::{InputRecorded, WarmStart};
use ledgerloop_events::{Event, RecordedEvent};
use ledgerloop_models::{Model as _, TabularModel};
use serde::Serialize;
use uuid::Uuid;

use super::{AuditStage, Progress};
use crate::blobs::BlobStore;
use crate::config::GovernedConfig;
use crate::data::{FeatureTransform, RowStore, RowsRecord, ServedModel};
use crate::host::{ARTIFACTS_DIR, BASELINE_ARM};
use crate::workers::{self, TrainingData};

/// What the deep audit re-ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeepReport {
    /// Trained models (the first fit included) re-trained.
    pub models_checked: u64,
    /// Of which the weights hashed as recorded.
    pub models_reproduced: u64,
    /// Failed jobs re-run.
    pub failures_checked: u64,
    /// Of which failed again.
    pub failures_reproduced: u64,
    /// Evaluation reports recomputed.
    pub reports_checked: u64,
    /// Of which came out identical.
    pub reports_reproduced: u64,
    /// Students re-distilled.
    pub students_checked: u64,
    /// Of which hashed as recorded.
    pub students_reproduced: u64,
    /// Stored weights (`<run>/artifacts`) compared with the re-derived ones (rankings).
    pub artifacts_checked: u64,
    /// Of which held exactly the re-derived bytes.
    pub artifacts_intact: u64,
    /// What differed.
    pub mismatches: Vec<String>,
}

impl DeepReport {
    /// True when everything re-run came out as recorded.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
            && self.models_checked == self.models_reproduced
            && self.failures_checked == self.failures_reproduced
            && self.reports_checked == self.reports_reproduced
            && self.students_checked == self.students_reproduced
            && self.artifacts_checked == self.artifacts_intact
    }
}

/// The log as read by the auditor: events in global order and by id.
pub(crate) struct Loaded<'a> {
    pub order: &'a [(RecordedEvent, Event)],
    pub by_id: &'a HashMap<Uuid, usize>,
}

impl Loaded<'_> {
    fn get(&self, id: Uuid) -> Option<&(RecordedEvent, Event)> {
        self.by_id.get(&id).map(|i| &self.order[*i])
    }

    fn source(&self, r: &InputRecorded) -> Option<&Event> {
        let id = Uuid::parse_str(r.source_event_id.as_deref()?).ok()?;
        self.get(id).map(|(_, e)| e)
    }
}

/// The rebuilt data of a run.
struct Data {
    warmup: RowStore,
    old_holdout: RowStore,
    labels: RowStore,
    /// (global position of the delivery, label rows after it).
    label_marks: Vec<(u64, usize)>,
    pseudo: RowStore,
    transform: Arc<FeatureTransform>,
    n_classes: usize,
    slice_names: Vec<String>,
    seed: u64,
}

impl Data {
    /// Labels that had arrived before global position `position`.
    fn labels_before(&self, position: u64) -> usize {
        self.label_marks
            .iter()
            .take_while(|(p, _)| *p < position)
            .last()
            .map_or(0, |(_, n)| *n)
    }
}

fn rebuild(loaded: &Loaded<'_>, blobs: &BlobStore) -> Result<Data, String> {
    let mut warm: Option<RowsRecord> = None;
    let mut labels: Option<RowStore> = None;
    let mut label_marks = Vec::new();
    let mut pseudo_rows: Vec<(Vec<f32>, String, u32)> = Vec::new();
    let mut batch: Option<(String, ReadingBatch)> = None;
    for (r, e) in loaded.order {
        match (r.stream.as_str(), e) {
            ("trainer", Event::InputRecorded(rec)) if rec.kind == "rows" => {
                let sha = rec
                    .blob_sha256
                    .as_deref()
                    .ok_or("rows input without blob")?;
                let record: RowsRecord =
                    serde_json::from_slice(&blobs.get(sha).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                match loaded.source(rec) {
                    Some(Event::BaselineTrained(_)) => warm = Some(record),
                    Some(Event::LabelsReceived(_)) => {
                        let rows = record.store()?;
                        let store = labels.get_or_insert_with(|| RowStore::new(rows.n_features));
                        store.extend(&rows);
                        label_marks.push((r.position, store.len()));
                    }
                    _ => return Err(format!("rows input #{} without its event", r.sequence)),
                }
            }
            ("perceiver", Event::InputRecorded(rec)) if rec.kind == "reading_batch" => {
                if let Some(sha) = rec.blob_sha256.clone() {
                    batch = Some((sha, ReadingBatch::default()));
                }
            }
            ("perceiver", Event::PseudoLabelsAccepted(p)) => {
                let Some((sha, readings)) = batch.as_mut() else {
                    return Err("pseudo-labels without a reading batch".into());
                };
                if readings.rows.is_empty() {
                    *readings = serde_json::from_slice(&blobs.get(sha).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                }
                for item in &p.item_ids {
                    let row = readings
                        .rows
                        .iter()
                        .find(|x| &x.item_id == item)
                        .ok_or_else(|| format!("pseudo-label {item} not in its batch"))?;
                    let features = row.features.iter().map(|v| v.unwrap_or(f64::NAN) as f32);
                    pseudo_rows.push((
                        features.collect(),
                        row.text.clone(),
                        top_class(&row.probabilities),
                    ));
                }
            }
            _ => {}
        }
    }
    let warm = warm.ok_or("no recorded warm-up rows")?;
    let world = warm
        .world
        .clone()
        .ok_or("warm-up rows without world facts")?;
    let all = warm.store()?;
    let train_rows = warm.train_rows.ok_or("warm-up rows without their split")?;
    let mut pseudo = RowStore::new(all.n_features);
    for (features, text, class) in &pseudo_rows {
        if all.n_features == 0 {
            pseudo.push_text(text, *class, 0);
        } else {
            pseudo.push(features, *class, 0);
        }
    }
    Ok(Data {
        warmup: all.range(0, train_rows),
        old_holdout: all.range(train_rows, all.len()),
        labels: labels.unwrap_or_else(|| RowStore::new(all.n_features)),
        label_marks,
        pseudo,
        transform: Arc::new(FeatureTransform::from_flags(world.log_scale.clone())),
        n_classes: world.n_classes,
        slice_names: world.slice_names,
        seed: world.seed,
    })
}

fn top_class(p: &[f64]) -> u32 {
    let mut best = 0;
    for (i, x) in p.iter().enumerate() {
        if *x > p[best] {
            best = i;
        }
    }
    best as u32
}

/// True for the events the deep audit re-runs a worker for (the progress bar's steps).
fn is_work(event: &Event) -> bool {
    match event {
        Event::BaselineTrained(b) => b.arm == BASELINE_ARM,
        Event::ModelTrained(_) | Event::TrainingFailed(_) | Event::StudentDistilled(_) => true,
        Event::InputRecorded(rec) => rec.kind == "evaluation_report",
        _ => false,
    }
}

/// Re-runs every worker of the log; see the module documentation.
pub(crate) fn deep(
    loaded: &Loaded<'_>,
    blobs: &BlobStore,
    config: &GovernedConfig,
    progress: &mut Progress<'_>,
) -> DeepReport {
    let mut report = DeepReport::default();
    let work = loaded.order.iter().filter(|(_, e)| is_work(e)).count();
    progress.stage(AuditStage::Deep, work as u64);
    tracing::debug!(jobs = work, "re-running the workers");
    let data = match rebuild(loaded, blobs) {
        Ok(d) => d,
        Err(reason) => {
            report
                .mismatches
                .push(format!("cannot rebuild the run's data: {reason}"));
            return report;
        }
    };
    // Weights live beside the stored inputs (`<run>/artifacts`); a warm-started run's
    // first model is re-derived from the source weights copied there.
    let run_dir = blobs.dir().parent().unwrap_or(std::path::Path::new("."));
    let artifacts = BlobStore::new(run_dir.join(ARTIFACTS_DIR));
    if let Some(ranker) = &config.ranker {
        return match rank::RankRerun::new(loaded, &data, artifacts, config, ranker) {
            Ok(mut st) => {
                rerun_all(loaded, progress, &mut st);
                st.into_report()
            }
            Err(reason) => {
                report
                    .mismatches
                    .push(format!("cannot rebuild the ranker's parameters: {reason}"));
                report
            }
        };
    }
    let mut st = Rerun {
        loaded,
        data: &data,
        artifacts,
        settings: &config.host,
        models: BTreeMap::new(),
        jobs: BTreeMap::new(),
        report,
    };
    rerun_all(loaded, progress, &mut st);
    st.report
}

/// Re-runs the worker behind one event of the log (classification or ranking).
trait Worker {
    /// Re-runs the worker behind `e`, if any; an error is a mismatch of that event.
    fn rerun(&mut self, r: &RecordedEvent, e: &Event) -> Result<(), String>;

    /// The report so far.
    fn report(&mut self) -> &mut DeepReport;
}

impl Worker for Rerun<'_> {
    fn rerun(&mut self, r: &RecordedEvent, e: &Event) -> Result<(), String> {
        rerun(self, r, e)
    }

    fn report(&mut self) -> &mut DeepReport {
        &mut self.report
    }
}

/// Re-runs every event's worker in log order, reporting an error against its event.
fn rerun_all(loaded: &Loaded<'_>, progress: &mut Progress<'_>, st: &mut impl Worker) {
    for (r, e) in loaded.order {
        if let Err(reason) = st.rerun(r, e) {
            st.report()
                .mismatches
                .push(format!("{} #{}: {reason}", r.stream.as_str(), r.sequence));
        }
        if is_work(e) {
            tracing::debug!(
                stream = r.stream.as_str(),
                sequence = r.sequence,
                event = e.event_type(),
                "worker re-run"
            );
            progress.step();
        }
    }
}

/// What the deep audit has re-derived so far.
struct Rerun<'a> {
    loaded: &'a Loaded<'a>,
    data: &'a Data,
    /// The run's model weights (a warm start's source among them).
    artifacts: BlobStore,
    settings: &'a crate::config::HostSettings,
    /// Re-derived models by their recorded id.
    models: BTreeMap<String, Arc<ServedModel>>,
    /// Training jobs by the recorded id of the model they made.
    jobs: BTreeMap<String, TrainingJob>,
    report: DeepReport,
}

/// Re-runs the worker behind one event, if any, and counts what came out as recorded.
fn rerun(st: &mut Rerun<'_>, r: &RecordedEvent, e: &Event) -> Result<(), String> {
    match e {
        Event::BaselineTrained(b) if b.arm == BASELINE_ARM => {
            st.report.models_checked += 1;
            first_model(st.data, st.settings, &st.artifacts, b.warm_start.as_ref())
                .and_then(|m| check_model(&mut st.report, &mut st.models, &b.model_id, None, m))
        }
        Event::ModelTrained(_) | Event::TrainingFailed(_) => {
            if let Event::ModelTrained(m) = e {
                check_stored(
                    &mut st.report,
                    &st.artifacts,
                    &m.model_id,
                    &m.artifact_sha256,
                );
            }
            retrain(
                st.loaded,
                r,
                e,
                st.data,
                &mut st.models,
                &mut st.jobs,
                st.settings,
                &mut st.report,
            )
        }
        Event::InputRecorded(rec) if rec.kind == "evaluation_report" => {
            st.report.reports_checked += 1;
            reevaluate(rec, r.position, st.data, &st.models, &st.jobs, st.settings).map(|same| {
                st.report.reports_reproduced += u64::from(same);
                if !same {
                    st.report.mismatches.push(format!(
                        "evaluator #{}: the recomputed report differs",
                        r.sequence
                    ));
                }
            })
        }
        Event::StudentDistilled(s) => {
            st.report.students_checked += 1;
            check_stored(&mut st.report, &st.artifacts, &s.job_id, &s.artifact_sha256);
            redistil(st.loaded, r, s, st.data, &st.models, st.settings).map(|sha| {
                if sha == s.artifact_sha256 {
                    st.report.students_reproduced += 1;
                } else {
                    st.report.mismatches.push(format!(
                        "{}: student weights hash {sha}, recorded {}",
                        s.job_id, s.artifact_sha256
                    ));
                }
            })
        }
        _ => Ok(()),
    }
}

/// Checks that the run's stored copy of an artifact is there and still hashes to its
/// recorded SHA-256: re-deriving the weights alone would never notice a damaged or
/// replaced file in `artifacts/`, which is what `explain`, transfer and operators read.
fn check_stored(report: &mut DeepReport, artifacts: &BlobStore, what: &str, sha256: &str) {
    report.artifacts_checked += 1;
    match artifacts.get(sha256) {
        Ok(_) => report.artifacts_intact += 1,
        Err(err) => report
            .mismatches
            .push(format!("{what}: the stored weights: {err}")),
    }
}

/// The first model again: fitted from scratch, or (a warm-started run) the source's
/// weights read from the run's own artifacts folder, checked against the recorded
/// SHA-256 and model id, and fine-tuned again.
fn first_model(
    data: &Data,
    settings: &crate::config::HostSettings,
    artifacts: &BlobStore,
    warm_start: Option<&WarmStart>,
) -> Result<ServedModel, String> {
    let source = match warm_start {
        None => None,
        Some(w) => {
            let weights = artifacts
                .get(&w.source_artifact_sha256)
                .map_err(|e| format!("warm-start source {}: {e}", w.source_model_id))?;
            let source = TabularModel::from_weights(&weights).map_err(|e| e.to_string())?;
            let source_id = source.model_id().map_err(|e| e.to_string())?;
            if source_id != w.source_model_id {
                return Err(format!(
                    "the warm-start weights {} load as {source_id}, recorded {}",
                    w.source_artifact_sha256, w.source_model_id
                ));
            }
            Some(source)
        }
    };
    workers::first_model(
        source.as_ref(),
        &data.warmup,
        data.n_classes,
        &data.transform,
        settings,
        data.seed,
    )
    .map_err(|e| e.to_string())
}

fn check_model(
    report: &mut DeepReport,
    models: &mut BTreeMap<String, Arc<ServedModel>>,
    recorded_id: &str,
    recorded_sha: Option<&str>,
    model: ServedModel,
) -> Result<(), String> {
    // The first model's event names only its id (`<family>-<first 16 hex of the weights
    // hash>`); trained models also carry the full hash.
    let same_sha = recorded_sha.is_none_or(|sha| sha == model.artifact_sha256);
    if model.model_id == recorded_id && same_sha {
        report.models_reproduced += 1;
    } else {
        report.mismatches.push(format!(
            "{recorded_id}: re-trained weights are {} ({}), recorded {}",
            model.model_id,
            model.artifact_sha256,
            recorded_sha.unwrap_or(recorded_id)
        ));
    }
    // Later jobs build on the recorded id either way, so one difference is reported
    // once at its source and again only where it propagates.
    models.insert(recorded_id.to_string(), Arc::new(model));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn retrain(
    loaded: &Loaded<'_>,
    r: &RecordedEvent,
    e: &Event,
    data: &Data,
    models: &mut BTreeMap<String, Arc<ServedModel>>,
    jobs: &mut BTreeMap<String, TrainingJob>,
    settings: &crate::config::HostSettings,
    report: &mut DeepReport,
) -> Result<(), String> {
    let Some((_, Event::TrainingStarted(started))) = r.causation_id.and_then(|c| loaded.get(c))
    else {
        // Distillation failures are caused by a DistillationStarted; they are re-run
        // with their student, not here.
        return Ok(());
    };
    let job = TrainingJob::from_started(started).map_err(|e| e.to_string())?;
    let parent = job
        .parent_model_id
        .as_ref()
        .and_then(|p| models.get(p))
        .cloned();
    let training = TrainingData {
        warmup: &data.warmup,
        labels: &data.labels,
        pseudo: &data.pseudo,
        n_classes: data.n_classes,
        transform: &data.transform,
    };
    let result = workers::train(&job, &training, parent.as_deref(), settings);
    match (e, result) {
        (Event::ModelTrained(m), Ok((model, fact))) => {
            report.models_checked += 1;
            if fact.augmentation != m.augmentation {
                report.mismatches.push(format!(
                    "{}: re-run augmentation {:?}, recorded {:?}",
                    m.job_id, fact.augmentation, m.augmentation
                ));
            }
            jobs.insert(m.model_id.clone(), job);
            check_model(report, models, &m.model_id, Some(&m.artifact_sha256), model)
        }
        (Event::ModelTrained(m), Err(err)) => {
            report.models_checked += 1;
            Err(format!("{} failed on re-run: {err}", m.job_id))
        }
        (Event::TrainingFailed(_), Err(_)) => {
            report.failures_checked += 1;
            report.failures_reproduced += 1;
            Ok(())
        }
        (Event::TrainingFailed(f), Ok(_)) => {
            report.failures_checked += 1;
            Err(format!(
                "{} failed in the run but trains on re-run",
                f.job_id
            ))
        }
        _ => Ok(()),
    }
}

fn reevaluate(
    rec: &InputRecorded,
    position: u64,
    data: &Data,
    models: &BTreeMap<String, Arc<ServedModel>>,
    jobs: &BTreeMap<String, TrainingJob>,
    settings: &crate::config::HostSettings,
) -> Result<bool, String> {
    let recorded: EvaluationReport =
        serde_json::from_value(rec.body.clone()).map_err(|e| e.to_string())?;
    let model = |id: &str| {
        models
            .get(id)
            .cloned()
            .ok_or(format!("model {id} not re-derived"))
    };
    let candidate = model(&recorded.candidate_model_id)?;
    let champion = model(&recorded.champion_model_id)?;
    let job = jobs
        .get(&recorded.candidate_model_id)
        .ok_or("candidate without a job")?;
    let heldout = workers::heldout(
        &data.labels,
        job.composition.fresh_labels.to as usize,
        data.labels_before(position),
        data.n_classes,
        settings,
    );
    let mut again = workers::evaluate(
        &candidate,
        &champion,
        &heldout,
        &data.old_holdout,
        &data.slice_names,
        &settings.costs,
    )
    .map_err(|e| e.to_string())?;
    // A log written before costs were recorded has none to compare.
    if recorded.spent.is_none() {
        again.spent = None;
    }
    Ok(again == recorded)
}

fn redistil(
    loaded: &Loaded<'_>,
    r: &RecordedEvent,
    student: &ledgerloop_events::catalogue::StudentDistilled,
    data: &Data,
    models: &BTreeMap<String, Arc<ServedModel>>,
    settings: &crate::config::HostSettings,
) -> Result<String, String> {
    let (started_rec, started) = match r.causation_id.and_then(|c| loaded.get(c)) {
        Some((rec, Event::DistillationStarted(s))) => (rec, s),
        _ => return Err(format!("{}: no DistillationStarted cause", student.job_id)),
    };
    let teacher = models.get(&started.teacher_model_id).ok_or(format!(
        "teacher {} not re-derived",
        started.teacher_model_id
    ))?;
    let rows = workers::transfer_set(
        &data.labels,
        data.labels_before(started_rec.position),
        &data.warmup,
    );
    let again = workers::distil(
        started,
        teacher,
        &rows,
        data.n_classes,
        &data.transform,
        settings,
    )
    .map_err(|e| e.to_string())?;
    Ok(again.0.artifact_sha256)
}
