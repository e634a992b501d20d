//! The Perceiver's decisions on one batch (the ingestion fact, the quarantine, the
//! pseudo-labels and the label request) and the scoring behind label selection.
//!
//! Scores grow with uncertainty for every strategy, so selection always takes the
//! highest scores; ties are broken by item id so the choice never depends on row order.

use ledgerloop_events::catalogue::{
    BatchIngested, Evidence, LabelsRequested, PseudoLabelsAccepted, ReadingsQuarantined, Rule,
};
use ledgerloop_events::Event;

use super::ingest::{clean, summarise, Cleaned};
use super::policy::{PerceiverPolicy, SelectionStrategy};
use super::{PerceiverState, ReadingBatch, HOURS_PER_DAY};
use crate::error::Result;

/// How far the probabilities of a row may sum away from one and still be trusted.
pub const PROBABILITY_SUM_TOLERANCE: f64 = 1e-3;
/// Most classes a prediction may have; longer vectors are treated as invalid.
pub const MAX_CLASSES: usize = 4096;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// 2^-53: turns the top 53 bits of a hash into a uniform number in [0, 1).
const UNIT_SCALE: f64 = 1.0 / (1u64 << 53) as f64;

/// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit input. Counter-based
/// randomness (hash of seed and key) needs no generator state in the decider's state.
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) determined by `seed` and `key` alone.
pub fn stable_uniform(seed: u64, key: &str) -> f64 {
    let h = key.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    });
    (mix64(h ^ mix64(seed)) >> 11) as f64 * UNIT_SCALE
}

/// Whether a probability vector is usable: at least two finite, non-negative entries
/// summing to one.
pub fn valid_probabilities(p: &[f64]) -> bool {
    p.len() >= 2
        && p.len() <= MAX_CLASSES
        && p.iter().all(|v| v.is_finite() && *v >= 0.0)
        && (p.iter().sum::<f64>() - 1.0).abs() <= PROBABILITY_SUM_TOLERANCE
}

/// The largest and second-largest probabilities.
pub fn top_two(p: &[f64]) -> (f64, f64) {
    let mut first = f64::NEG_INFINITY;
    let mut second = f64::NEG_INFINITY;
    for &v in p {
        if v > first {
            second = first;
            first = v;
        } else if v > second {
            second = v;
        }
    }
    (first, second)
}

/// The uncertainty score of one valid prediction under `strategy`.
pub fn score(strategy: SelectionStrategy, seed: u64, item_id: &str, p: &[f64]) -> f64 {
    match strategy {
        SelectionStrategy::LeastConfidence => 1.0 - top_two(p).0,
        SelectionStrategy::Margin => {
            let (a, b) = top_two(p);
            1.0 - (a - b)
        }
        SelectionStrategy::Entropy => -p
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| v * v.ln())
            .sum::<f64>(),
        SelectionStrategy::Random => stable_uniform(seed, item_id),
    }
}

/// The `k` highest-scoring candidates, ties broken by ascending item id.
pub fn choose(mut candidates: Vec<(String, f64)>, k: usize) -> Vec<(String, f64)> {
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    candidates.truncate(k);
    candidates
}

/// Every event one batch calls for, in order: `BatchIngested`, then `ReadingsQuarantined`
/// (when something was set aside), `PseudoLabelsAccepted` (when any prediction was
/// confident enough) and `LabelsRequested` (when budget and candidates remain).
pub fn decide_batch(
    policy: &PerceiverPolicy,
    state: &PerceiverState,
    batch: &ReadingBatch,
) -> Result<Vec<Event>> {
    let medians: Vec<Option<f64>> = policy
        .features
        .iter()
        .map(|f| {
            state
                .features
                .get(&f.name)
                .and_then(|s| s.median(f.min, f.max))
        })
        .collect();
    let cleaned = clean(policy, &medians, batch)?;
    let mut events = vec![ingested(policy, batch, &cleaned)];
    if !cleaned.counts.is_empty() {
        events.push(quarantined(policy, batch, &cleaned));
    }
    // Only clean readings with a usable prediction can be labelled or pseudo-labelled.
    let predicted: Vec<(&str, &[f64])> = cleaned
        .rows
        .iter()
        .map(|r| &batch.rows[r.index])
        .filter(|r| valid_probabilities(&r.probabilities))
        .map(|r| (r.item_id.as_str(), r.probabilities.as_slice()))
        .collect();
    let threshold = policy.pseudo_label_threshold;
    let (confident, uncertain): (Vec<_>, Vec<_>) = predicted
        .iter()
        .partition(|(_, p)| top_two(p).0 >= threshold);
    if !confident.is_empty() {
        events.push(pseudo_labels(policy, batch, &confident, predicted.len()));
    }
    if let Some(request) = label_request(policy, state, batch, &uncertain) {
        events.push(request);
    }
    Ok(events)
}

