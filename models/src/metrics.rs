//! Evaluation metrics: accuracy, precision/recall/F1 (macro and per class), one-vs-rest
//! AUC, log loss, expected calibration error, HR@K / NDCG@K, and McNemar / bootstrap
//! significance for "candidate better than baseline".

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Index of the largest value (first on ties); 0 for an empty slice.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Argmax of every row of a flat `n x n_classes` buffer.
pub fn argmax_rows(p: &[f32], n_classes: usize) -> Vec<u32> {
    if n_classes == 0 {
        return Vec::new();
    }
    p.chunks_exact(n_classes)
        .map(|r| argmax(r) as u32)
        .collect()
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: u32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Classification metrics from probabilities and true labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    pub n: usize,
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// Mean one-vs-rest ROC AUC over classes that have both positives and negatives.
    pub auc: f64,
    pub log_loss: f64,
    /// Expected calibration error of the top-class confidence, 15 equal-width bins.
    pub ece: f64,
}

/// Computes [`ClassificationMetrics`]; `proba` is row-major `labels.len() x n_classes`.
pub fn classification(
    proba: &[f32],
    labels: &[u32],
    n_classes: usize,
) -> Result<ClassificationMetrics> {
    check_inputs(proba, labels, n_classes)?;
    let pred = argmax_rows(proba, n_classes);
    let mut tp = vec![0usize; n_classes];
    let mut fp = vec![0usize; n_classes];
    let mut support = vec![0usize; n_classes];
    let mut log_loss = 0f64;
    for (i, (&y, &p)) in labels.iter().zip(&pred).enumerate() {
        support[y as usize] += 1;
        if y == p {
            tp[y as usize] += 1;
        } else {
            fp[p as usize] += 1;
        }
        let py = f64::from(proba[i * n_classes + y as usize]).clamp(1e-15, 1.0);
        log_loss -= py.ln();
    }
    let n = labels.len();
    let per_class = per_class_metrics(&tp, &fp, &support);
    let k = n_classes as f64;
    Ok(ClassificationMetrics {
        n,
        accuracy: ratio(tp.iter().sum(), n),
        macro_precision: per_class.iter().map(|m| m.precision).sum::<f64>() / k,
        macro_recall: per_class.iter().map(|m| m.recall).sum::<f64>() / k,
        macro_f1: per_class.iter().map(|m| m.f1).sum::<f64>() / k,
        per_class,
        auc: macro_auc(proba, labels, n_classes),
        log_loss: log_loss / n as f64,
        ece: ece(proba, labels, n_classes, ECE_BINS),
    })
}

/// Bins of the expected calibration error in [`ClassificationMetrics`].
const ECE_BINS: usize = 15;

/// Rejects empty labels, a probability buffer of the wrong size and out-of-range labels.
fn check_inputs(proba: &[f32], labels: &[u32], n_classes: usize) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::EmptyDataset {
            what: "metrics labels",
        });
    }
    if n_classes == 0 || proba.len() != labels.len() * n_classes {
        return Err(Error::ShapeMismatch {
            what: "metrics probabilities".into(),
            expected: format!("{} values", labels.len() * n_classes),
            got: format!("{} values", proba.len()),
        });
    }
    if let Some((row, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= n_classes)
    {
        return Err(Error::UnknownLabel {
            label,
            row,
            n_classes,
        });
    }
    Ok(())
}

/// `a / b`, or 0 when `b` is 0 (an empty class has no precision to speak of).
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Precision, recall and F1 per class from true/false positive counts and supports.
fn per_class_metrics(tp: &[usize], fp: &[usize], support: &[usize]) -> Vec<ClassMetrics> {
    (0..tp.len())
        .map(|c| {
            let precision = ratio(tp[c], tp[c] + fp[c]);
            let recall = ratio(tp[c], support[c]);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                class: c as u32,
                precision,
                recall,
                f1,
                support: support[c],
            }
        })
        .collect()
}

/// Mean one-vs-rest AUC over the classes that have both positives and negatives (0.5 if none).
fn macro_auc(proba: &[f32], labels: &[u32], n_classes: usize) -> f64 {
    let mut aucs = Vec::new();
    for c in 0..n_classes {
        let scores: Vec<f32> = proba.chunks_exact(n_classes).map(|r| r[c]).collect();
        let pos: Vec<bool> = labels.iter().map(|&y| y as usize == c).collect();
        if let Some(a) = auc(&scores, &pos) {
            aucs.push(a);
        }
    }
    if aucs.is_empty() {
        0.5
    } else {
        aucs.iter().sum::<f64>() / aucs.len() as f64
    }
}

/// Fraction of rows whose argmax equals the label (0 for no rows or no classes).
pub fn accuracy(proba: &[f32], labels: &[u32], n_classes: usize) -> f64 {
    let pred = argmax_rows(proba, n_classes);
    let ok = pred.iter().zip(labels).filter(|(p, y)| p == y).count();
    ok as f64 / labels.len().max(1) as f64
}

/// ROC AUC by the rank-sum formula with average ranks for ties; `None` if one class is
/// absent or the two slices differ in length.
pub fn auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    if scores.len() != positive.len() {
        return None;
    }
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&k| positive[order[k]]).count() as f64 * avg_rank;
        i = j + 1;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// Expected calibration error: |accuracy - confidence| per confidence bin, weighted by size.
