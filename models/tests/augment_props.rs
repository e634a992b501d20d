//! Properties of the rare-class augmentation: SMOTE points lie on segments between
//! same-class neighbours, counts are as asked, real rows are kept, and the draws are a
//! function of the seed alone.

use ledgerloop_models::augment::{
    augment_for_training, feature_std, oversample, smote, synthetic_counts, AugmentConfig,
    AugmentMethod,
};
use ledgerloop_models::TabularDataset;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Relative tolerance of the collinearity check (f32 arithmetic on values up to ~10).
const TOLERANCE: f32 = 1e-4;

/// A data set of `per_class[c]` rows of class `c`, features from `values` in turn.
fn dataset(per_class: &[usize], n_features: usize, values: &[f32]) -> TabularDataset {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut k = 0;
    for (c, &n) in per_class.iter().enumerate() {
        for _ in 0..n {
            for f in 0..n_features {
                // A class offset keeps classes apart, as real classes would be.
                features.push(values[k % values.len()] + c as f32 * 3.0 + f as f32 * 0.1);
                k += 1;
            }
            labels.push(c as u32);
        }
    }
    TabularDataset {
        n_features,
        n_classes: per_class.len(),
        features,
        labels,
    }
}

fn config(method: AugmentMethod, target_share: f64, neighbours: usize) -> AugmentConfig {
    AugmentConfig {
        method,
        target_share,
        neighbours,
        jitter_std: if method == AugmentMethod::Smote {
            0.0
        } else {
            0.1
        },
        max_synthetic_per_real: 20.0,
    }
}

