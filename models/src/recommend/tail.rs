//! The recommender's rare-class metric: HR@K and NDCG@K over the held-out positives whose
//! item lies in the long tail of the *training* interactions.
//!
//! The head is the `head_share` most-interacted items by training count (ties broken by
//! item id, so the split is deterministic); every other item is the tail. The default
//! share, [`DEFAULT_HEAD_SHARE`] = 0.2, is the usual 80/20 cut: on the crate's fixture the
//! top 20% of items carry far more than 20% of the interactions, so the remaining 80% are
//! the items a popularity-leaning ranker neglects. The split uses training counts only,
//! never the held-out positives, so the metric cannot peek at what it measures.

use crate::metrics::{hit_rate_at_k, ndcg_at_k};
use crate::{Error, Result};

use super::Interactions;

/// Share of items (by training count) that form the popular head; the rest is the tail.
pub const DEFAULT_HEAD_SHARE: f64 = 0.2;

/// HR@K and NDCG@K over the held-out positives whose item is in the tail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailMetrics {
    pub hit_rate: f64,
    pub ndcg: f64,
    /// Held-out positives with a tail item (the denominator; 0 gives 0 / 0 as 0.0).
    pub tail_positives: usize,
}

/// `is_tail[item]`: true for items outside the `head_share` most popular ones in `train`.
/// `round(head_share * n_items)` items form the head; `head_share` must lie in [0, 1].
pub fn long_tail_items(train: &Interactions, head_share: f64) -> Result<Vec<bool>> {
    if !(head_share.is_finite() && (0.0..=1.0).contains(&head_share)) {
        return Err(Error::InvalidConfig {
            field: "head_share",
            reason: format!("the head share must lie in [0, 1], got {head_share}"),
        });
    }
    let mut counts = vec![0usize; train.n_items];
    for &(_, i) in &train.pairs {
        if let Some(c) = counts.get_mut(i as usize) {
            *c += 1;
        }
    }
    let mut by_popularity: Vec<usize> = (0..train.n_items).collect();
    by_popularity.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let head = (head_share * train.n_items as f64).round() as usize;
    let mut is_tail = vec![true; train.n_items];
    for &i in by_popularity.iter().take(head) {
        is_tail[i] = false;
    }
    Ok(is_tail)
}

/// Tail HR@K / NDCG@K of `ranked`: `(ranking, held-out item)` pairs, a ranking best
/// first. Pairs whose item is not in the tail (or out of `is_tail`'s range) are skipped.
pub fn tail_ranking_metrics(ranked: &[(Vec<u32>, u32)], is_tail: &[bool], k: usize) -> TailMetrics {
    let (mut hr, mut ndcg, mut n) = (0.0, 0.0, 0usize);
    for (ranking, item) in ranked {
        if !is_tail.get(*item as usize).copied().unwrap_or(false) {
            continue;
        }
        hr += hit_rate_at_k(ranking, *item, k);
        ndcg += ndcg_at_k(ranking, *item, k);
        n += 1;
    }
    let d = n.max(1) as f64;
    TailMetrics {
        hit_rate: hr / d,
        ndcg: ndcg / d,
        tail_positives: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item 0 (3 interactions) and item 1 (2) form a 40% head of 5 items; the rest is tail.
    #[test]
    fn head_is_the_most_interacted_share() {
        let train = Interactions {
            n_users: 3,
            n_items: 5,
            pairs: vec![(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 4)],
        };
        let tail = long_tail_items(&train, 0.4).expect("valid share");
        assert_eq!(tail, vec![false, false, true, true, true]);
        assert!(long_tail_items(&train, 0.0)
            .expect("valid")
            .iter()
            .all(|&t| t));
        assert!(long_tail_items(&train, 1.0)
            .expect("valid")
            .iter()
            .all(|&t| !t));
    }

    /// Equal counts are split by item id, so the head does not depend on input order.
    #[test]
    fn ties_are_broken_by_item_id() {
        let train = Interactions {
            n_users: 2,
            n_items: 4,
            pairs: vec![(0, 3), (1, 2), (0, 1), (1, 0)],
        };
        let tail = long_tail_items(&train, 0.5).expect("valid share");
        assert_eq!(tail, vec![false, false, true, true]);
    }

    /// A share outside [0, 1] is refused with the field named.
    #[test]
    fn impossible_share_is_refused() {
        let train = Interactions {
            n_users: 1,
            n_items: 2,
            pairs: vec![(0, 0)],
        };
        for share in [-0.1, 1.5, f64::NAN] {
            let err = long_tail_items(&train, share).expect_err("refused");
            assert!(err.to_string().contains("head_share"), "{err}");
        }
    }

    /// Only tail positives count: one tail hit at rank 1, one tail miss, one head hit ignored.
    #[test]
    fn only_tail_positives_are_scored() {
        let is_tail = [false, true, true, true];
        let ranked = vec![
            (vec![1, 0, 2], 1), // tail hit at rank 1
            (vec![0, 2], 3),    // tail miss
            (vec![0, 1], 0),    // head hit, skipped
        ];
        let m = tail_ranking_metrics(&ranked, &is_tail, 2);
        assert_eq!(m.tail_positives, 2);
        assert!((m.hit_rate - 0.5).abs() < 1e-12, "{m:?}");
        assert!((m.ndcg - 0.5).abs() < 1e-12, "{m:?}");
    }

    /// A tail hit at rank 2 counts fully for HR and 1/log2(3) for NDCG; beyond K it misses.
    #[test]
    fn rank_and_cutoff_are_respected() {
        let is_tail = [false, true, true];
        let ranked = vec![(vec![0, 2, 1], 2), (vec![0, 2, 1], 1)];
        let m = tail_ranking_metrics(&ranked, &is_tail, 2);
        assert!((m.hit_rate - 0.5).abs() < 1e-12, "{m:?}");
        let expected = (1.0 / 3f64.log2()) / 2.0;
        assert!((m.ndcg - expected).abs() < 1e-12, "{m:?}");
    }

    /// No tail positive gives zeros and a zero denominator, not NaN.
    #[test]
    fn no_tail_positive_gives_zero() {
        let m = tail_ranking_metrics(&[(vec![0], 0)], &[false], 10);
        assert_eq!(m.tail_positives, 0);
        assert_eq!((m.hit_rate, m.ndcg), (0.0, 0.0));
    }
}
