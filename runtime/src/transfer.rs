//! Transfer: a run whose first model is another run's model (by default that run's final
//! champion) fine-tuned on this run's warm-up rows, instead of a model trained from
//! scratch (`ledgerloop sim --warm-start-from DIR[#model-id]`).
//!
//! A run folder stores weights only (`artifacts/<sha256>.gz`), so the source is resolved
//! from its log: the model (the Releaser's final champion, rebuilt by folding the
//! Releaser's stream, or a model the log names), the SHA-256 of its weights
//! (`ModelTrained` records it; the first model's id carries its first 16 hex digits), the
//! columns it read (the Perceiver features of `PoliciesLoaded`) and its feature transform
//! (the world facts recorded with the warm-up rows). The architecture is read from the
//! weights' tensor shapes. The weights are checked against their SHA-256 when read, and
//! the new run copies them into its own artifacts folder, so the run stays self-contained
//! and `audit --deep` redoes the fine-tune from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledgerloop_agents::releaser::route;
use ledgerloop_events::catalogue::WarmStart;
use ledgerloop_events::{Event, FileLog};
use ledgerloop_models::{Model as _, TabularModel};

use crate::blobs::BlobStore;
use crate::config::HostSettings;
use crate::data::{FeatureTransform, RowsRecord};
use crate::error::{Error, Result};
use crate::host::{ARTIFACTS_DIR, BASELINE_ARM, INPUTS_DIR};
use crate::restore::{restore, LogView};
use crate::step::Role;

/// Separates the run folder from a model id in a source (`out/ont#tabular-0123...`).
pub const MODEL_SEPARATOR: char = '#';
/// How the source is adapted: every layer trained (the Trainer's `fine_tune` strategy).
pub const ADAPTATION: &str = "fine_tune";
/// Digits of the weights' SHA-256 a model id carries (`tabular-<16 hex>`).
const MODEL_ID_HASH_DIGITS: usize = 16;
/// Models named in a "not in this run" error, so the message stays readable.
const MAX_LISTED_MODELS: usize = 8;

/// The model a run starts from, loaded and checked.
#[derive(Debug, Clone)]
pub struct SourceModel {
    /// The source as given (`DIR` or `DIR#model-id`).
    pub spec: String,
    /// Id of the source log's first event (`ScenarioStarted`).
    pub log_id: String,
    /// The source run's scenario name.
    pub scenario: String,
    /// The model's id.
    pub model_id: String,
    /// SHA-256 of its weights (checked when read).
    pub artifact_sha256: String,
    /// The weights as stored.
    pub weights: Vec<u8>,
    /// The model.
    pub model: Arc<TabularModel>,
    /// The columns it read, in order.
    pub feature_names: Vec<String>,
    /// Which of them it log-scaled.
    pub log_scale: Vec<bool>,
}

impl SourceModel {
    /// Resolves `spec` (`DIR`: that run's final champion; `DIR#model-id`: that model of
    /// the run) and loads the weights, checked against their SHA-256.
    pub fn locate(spec: &str) -> Result<Self> {
        let (dir, wanted) = match spec.split_once(MODEL_SEPARATOR) {
            Some((dir, id)) => (PathBuf::from(dir), Some(id.to_string())),
            None => (PathBuf::from(spec), None),
        };
        let fail = |reason: String| Error::WarmStart {
            source_run: spec.to_string(),
            reason,
        };
        let log_dir = dir.join("log");
        if !log_dir.is_dir() {
            return Err(fail(format!(
                "{} holds no event log; give the folder of a `ledgerloop sim` run",
                dir.display()
            )));
        }
        let log = FileLog::open_read_only(&log_dir)?;
        let run = SourceRun::read(&LogView::read(&log)?, &dir.join(INPUTS_DIR)).map_err(fail)?;
        let model_id = match wanted {
            Some(id) => id,
            None if run.champion.is_empty() => {
                return Err(fail(
                    "the run has no champion (it was not run with the governed policy)".into(),
                ))
            }
            None => run.champion.clone(),
        };
        let Some(recorded_sha) = run.models.get(&model_id) else {
            let known: Vec<&str> = run.models.keys().map(String::as_str).collect();
            return Err(fail(format!(
                "{model_id} is not a model trained in this run; its models: {}",
                known[..known.len().min(MAX_LISTED_MODELS)].join(", ")
            )));
        };
        let artifacts = BlobStore::new(dir.join(ARTIFACTS_DIR));
        let sha = match recorded_sha {
            Some(sha) => sha.clone(),
            None => weights_by_id(artifacts.dir(), &model_id).map_err(fail)?,
        };
        let weights = artifacts.get(&sha).map_err(|e| fail(e.to_string()))?;
        let model = TabularModel::from_weights(&weights).map_err(|e| {
            fail(format!(
                "{model_id} is not an MLP this host can fine-tune: {e}"
            ))
        })?;
        let loaded_id = model.model_id().map_err(|e| fail(e.to_string()))?;
        if loaded_id != model_id {
            return Err(fail(format!(
                "the weights {sha} load as {loaded_id}, not {model_id}"
            )));
        }
        Ok(Self {
            spec: spec.to_string(),
            log_id: run.log_id,
            scenario: run.scenario,
            model_id,
            artifact_sha256: sha,
            weights,
            model: Arc::new(model),
            feature_names: run.feature_names,
            log_scale: run.log_scale,
        })
    }

