//! The ranking workers: fit the recommend world's recommender (item popularity plus the
//! user's category affinity, `ledgerloop_sim::world::recommend::model`) on consumption,
//! and measure a candidate against the champion by HR@k on held-out consumption.
//!
//! Interactions live in a [`RowStore`] with one column, the user; the consumed item is
//! the row's label and the item's category its slice. So the Trainer's compositions
//! (fresh rows, replay pool, seeded replay sample) apply to rankings unchanged, and a
//! label delivery records its interactions like any other rows.
//!
//! A fit is a function of its rows alone: the item catalogue it ranks over is built
//! from the categories the rows carry (items nobody consumed score nothing and are never
//! shown, whatever their category), so re-fitting the recorded rows reproduces the
//! artifact's SHA-256.

use std::collections::BTreeMap;

use ledgerloop_agents::evaluator::{EvaluationReport, PairedAccuracy};
use ledgerloop_agents::trainer::TrainingJob;
use ledgerloop_events::catalogue::{Cost, ModelTrained};
use ledgerloop_sim::policy::rank::{Consumption, Ranker};
use ledgerloop_sim::world::recommend::model::{PopAffinity, PopAffinityParams};
use ledgerloop_sim::world::recommend::LEARNER_NAME;

use crate::blobs::sha256_hex;
use crate::costs::CostModel;
use crate::data::RowStore;
use crate::error::Result;
use crate::workers::{compose, job_error, TrainingData};

/// Prefix of a ranker's version name (followed by the start of its SHA-256).
pub const MODEL_PREFIX: &str = "ranker-";
/// Hex digits of the SHA-256 in a version name.
const MODEL_ID_HEX: usize = 12;
/// Prefix of a category's slice name in evaluation reports.
pub const CATEGORY_PREFIX: &str = "category-";
/// A popularity fit reads its rows once.
const FIT_PASSES: usize = 1;

/// A fitted recommender with its artifact.
#[derive(Debug)]
pub struct RankModel {
    /// Version name (`ranker-<sha256 prefix>`).
    pub model_id: String,
    /// SHA-256 of the artifact (the fitted model as JSON).
    pub artifact_sha256: String,
    /// The artifact's bytes, stored in the run's `artifacts/`.
    pub artifact: Vec<u8>,
    /// Fitted numbers: one popularity per item plus one count per user and category.
    pub parameter_count: u64,
    model: PopAffinity,
}

impl Ranker for RankModel {
    fn top_k(&self, user: u32, k: usize, out: &mut Vec<u32>) {
        self.model.top_k(user, k, out);
    }
}

/// One interaction row: `user` consumed `item` of category `category`.
pub fn push_interaction(rows: &mut RowStore, user: u32, item: u32, category: u16) {
    // Users are counted in the thousands; f32 holds every integer below 2^24 exactly.
    rows.push(&[user as f32], item, category);
}

/// The consumption events of `rows` and the catalogue they name (item -> category).
fn consumption(rows: &RowStore) -> (Vec<Consumption>, Vec<u16>) {
    let items = rows
        .labels
        .iter()
        .map(|i| *i as usize + 1)
        .max()
        .unwrap_or(0);
    let mut item_cat = vec![0u16; items];
    let mut events = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let item = rows.labels[i];
        item_cat[item as usize] = rows.slices[i];
        events.push(Consumption {
            hour: 0,
            user: rows.features[i] as u32,
            item,
        });
    }
    (events, item_cat)
}

/// Fits the recommender on `rows` (see the module documentation).
pub fn fit(rows: &RowStore, params: PopAffinityParams) -> Result<RankModel> {
    let (events, item_cat) = consumption(rows);
    let model = PopAffinity::fit(&events, &item_cat, params);
    let artifact = serde_json::to_vec(&model)?;
    let artifact_sha256 = sha256_hex(&artifact);
    Ok(RankModel {
        model_id: format!("{MODEL_PREFIX}{}", &artifact_sha256[..MODEL_ID_HEX]),
        artifact_sha256,
        artifact,
        parameter_count: (item_cat.len() + params.users * params.categories) as u64,
        model,
    })
}