pub fn ece(proba: &[f32], labels: &[u32], n_classes: usize, bins: usize) -> f64 {
    if n_classes == 0 {
        return 0.0;
    }
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    let mut correct = vec![0f64; bins];
    for (row, &y) in proba.chunks_exact(n_classes).zip(labels) {
        let p = argmax(row);
        let c = f64::from(row[p]);
        let b = ((c * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += c;
        correct[b] += f64::from(u8::from(p == y as usize));
    }
    let n = labels.len().max(1) as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (correct[b] - conf[b]).abs() / n)
        .sum()
}

/// Hit rate at K: 1 if the held-out item is in the top-K list.
pub fn hit_rate_at_k(ranked: &[u32], relevant: u32, k: usize) -> f64 {
    f64::from(u8::from(ranked.iter().take(k).any(|&i| i == relevant)))
}

/// NDCG at K for one relevant item: `1 / log2(rank + 2)` if it appears within K.
pub fn ndcg_at_k(ranked: &[u32], relevant: u32, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|&i| i == relevant)
        .map_or(0.0, |r| 1.0 / ((r + 2) as f64).log2())
}

/// Outcome of comparing a candidate and a baseline on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Significance {
    /// Rows only the candidate got right.
    pub candidate_only: usize,
    /// Rows only the baseline got right.
    pub baseline_only: usize,
    /// Chi-square with continuity correction (McNemar).
    pub statistic: f64,
    /// Two-sided p-value of McNemar's test.
    pub p_value: f64,
    /// True when the candidate is better and `p_value < alpha`.
    pub candidate_better: bool,
}

/// McNemar's test on paired correctness of candidate and baseline.
pub fn mcnemar(
    candidate_correct: &[bool],
    baseline_correct: &[bool],
    alpha: f64,
) -> Result<Significance> {
    if candidate_correct.len() != baseline_correct.len() || candidate_correct.is_empty() {
        return Err(Error::ShapeMismatch {
            what: "mcnemar paired outcomes".into(),
            expected: format!("{} non-empty", candidate_correct.len()),
            got: baseline_correct.len().to_string(),
        });
    }
    let b = candidate_correct
        .iter()
        .zip(baseline_correct)
        .filter(|(c, s)| **c && !**s)
        .count();
    let c = candidate_correct
        .iter()
        .zip(baseline_correct)
        .filter(|(c, s)| !**c && **s)
        .count();
    let statistic = if b + c == 0 {
        0.0
    } else {
        ((b as f64 - c as f64).abs() - 1.0).max(0.0).powi(2) / (b + c) as f64
    };
    // chi-square with 1 dof: p = erfc(sqrt(x / 2))
    let p_value = erfc((statistic / 2.0).sqrt());
    Ok(Significance {
        candidate_only: b,
        baseline_only: c,
        statistic,
        p_value,
        candidate_better: b > c && p_value < alpha,
    })
}

/// Seeded paired bootstrap of the accuracy difference; returns the (2.5%, 97.5%) interval.
pub fn bootstrap_accuracy_diff(
    candidate_correct: &[bool],
    baseline_correct: &[bool],
    resamples: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    let n = candidate_correct.len();
    if n == 0 || baseline_correct.len() != n {
        return Err(Error::EmptyDataset {
            what: "bootstrap paired outcomes",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diffs: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let mut d = 0i64;
            for _ in 0..n {
                let i = rng.gen_range(0..n);
                d += i64::from(candidate_correct[i]) - i64::from(baseline_correct[i]);
            }
            d as f64 / n as f64
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let at = |q: f64| diffs[((diffs.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.025), at(0.975)))
}

/// Complementary error function (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let r = poly * (-x * x).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed cases: AUC with ties, ECE, HR/NDCG, McNemar direction, P/R/F1.
    #[test]
    fn metrics_match_hand_computed_values() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
        assert_eq!(hit_rate_at_k(&[3, 1, 2], 1, 2), 1.0);
        assert_eq!(hit_rate_at_k(&[3, 1, 2], 2, 2), 0.0);
        assert!((ndcg_at_k(&[3, 1, 2], 1, 3) - 1.0 / 3f64.log2()).abs() < 1e-12);
        // two rows, both predicted class 0 with confidence 0.9; one right -> ECE 0.4
        let p = [0.9, 0.1, 0.9, 0.1];
        assert!((ece(&p, &[0, 1], 2, 10) - 0.4).abs() < 1e-6);
        let m = classification(&p, &[0, 1], 2).unwrap();
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.per_class[0].precision, 0.5);
        assert_eq!(m.per_class[0].recall, 1.0);
        assert_eq!(m.per_class[1].f1, 0.0);
        let cand: Vec<bool> = (0..100).map(|i| i % 10 != 0).collect();
        let base: Vec<bool> = (0..100).map(|i| i % 3 != 0).collect();
        let s = mcnemar(&cand, &base, 0.05).unwrap();
        assert!(s.candidate_better && s.p_value < 0.05, "{s:?}");
        let (lo, hi) = bootstrap_accuracy_diff(&cand, &base, 200, 1).unwrap();
        assert!(lo > 0.0 && hi > lo);
        assert!(classification(&p, &[0, 2], 2).is_err());
    }
}