/// Whether `p` lies on the segment from `a` to `b` (within tolerance).
fn on_segment(p: &[f32], a: &[f32], b: &[f32]) -> bool {
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let len2: f32 = d.iter().map(|v| v * v).sum();
    if len2 == 0.0 {
        return p.iter().zip(a).all(|(x, y)| (x - y).abs() <= TOLERANCE);
    }
    let t: f32 = p
        .iter()
        .zip(a)
        .zip(&d)
        .map(|((x, y), v)| (x - y) * v)
        .sum::<f32>()
        / len2;
    if !(-TOLERANCE..=1.0 + TOLERANCE).contains(&t) {
        return false;
    }
    let scale = 1.0 + a.iter().chain(b).fold(0.0f32, |m, v| m.max(v.abs()));
    p.iter()
        .zip(a)
        .zip(&d)
        .all(|((x, y), v)| (x - (y + t * v)).abs() <= TOLERANCE * scale)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every SMOTE point lies on the segment between two distinct rows of its class.
    #[test]
    fn smote_points_lie_on_same_class_segments(
        values in proptest::collection::vec(-5.0f32..5.0, 8..60),
        n in 2usize..12,
        count in 1usize..40,
        k in 1usize..6,
        seed in any::<u64>(),
    ) {
        let nf = 3;
        let data = dataset(&[n], nf, &values);
        let std = feature_std(&data);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let made = smote(&data.features, nf, count, k, &std, &mut rng);
        prop_assert_eq!(made.len(), count * nf);
        for p in made.chunks(nf) {
            let found = (0..n).any(|i| (0..n).any(|j| i != j && on_segment(p, data.row(i), data.row(j))));
            prop_assert!(found, "{:?} lies on no segment between class rows", p);
        }
    }

    /// Real rows stay first and unchanged; each rare class gets exactly the asked count.
    #[test]
    fn oversample_counts_are_as_asked(
        values in proptest::collection::vec(-5.0f32..5.0, 8..60),
        common in 20usize..200,
        rare in 0usize..15,
        share in 0.05f64..0.5,
        method in prop_oneof![
            Just(AugmentMethod::Smote),
            Just(AugmentMethod::Jitter),
            Just(AugmentMethod::SmoteJitter)
        ],
        seed in any::<u64>(),
    ) {
        let data = dataset(&[common, rare], 2, &values);
        let cfg = config(method, share, 5);
        let (out, per_class) = oversample(&data, &cfg, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&per_class, &synthetic_counts(&data.class_counts(), &cfg));
        prop_assert_eq!(&out.features[..data.features.len()], &data.features[..]);
        prop_assert_eq!(&out.labels[..data.len()], &data.labels[..]);
        prop_assert_eq!(out.len(), data.len() + per_class.iter().sum::<usize>());
        let counts = out.class_counts();
        for (c, &real) in data.class_counts().iter().enumerate() {
            prop_assert_eq!(counts[c], real + per_class[c]);
        }
        let target = (share * data.len() as f64).ceil() as usize;
        let min_rows = if method == AugmentMethod::Jitter { 1 } else { 2 };
        if rare >= min_rows && rare < target {
            prop_assert_eq!(counts[1], target.min(rare * 21));
        } else {
            prop_assert_eq!(per_class[1], 0);
        }
        prop_assert_eq!(per_class[0], 0);
    }

    /// The same seed gives the same rows bit for bit, and validation rows are all real.
    #[test]
    fn augmentation_is_a_function_of_the_seed(
        values in proptest::collection::vec(-5.0f32..5.0, 8..60),
        rare in 2usize..10,
        seed in any::<u64>(),
    ) {
        let data = dataset(&[80, rare], 3, &values);
        let cfg = config(AugmentMethod::SmoteJitter, 0.3, 3);
        let a = augment_for_training(&data, 0.1, &cfg, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = augment_for_training(&data, 0.1, &cfg, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&a.train, &b.train);
        prop_assert_eq!(&a.valid, &b.valid);
        let valid = a.valid.unwrap_or_else(|| data.subset(&[]));
        prop_assert_eq!(valid.len() + a.train.len() - a.synthetic_per_class.iter().sum::<usize>(), data.len());
        for i in 0..valid.len() {
            let real = (0..data.len()).any(|j| data.row(j) == valid.row(i) && data.labels[j] == valid.labels[i]);
            prop_assert!(real, "validation row {} is not a real row", i);
        }
    }
}

/// `real_count_weights` weighs the real rows only: the weights of the data set before
/// augmenting, whatever the synthetic rows added.
#[test]
fn real_count_weights_ignore_the_synthetic_rows() {
    let values: Vec<f32> = (0..40).map(|v| (v as f32 * 0.37).sin() * 4.0).collect();
    let data = dataset(&[100, 6], 4, &values);
    let aug = augment_for_training(&data, 0.0, &config(AugmentMethod::Smote, 0.3, 3), 5)
        .expect("augment");
    assert!(aug.synthetic_per_class[1] > 0);
    // 106 real rows, 2 classes: 106 / (2 * 100) and 106 / (2 * 6).
    let weights = aug.real_count_weights();
    assert!((weights[0] - 0.53).abs() < 1e-6, "{weights:?}");
    assert!((weights[1] - 106.0 / 12.0).abs() < 1e-5, "{weights:?}");
}

/// A different seed draws different synthetic rows (the seed is actually used).
#[test]
fn another_seed_draws_other_rows() {
    let values: Vec<f32> = (0..40).map(|v| (v as f32 * 0.37).sin() * 4.0).collect();
    let data = dataset(&[100, 6], 4, &values);
    let cfg = config(AugmentMethod::Smote, 0.2, 3);
    let a = oversample(&data, &cfg, 1).map(|o| o.0);
    let b = oversample(&data, &cfg, 2).map(|o| o.0);
    assert!(matches!((a, b), (Ok(a), Ok(b)) if a.features != b.features));
}

/// Impossible options are refused with the field named.
#[test]
fn impossible_options_are_refused() {
    let data = dataset(&[50, 5], 2, &[1.0, 2.0, 3.0]);
    let bad = [
        AugmentConfig {
            target_share: 0.0,
            ..config(AugmentMethod::Smote, 0.1, 5)
        },
        AugmentConfig {
            target_share: 0.6,
            ..config(AugmentMethod::Smote, 0.1, 5)
        },
        AugmentConfig {
            neighbours: 0,
            ..config(AugmentMethod::Smote, 0.1, 5)
        },
        AugmentConfig {
            jitter_std: 0.0,
            ..config(AugmentMethod::Jitter, 0.1, 5)
        },
        AugmentConfig {
            jitter_std: f32::NAN,
            ..config(AugmentMethod::Smote, 0.1, 5)
        },
        AugmentConfig {
            max_synthetic_per_real: 0.0,
            ..config(AugmentMethod::Smote, 0.1, 5)
        },
    ];
    for cfg in bad {
        assert!(oversample(&data, &cfg, 0).is_err(), "accepted {cfg:?}");
    }
}
