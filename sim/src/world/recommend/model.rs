//! The built-in recommender of the baselines: item popularity in the training window plus
//! the user's affinity to the item's category, fitted on consumption events. Items it
//! never saw (launched after its training) score nothing and are never shown, which is
//! exactly how a frozen recommender misses new items.

use crate::policy::rank::{Consumption, Ranker};

/// Name recorded in the log.
pub const LEARNER_NAME: &str = "popularity_affinity";

/// Additive smoothing of category counts.
const AFFINITY_PRIOR: f32 = 0.5;

/// Sizes and weights of a [`PopAffinity`] fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopAffinityParams {
    /// Users (ids `0..users`).
    pub users: usize,
    /// Item categories.
    pub categories: usize,
    /// Items kept per category (the slate size is enough).
    pub k: usize,
    /// Weight of the user's category affinity against popularity.
    pub affinity_weight: f64,
}

/// A fitted recommender (serialisable, so a governed run can store it as an artifact).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PopAffinity {
    categories: usize,
    affinity_weight: f32,
    /// ln(1 + consumption count) per known item.
    popularity: Vec<f32>,
    item_cat: Vec<u16>,
    /// Per category, known items by decreasing popularity (at most `k` kept).
    top_by_cat: Vec<Vec<u32>>,
    /// Row-major users x categories consumption counts.
    user_cat: Vec<f32>,
    user_total: Vec<f32>,
}

impl PopAffinity {
    /// Fits on consumption (or click) events over a catalogue whose item `i` has
    /// category `item_cat[i]`. Events naming unknown users or items are ignored.
    pub fn fit(events: &[Consumption], item_cat: &[u16], params: PopAffinityParams) -> Self {
        let PopAffinityParams {
            users,
            categories,
            k,
            affinity_weight,
        } = params;
        let mut counts = vec![0f32; item_cat.len()];
        let mut user_cat = vec![0f32; users * categories];
        let mut user_total = vec![0f32; users];
        for e in events {
            let (u, i) = (e.user as usize, e.item as usize);
            if u >= users || i >= item_cat.len() || usize::from(item_cat[i]) >= categories {
                continue;
            }
            counts[i] += 1.0;
            user_cat[u * categories + usize::from(item_cat[i])] += 1.0;
            user_total[u] += 1.0;
        }
        let popularity: Vec<f32> = counts.iter().map(|c| c.ln_1p()).collect();
        let mut top_by_cat: Vec<Vec<u32>> = vec![Vec::new(); categories];
        for (i, cat) in item_cat.iter().enumerate() {
            if counts[i] > 0.0 {
                top_by_cat[usize::from(*cat)].push(i as u32);
            }
        }
        for list in &mut top_by_cat {
            // Ties broken by item index so the order never depends on sort stability.
            list.sort_by(|a, b| {
                popularity[*b as usize]
                    .total_cmp(&popularity[*a as usize])
                    .then(a.cmp(b))
            });
            list.truncate(k);
        }
        Self {
            categories,
            affinity_weight: affinity_weight as f32,
            popularity,
            item_cat: item_cat.to_vec(),
            top_by_cat,
            user_cat,
            user_total,
        }
    }

    fn affinity(&self, user: usize, cat: usize) -> f32 {
        let total = self.user_total.get(user).copied().unwrap_or(0.0);
        let count = self
            .user_cat
            .get(user * self.categories + cat)
            .copied()
            .unwrap_or(0.0);
        ((count + AFFINITY_PRIOR) / (total + AFFINITY_PRIOR * self.categories as f32)).ln()
    }

    /// The `k` best known items for `user`, best first, into `out`.
    pub fn top_k_with(
        &self,
        user: usize,
        k: usize,
        scratch: &mut Vec<(f32, u32)>,
        out: &mut Vec<u32>,
    ) {
        scratch.clear();
        for (cat, list) in self.top_by_cat.iter().enumerate() {
            let aff = self.affinity_weight * self.affinity(user, cat);
            scratch.extend(
                list.iter()
                    .map(|i| (self.popularity[*i as usize] + aff, *i)),
            );
        }
        scratch.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out.clear();
        out.extend(scratch.iter().take(k).map(|(_, i)| *i));
        debug_assert!(out.iter().all(|i| (*i as usize) < self.item_cat.len()));
    }
}

impl Ranker for PopAffinity {
    fn top_k(&self, user: u32, k: usize, out: &mut Vec<u32>) {
        let mut scratch = Vec::with_capacity(self.categories * k);
        self.top_k_with(user as usize, k, &mut scratch, out);
    }
}
