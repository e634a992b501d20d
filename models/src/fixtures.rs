//! Seeded synthetic data for tests, benchmarks and demos: Gaussian class blobs (with an
//! optional shift to mimic firmware/line changes), intent texts, and implicit feedback.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::TabularDataset;

/// Standard normal draw (Box-Muller) from a seeded RNG.
pub fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen::<f32>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

/// Class centres for a blob problem: `n_classes x n_features`, scaled by `separation`.
pub fn blob_centres(n_features: usize, n_classes: usize, separation: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n_features * n_classes)
        .map(|_| normal(&mut rng) * separation)
        .collect()
}

/// `n` rows around `centres` with unit noise; features `x -> x + shift` model drift and a
/// nonlinear term (`x0 * x1`) keeps the problem from being purely linear.
pub fn blobs_from_centres(
    centres: &[f32],
    n_classes: usize,
    n: usize,
    shift: f32,
    seed: u64,
) -> TabularDataset {
    let nf = centres.len() / n_classes;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(n * nf);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let y = rng.gen_range(0..n_classes);
        let c = &centres[y * nf..(y + 1) * nf];
        let start = features.len();
        for &m in c {
            features.push(m + normal(&mut rng) + shift);
        }
        if nf >= 3 {
            features[start + 2] += 0.3 * features[start] * features[start + 1];
        }
        labels.push(y as u32);
    }
    TabularDataset {
        n_features: nf,
        n_classes,
        features,
        labels,
    }
}

/// Blob dataset in one call: the centres come from `problem`, the rows from `seed`, so two
/// calls with the same `problem` and different `seed` give train and test sets of one task.
pub fn blobs(
    problem: u64,
    n: usize,
    n_features: usize,
    n_classes: usize,
    separation: f32,
    seed: u64,
) -> TabularDataset {
    let centres = blob_centres(n_features, n_classes, separation, problem);
    blobs_from_centres(&centres, n_classes, n, 0.0, seed)
}

/// A made-up English word from syllables (deterministic in `k`).
fn synthetic_word(k: usize) -> String {
    const SYL: [&str; 12] = [
        "ka", "lo", "mi", "ren", "tus", "ve", "dor", "pha", "qui", "sel", "zu", "bin",
    ];
    let mut w = String::new();
    let mut x = k + 1;
    while x > 0 {
        w.push_str(SYL[x % SYL.len()]);
        x /= SYL.len();
    }
    w
}

/// Intent-classification texts, half English and half Chinese. Each class owns a few
/// keywords in each language; a sentence is filler words plus two class keywords, and a
/// `noise` fraction of sentences gets a keyword of another class instead of the second one.
pub fn intents(n: usize, n_classes: usize, noise: f32, seed: u64) -> crate::text::TextDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kw_en = |c: usize, j: usize| synthetic_word(1000 + c * 7 + j);
    let kw_zh = |c: usize, j: usize| {
        let a = char::from_u32(0x4E00 + (c * 7 + j) as u32 * 13).unwrap_or('中');
        let b = char::from_u32(0x5E00 + (c * 7 + j) as u32 * 11).unwrap_or('文');
        format!("{a}{b}")
    };
    let mut texts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let y = rng.gen_range(0..n_classes);
        let chinese = rng.gen_bool(0.5);
        let other = if rng.gen::<f32>() < noise {
            rng.gen_range(0..n_classes)
        } else {
            y
        };
        let mut words: Vec<String> = (0..rng.gen_range(3..7))
            .map(|_| {
                let f = rng.gen_range(0..200);
                if chinese {
                    char::from_u32(0x6000 + f).map_or_else(String::new, String::from)
                } else {
                    synthetic_word(f as usize)
                }
            })
            .collect();
        let (k1, k2) = (rng.gen_range(0..7), rng.gen_range(0..7));
        let (a, b) = if chinese {
            (kw_zh(y, k1), kw_zh(other, k2))
        } else {
            (kw_en(y, k1), kw_en(other, k2))
        };
        let p1 = rng.gen_range(0..=words.len());
        words.insert(p1, a);
        let p2 = rng.gen_range(0..=words.len());
        words.insert(p2, b);
        texts.push(if chinese {
            words.concat()
        } else {
            words.join(" ")
        });
        labels.push(y as u32);
    }
    crate::text::TextDataset {
        texts,
        labels,
        n_classes,
    }
}