/// Runs one training job: the Trainer's composition of consumption rows, refitted from
/// scratch whatever the strategy (a popularity model has nothing to warm-start: its fit
/// is a count, and counting the composed rows again is the fine-tune).
pub fn train(
    job: &TrainingJob,
    data: &TrainingData<'_>,
    params: PopAffinityParams,
    costs: &CostModel,
) -> Result<(RankModel, ModelTrained)> {
    if job.federated.is_some() {
        return Err(job_error(job, "federated jobs are not run for rankers"));
    }
    let rows = compose(job, data)?;
    if rows.is_empty() {
        return Err(job_error(job, "the composed data set is empty"));
    }
    let model = fit(&rows, params)?;
    let metrics = BTreeMap::from([
        ("train_rows".to_string(), rows.len() as f64),
        (
            "items_known".to_string(),
            rows.labels
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len() as f64,
        ),
    ]);
    let spent = costs.training(
        rows.len(),
        FIT_PASSES,
        model.parameter_count,
        model.artifact.len() as u64,
    );
    let fact = ModelTrained {
        job_id: job.job_id.clone(),
        model_id: model.model_id.clone(),
        family: LEARNER_NAME.to_string(),
        artifact_sha256: model.artifact_sha256.clone(),
        dataset_hash: job.dataset_hash.clone(),
        parent_model_id: job.parent_model_id.clone(),
        parameter_count: model.parameter_count,
        metrics,
        spent: Some(spent),
        augmentation: None,
    };
    Ok((model, fact))
}

/// The consumption a candidate is judged on: the label rows delivered after its training
/// data was fixed (from `heldout_from` on) up to `delivered`, the newest `max_rows` of
/// them. The host and the deep audit both take it from here, so the audit reads exactly
/// the rows the run's evaluation read.
pub fn heldout(
    labels: &RowStore,
    heldout_from: usize,
    delivered: usize,
    max_rows: usize,
) -> RowStore {
    let from = heldout_from.max(delivered.saturating_sub(max_rows));
    labels.range(from, delivered)
}

/// Per row, whether `model`'s top `k` for the row's user holds the consumed item.
fn hits(model: &dyn Ranker, rows: &RowStore, k: usize) -> Vec<bool> {
    let mut slate = Vec::with_capacity(k);
    (0..rows.len())
        .map(|i| {
            model.top_k(rows.features[i] as u32, k, &mut slate);
            slate.contains(&rows.labels[i])
        })
        .collect()
}

/// HR@k of both models over the rows `pick` keeps, with McNemar's discordant counts.
fn paired(
    cand: &[bool],
    champ: &[bool],
    pick: impl Fn(usize) -> bool,
) -> (PairedAccuracy, u64, u64) {
    let (mut n, mut hc, mut hp, mut only_cand, mut only_champ) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for i in (0..cand.len()).filter(|i| pick(*i)) {
        n += 1;
        hc += u64::from(cand[i]);
        hp += u64::from(champ[i]);
        only_cand += u64::from(cand[i] && !champ[i]);
        only_champ += u64::from(champ[i] && !cand[i]);
    }
    let rate = |h: u64| if n == 0 { 0.0 } else { h as f64 / n as f64 };
    let acc = PairedAccuracy {
        candidate_accuracy: rate(hc),
        champion_accuracy: rate(hp),
        samples: n,
    };
    (acc, only_cand, only_champ)
}