fn ingested(policy: &PerceiverPolicy, batch: &ReadingBatch, cleaned: &Cleaned) -> Event {
    let summary = summarise(policy, &cleaned.rows);
    let (mut confidence_sum, mut confidence_rows) = (0.0, 0u64);
    for row in &cleaned.rows {
        let p = &batch.rows[row.index].probabilities;
        if valid_probabilities(p) {
            confidence_sum += top_two(p).0;
            confidence_rows += 1;
        }
    }
    Event::from(BatchIngested {
        batch_id: batch.batch_id.clone(),
        source: batch.source.clone(),
        rows: batch.rows.len() as u64,
        features: policy.features.len() as u32,
        hour: batch.hour,
        clean_rows: cleaned.rows.len() as u64,
        imputed_values: cleaned.imputed,
        confidence_sum,
        confidence_rows,
        feature_sums: summary.sums,
        feature_bins: summary.bins,
        feature_samples: summary.samples,
    })
}

fn quarantined(policy: &PerceiverPolicy, batch: &ReadingBatch, cleaned: &Cleaned) -> Event {
    let total: u64 = cleaned.counts.values().sum();
    let rows = batch.rows.len() as f64;
    let evidence = Evidence::new()
        .with("rows", rows)
        .with("quarantined", total as f64)
        .with("quarantined_share", total as f64 / rows)
        .with("imputed_values", cleaned.imputed as f64);
    let missing = serde_json::to_value(policy.missing).unwrap_or_default();
    let rule = Rule::new(policy.rule_name("cleaning"))
        .with("missing", missing)
        .with("features", policy.features.len() as u64)
        .with("conversions", policy.conversions.len() as u64);
    Event::from(ReadingsQuarantined {
        batch_id: batch.batch_id.clone(),
        counts_by_reason: cleaned.counts.clone(),
        evidence,
        rule,
    })
}

fn pseudo_labels(
    policy: &PerceiverPolicy,
    batch: &ReadingBatch,
    confident: &[&(&str, &[f64])],
    candidates: usize,
) -> Event {
    let lowest = confident
        .iter()
        .map(|(_, p)| top_two(p).0)
        .fold(f64::INFINITY, f64::min);
    let evidence = Evidence::new()
        .with("threshold", policy.pseudo_label_threshold)
        .with("candidates", candidates as f64)
        .with("accepted", confident.len() as f64)
        .with("lowest_accepted_confidence", lowest);
    Event::from(PseudoLabelsAccepted {
        batch_id: batch.batch_id.clone(),
        count: confident.len() as u64,
        item_ids: confident.iter().map(|(id, _)| (*id).to_owned()).collect(),
        evidence,
        rule: Rule::new(policy.rule_name("pseudo_labels"))
            .with("threshold", policy.pseudo_label_threshold),
    })
}

fn label_request(
    policy: &PerceiverPolicy,
    state: &PerceiverState,
    batch: &ReadingBatch,
    uncertain: &[&(&str, &[f64])],
) -> Option<Event> {
    let day = u32::try_from(batch.hour / HOURS_PER_DAY).unwrap_or(u32::MAX);
    let used = state.labels_used_on(day);
    let mut left = policy.label_budget_per_day.saturating_sub(used);
    if policy.label_budget_per_week > 0 {
        let week_left = policy
            .label_budget_per_week
            .saturating_sub(state.labels_used_in_week(day));
        left = left.min(week_left);
    }
    let k = left
        .min(policy.max_labels_per_batch)
        .min(uncertain.len() as u64) as usize;
    if k == 0 {
        return None;
    }
    let strategy = policy.label_strategy;
    let scored = uncertain
        .iter()
        .map(|(id, p)| ((*id).to_owned(), score(strategy, policy.random_seed, id, p)))
        .collect();
    let chosen = choose(scored, k);
    let lowest = chosen.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let highest = chosen.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
    let evidence = Evidence::new()
        .with("candidates", uncertain.len() as f64)
        .with("chosen", chosen.len() as f64)
        .with("budget_left_before", left as f64)
        .with("budget_left_after", (left - chosen.len() as u64) as f64)
        .with("score_min", lowest)
        .with("score_max", highest);
    let mut rule = Rule::new(policy.rule_name("labels"))
        .with("strategy", strategy.name())
        .with("label_budget_per_day", policy.label_budget_per_day)
        .with("max_labels_per_batch", policy.max_labels_per_batch)
        .with("random_seed", policy.random_seed);
    if policy.label_budget_per_week > 0 {
        rule = rule.with("label_budget_per_week", policy.label_budget_per_week);
    }
    Some(Event::from(LabelsRequested {
        request_id: format!("{}/labels", batch.batch_id),
        batch_id: batch.batch_id.clone(),
        day,
        item_ids: chosen.into_iter().map(|c| c.0).collect(),
        strategy: strategy.name().to_owned(),
        evidence,
        rule,
    }))
}