/// Implicit feedback from latent tastes: each user draws `per_user` distinct items with
/// probability proportional to `exp(2 * taste . item + popularity)`.
/// Returns `(train, held_out)` where the last draw of each user is held out.
pub fn interactions(
    n_users: usize,
    n_items: usize,
    per_user: usize,
    seed: u64,
) -> (
    crate::recommend::Interactions,
    crate::recommend::Interactions,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dim = 4;
    let users: Vec<f32> = (0..n_users * dim).map(|_| normal(&mut rng)).collect();
    let items: Vec<f32> = (0..n_items * dim).map(|_| normal(&mut rng)).collect();
    let pop: Vec<f32> = (0..n_items).map(|_| normal(&mut rng)).collect();
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for u in 0..n_users {
        let mut w: Vec<f32> = (0..n_items)
            .map(|i| {
                let s: f32 = (0..dim)
                    .map(|k| users[u * dim + k] * items[i * dim + k])
                    .sum();
                (2.0 * s + pop[i]).exp()
            })
            .collect();
        let mut chosen: Vec<u32> = Vec::new();
        while chosen.len() < per_user.min(n_items) {
            let total: f32 = w.iter().sum();
            let mut x = rng.gen::<f32>() * total;
            let mut pick = n_items - 1;
            for (i, wi) in w.iter().enumerate() {
                if x < *wi {
                    pick = i;
                    break;
                }
                x -= wi;
            }
            // sampling without replacement: a peaked taste would otherwise redraw the same
            // few items for a long time
            w[pick] = 0.0;
            chosen.push(pick as u32);
        }
        if let Some(last) = chosen.pop() {
            held.push((u as u32, last));
        }
        train.extend(chosen.into_iter().map(|i| (u as u32, i)));
    }
    let mk = |pairs| crate::recommend::Interactions {
        n_users,
        n_items,
        pairs,
    };
    (mk(train), mk(held))
}

/// Corners of the rare class's square in features 0 and 1 of [`rare_region`].
pub const RARE_REGION: (f32, f32) = (1.0, 3.0);
/// Spread of the common classes' features 0 and 1 in [`rare_region`]: wide enough that
/// common rows surround the rare square on every side.
const COMMON_SPREAD: f32 = 1.5;

/// A rare-class problem. Classes 0 and 1 fill the feature space (features normal, 0 and 1
/// with spread 1.5; the class is the sign of `x2 + x3 + 0.5 * x2 * x4`), except the square
/// [`RARE_REGION`]² of features 0-1, where only class 2 occurs (uniformly there, its other
/// features normal). `n_common` rows of classes 0/1, then `n_rare` rows of class 2: with
/// a dozen rare rows the square is covered only sparsely, so rare rows drawn with another
/// seed mostly fall *between* the training ones.
pub fn rare_region(n_common: usize, n_rare: usize, n_features: usize, seed: u64) -> TabularDataset {
    let nf = n_features.max(5);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = RARE_REGION;
    let inside = |x: f32, y: f32| (lo..=hi).contains(&x) && (lo..=hi).contains(&y);
    let mut features = Vec::with_capacity((n_common + n_rare) * nf);
    let mut labels = Vec::with_capacity(n_common + n_rare);
    while labels.len() < n_common {
        let row: Vec<f32> = (0..nf)
            .map(|f| normal(&mut rng) * if f < 2 { COMMON_SPREAD } else { 1.0 })
            .collect();
        if inside(row[0], row[1]) {
            continue;
        }
        let score = row[2] + row[3] + 0.5 * row[2] * row[4];
        labels.push(u32::from(score > 0.0));
        features.extend(row);
    }
    for _ in 0..n_rare {
        features.push(rng.gen_range(lo..hi));
        features.push(rng.gen_range(lo..hi));
        features.extend((2..nf).map(|_| normal(&mut rng)));
        labels.push(2);
    }
    TabularDataset {
        n_features: nf,
        n_classes: 3,
        features,
        labels,
    }
}