/// Measures `candidate` against `champion` by HR@`k` (the report's "accuracy") on the
/// time-held-out consumption, on the warm-up holdout (forgetting) and per item category
/// of the consumed item (slices); `costs` prices the scoring.
pub fn evaluate(
    candidate: &RankModel,
    champion: &RankModel,
    heldout: &RowStore,
    old_holdout: &RowStore,
    k: usize,
    costs: &CostModel,
) -> EvaluationReport {
    let cand = hits(candidate, heldout, k);
    let champ = hits(champion, heldout, k);
    let (heldout_hr, b, c) = paired(&cand, &champ, |_| true);
    let (old_hr, _, _) = paired(
        &hits(candidate, old_holdout, k),
        &hits(champion, old_holdout, k),
        |_| true,
    );
    let categories: std::collections::BTreeSet<u16> = heldout.slices.iter().copied().collect();
    let slices = categories
        .into_iter()
        .map(|cat| {
            let (acc, _, _) = paired(&cand, &champ, |i| heldout.slices[i] == cat);
            (format!("{CATEGORY_PREFIX}{cat}"), acc)
        })
        .collect();
    let rows = heldout.len() + old_holdout.len();
    let parameters = candidate
        .parameter_count
        .saturating_add(champion.parameter_count);
    EvaluationReport {
        candidate_model_id: candidate.model_id.clone(),
        champion_model_id: champion.model_id.clone(),
        heldout: heldout_hr,
        candidate_only_correct: b,
        champion_only_correct: c,
        old_holdout: old_hr,
        slices,
        candidate_size_bytes: candidate.artifact.len() as u64,
        // Wall-clock latency would make identical runs' logs differ; none is recorded.
        candidate_latency_us: 0.0,
        spent: Some(Cost {
            cpu_seconds: costs.scoring(rows, parameters),
            ..Cost::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> PopAffinityParams {
        PopAffinityParams {
            users: 3,
            categories: 2,
            k: 2,
            affinity_weight: 1.0,
        }
    }

    /// Rows: user 0 consumes items 0 and 1 (category 0), users 1 and 2 item 2 (category 1).
    fn rows() -> RowStore {
        let mut rows = RowStore::new(1);
        for (user, item, category) in [(0, 0, 0), (0, 1, 0), (1, 2, 1), (2, 2, 1), (0, 0, 0)] {
            push_interaction(&mut rows, user, item, category);
        }
        rows
    }

    /// Fitting the same rows twice gives the same artifact and version name: what a
    /// re-run of a recorded job must reproduce.
    #[test]
    fn a_fit_is_a_function_of_its_rows() {
        let (a, b) = (
            fit(&rows(), params()).unwrap(),
            fit(&rows(), params()).unwrap(),
        );
        assert_eq!(a.artifact_sha256, b.artifact_sha256);
        assert_eq!(
            a.model_id,
            format!("{MODEL_PREFIX}{}", &a.artifact_sha256[..12])
        );
        let mut other = rows();
        push_interaction(&mut other, 1, 1, 0);
        assert_ne!(
            fit(&other, params()).unwrap().artifact_sha256,
            a.artifact_sha256
        );
    }

    /// HR@k counts a session as a hit when the consumed item is in the model's top k
    /// for the user, per model, with McNemar's discordant pairs and per-category slices.
    #[test]
    fn evaluation_counts_hits_in_the_top_k() {
        let popular = fit(&rows(), params()).unwrap();
        let mut late = RowStore::new(1);
        for (user, item, category) in [(1, 3, 1), (1, 3, 1), (2, 3, 1)] {
            push_interaction(&mut late, user, item, category);
        }
        let newer = fit(&late, params()).unwrap();
        let mut heldout = RowStore::new(1);
        push_interaction(&mut heldout, 1, 3, 1);
        push_interaction(&mut heldout, 0, 0, 0);
        let report = evaluate(
            &newer,
            &popular,
            &heldout,
            &rows(),
            2,
            &CostModel::default(),
        );
        // Only `newer` knows item 3; only `popular` knows item 0.
        assert_eq!(report.heldout.candidate_accuracy, 0.5);
        assert_eq!(report.heldout.champion_accuracy, 0.5);
        assert_eq!(
            (report.candidate_only_correct, report.champion_only_correct),
            (1, 1)
        );
        assert_eq!(report.slices["category-1"].candidate_accuracy, 1.0);
        assert_eq!(report.slices["category-0"].champion_accuracy, 1.0);
        assert_eq!(report.old_holdout.champion_accuracy, 1.0);
    }
}