    /// Refuses a source whose inputs or classes differ from the new world's, naming both
    /// shapes.
    pub fn check_fits(
        &self,
        feature_names: &[String],
        transform: &FeatureTransform,
        n_classes: usize,
    ) -> Result<()> {
        let config = self.model.config();
        let fits = config.n_features == feature_names.len()
            && config.n_classes == n_classes
            && self.feature_names == feature_names
            && self.log_scale == transform.log_scale();
        if fits {
            return Ok(());
        }
        let shape = |names: &[String], log_scale: &[bool], classes: usize| {
            let columns: Vec<String> = names
                .iter()
                .zip(log_scale)
                .map(|(n, log)| if *log { format!("ln({n})") } else { n.clone() })
                .collect();
            format!(
                "{} features [{}] -> {classes} classes",
                columns.len(),
                columns.join(", ")
            )
        };
        Err(Error::WarmStart {
            source_run: self.spec.clone(),
            reason: format!(
                "the model {} reads {} (weights: {} inputs), this scenario has {}",
                self.model_id,
                shape(&self.feature_names, &self.log_scale, config.n_classes),
                config.n_features,
                shape(feature_names, transform.log_scale(), n_classes)
            ),
        })
    }

    /// What the new run's `BaselineTrained` records of the source.
    pub fn record(&self, settings: &HostSettings) -> WarmStart {
        WarmStart {
            source_run: self.spec.clone(),
            source_log_id: self.log_id.clone(),
            source_scenario: self.scenario.clone(),
            source_model_id: self.model_id.clone(),
            source_artifact_sha256: self.artifact_sha256.clone(),
            adaptation: ADAPTATION.to_string(),
            epochs: settings.fine_tune_epochs as u64,
            learning_rate: settings.fine_tune_learning_rate,
        }
    }
}

/// What a source run's log says.
struct SourceRun {
    log_id: String,
    scenario: String,
    champion: String,
    /// Every model the host trained: id -> SHA-256 of the weights when recorded.
    models: BTreeMap<String, Option<String>>,
    feature_names: Vec<String>,
    log_scale: Vec<bool>,
}

impl SourceRun {
    fn read(view: &LogView, inputs: &Path) -> std::result::Result<Self, String> {
        let (first, _) = view.events.first().ok_or("the log is empty")?;
        let mut run = SourceRun {
            log_id: first.id.to_string(),
            scenario: String::new(),
            champion: String::new(),
            models: BTreeMap::new(),
            feature_names: Vec::new(),
            log_scale: Vec::new(),
        };
        for (recorded, event) in &view.events {
            match event {
                Event::ScenarioStarted(s) => run.scenario = s.scenario.clone(),
                Event::PoliciesLoaded(p) => run.feature_names = feature_names(&p.policies)?,
                Event::BaselineTrained(b) if b.arm == BASELINE_ARM => {
                    run.models.insert(b.model_id.clone(), None);
                }
                Event::ModelTrained(m) => {
                    run.models
                        .insert(m.model_id.clone(), Some(m.artifact_sha256.clone()));
                }
                Event::InputRecorded(r) if recorded.stream.as_str() == "trainer" => {
                    let warmup = r.kind == "rows"
                        && r.source_event_id
                            .as_deref()
                            .and_then(|id| uuid::Uuid::parse_str(id).ok())
                            .and_then(|id| view.get(&id))
                            .is_some_and(|e| matches!(e, Event::BaselineTrained(_)));
                    if warmup && run.log_scale.is_empty() {
                        run.log_scale = warmup_log_scale(inputs, r.blob_sha256.as_deref())?;
                    }
                }
                _ => {}
            }
        }
        if run.feature_names.is_empty() {
            return Err(
                "the log has no PoliciesLoaded (it was not run with the governed \
                        policy)"
                    .into(),
            );
        }
        let releaser = restore(view, Role::Releaser).map_err(|e| e.to_string())?;
        run.champion = route(&releaser.states.releaser).0;
        Ok(run)
    }
}

/// The Perceiver's column names in a recorded policy.
fn feature_names(policies: &serde_json::Value) -> std::result::Result<Vec<String>, String> {
    policies["perceiver"]["features"]
        .as_array()
        .ok_or("PoliciesLoaded has no perceiver.features")?
        .iter()
        .map(|f| {
            f["name"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "a perceiver feature without a name".to_string())
        })
        .collect()
}

/// The log-scaled columns recorded with the warm-up rows.
fn warmup_log_scale(inputs: &Path, sha: Option<&str>) -> std::result::Result<Vec<bool>, String> {
    let sha = sha.ok_or("the warm-up rows input names no stored blob")?;
    let bytes = BlobStore::new(inputs).get(sha).map_err(|e| e.to_string())?;
    let record: RowsRecord = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let world = record
        .world
        .ok_or("the warm-up rows carry no world facts")?;
    Ok(world.log_scale)
}

/// The SHA-256 of the weights a first model's id names: the one stored file whose name
/// starts with the id's hash digits (the content is checked against it when read).
fn weights_by_id(artifacts: &Path, model_id: &str) -> std::result::Result<String, String> {
    let digits = model_id
        .rsplit_once('-')
        .map(|(_, hex)| hex)
        .filter(|hex| hex.len() == MODEL_ID_HASH_DIGITS)
        .ok_or_else(|| format!("{model_id} is not a `<family>-<16 hex>` model id"))?;
    let entries = std::fs::read_dir(artifacts)
        .map_err(|e| format!("cannot read {}: {e}", artifacts.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if let Some(sha) = name.strip_suffix(".gz") {
            if sha.len() == 64 && sha.starts_with(digits) {
                found.push(sha.to_string());
            }
        }
    }
    match found.as_slice() {
        [sha] => Ok(sha.clone()),
        [] => Err(format!(
            "the weights of {model_id} are not in {}",
            artifacts.display()
        )),
        _ => Err(format!(
            "{} files in {} could be the weights of {model_id}: {}",
            found.len(),
            artifacts.display(),
            found.join(", ")
        )),
    }
}
