//! Rare-intent text augmentation: pure-function properties, and whether character noise
//! and lexicon substitutions raise a rare intent's recall on held-out messages that use
//! the lexicon's words and typos, without lowering accuracy over all intents.

use ledgerloop_models::augment::text::{
    augment_rare_texts, augment_texts_for_training, char_noise, substitute, TextAugmentConfig,
};
use ledgerloop_models::metrics::argmax_rows;
use ledgerloop_models::text::{TextClassifier, TextConfig, TextDataset, TextTrainConfig};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seeds the means are taken over.
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
/// Intents; the last one is rare.
const INTENTS: usize = 8;
/// Keywords per intent (each with a lexicon equivalent).
const KEYWORDS: usize = 4;
/// Training messages per common intent and of the rare intent.
const COMMON_MESSAGES: usize = 300;
const RARE_MESSAGES: usize = 8;
/// Chance a keyword is written as its lexicon equivalent, and a message has a typo (the
/// intent scenario's `typo_rate`).
const SYNONYM_RATE: f64 = 0.4;
const TYPO_RATE: f64 = 0.15;
/// Held-out messages of the rare intent (recall) and per intent (accuracy).
const HELDOUT_RARE: usize = 300;
const HELDOUT_PER_INTENT: usize = 100;

/// A made-up word of two or three syllables.
fn word(rng: &mut ChaCha8Rng) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ren", "tus", "ve", "dor", "pha", "qui", "sel", "zu", "bin", "gar",
        "fen", "tho", "wix",
    ];
    (0..rng.gen_range(2..4))
        .map(|_| SYL[rng.gen_range(0..SYL.len())])
        .collect()
}

/// The world: filler words, each intent's keywords and the lexicon (keyword, equivalent).
struct World {
    filler: Vec<String>,
    keywords: Vec<Vec<String>>,
    lexicon: Vec<(String, String)>,
}

fn world(seed: u64) -> World {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let filler = (0..200).map(|_| word(&mut rng)).collect();
    let keywords: Vec<Vec<String>> = (0..INTENTS)
        .map(|_| (0..KEYWORDS).map(|_| word(&mut rng)).collect())
        .collect();
    let lexicon = keywords
        .iter()
        .flatten()
        .map(|k| (k.clone(), word(&mut rng)))
        .collect();
    World {
        filler,
        keywords,
        lexicon,
    }
}

/// `n` messages of `intent`: filler plus two keywords (each written as its equivalent
/// with `SYNONYM_RATE`), a typo in `TYPO_RATE` of them.
fn messages(w: &World, intent: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut words: Vec<String> = (0..rng.gen_range(3..7))
                .map(|_| w.filler[rng.gen_range(0..w.filler.len())].clone())
                .collect();
            for _ in 0..2 {
                let k = rng.gen_range(0..KEYWORDS);
                let kw = &w.keywords[intent][k];
                let entry = &w.lexicon[intent * KEYWORDS + k];
                let written = if rng.gen_bool(SYNONYM_RATE) {
                    &entry.1
                } else {
                    kw
                };
                let at = rng.gen_range(0..=words.len());
                words.insert(at, written.clone());
            }
            let text = words.join(" ");
            let rate = if rng.gen_bool(TYPO_RATE) { 0.3 } else { 0.0 };
            char_noise(&text, rate, rng)
        })
        .collect()
}

fn dataset(w: &World, per_intent: &[usize], rng: &mut ChaCha8Rng) -> TextDataset {
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for (intent, &n) in per_intent.iter().enumerate() {
        texts.extend(messages(w, intent, n, rng));
        labels.extend(std::iter::repeat_n(intent as u32, n));
    }
    TextDataset {
        texts,
        labels,
        n_classes: INTENTS,
    }
}

/// Accuracy on the messages of `d` whose intent `keep` accepts.
fn accuracy(model: &TextClassifier, d: &TextDataset, keep: impl Fn(u32) -> bool) -> f64 {
    let texts: Vec<&str> = d.texts.iter().map(String::as_str).collect();
    let p = model.predict_proba(&texts).expect("proba");
    let pred = argmax_rows(&p, d.n_classes);
    let kept: Vec<(u32, u32)> = pred
        .iter()
        .zip(&d.labels)
        .filter(|(_, &l)| keep(l))
        .map(|(&p, &l)| (p, l))
        .collect();
    kept.iter().filter(|(p, l)| p == l).count() as f64 / kept.len().max(1) as f64
}

/// One variant's figures on one seed.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    /// Recall of the rare intent on its held-out messages.
    recall: f64,
    /// Accuracy on held-out messages of every intent (100 each).
    accuracy: f64,
    /// Accuracy on the held-out messages of the common intents only.
    common: f64,
}

/// Figures per seed with augmentation `cfg` (or none), printed as a table row.
fn run(name: &str, cfg: Option<&TextAugmentConfig>) -> Figures {
    let rare_intent = (INTENTS - 1) as u32;
    let out: Vec<Figures> = SEEDS
        .iter()
        .map(|&s| {
            let w = world(s);
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + s);
            let mut train_counts = vec![COMMON_MESSAGES; INTENTS];
            train_counts[INTENTS - 1] = RARE_MESSAGES;
            let train = dataset(&w, &train_counts, &mut rng);
            let mut rare_counts = vec![0; INTENTS];
            rare_counts[INTENTS - 1] = HELDOUT_RARE;
            let rare = dataset(&w, &rare_counts, &mut rng);
            let mix = dataset(&w, &[HELDOUT_PER_INTENT; INTENTS], &mut rng);
            let train = match cfg {
                Some(c) => {
                    augment_rare_texts(&train, &w.lexicon, c, s)
                        .expect("augment")
                        .0
                }
                None => train,
            };
            let opts = TextTrainConfig {
                seed: s,
                ..TextTrainConfig::default()
            };
            let (m, _) =
                TextClassifier::fit(&TextConfig::new(INTENTS), &train, None, &opts).expect("fit");
            Figures {
                recall: accuracy(&m, &rare, |_| true),
                accuracy: accuracy(&m, &mix, |_| true),
                common: accuracy(&m, &mix, |l| l != rare_intent),
            }
        })
        .collect();
    let n = out.len() as f64;
    let mean = Figures {
        recall: out.iter().map(|f| f.recall).sum::<f64>() / n,
        accuracy: out.iter().map(|f| f.accuracy).sum::<f64>() / n,
        common: out.iter().map(|f| f.common).sum::<f64>() / n,
    };
    let cells: Vec<String> = out
        .iter()
        .map(|f| format!("{:.3}/{:.3}/{:.3}", f.recall, f.accuracy, f.common))
        .collect();
    eprintln!(
        "{name}: rare recall / accuracy / common-intent accuracy per seed {cells:?}; mean {:.3}/{:.3}/{:.3}",
        mean.recall, mean.accuracy, mean.common
    );
    mean
}

fn config(
    char_noise_rate: f64,
    substitution_rate: f64,
    rare_below_rows: usize,
) -> TextAugmentConfig {
    TextAugmentConfig {
        rare_below_rows,
        copies_per_row: 10,
        char_noise_rate,
        substitution_rate,
    }
}

/// Augmenting only the rare intent raises its held-out recall without lowering common-intent accuracy.
#[test]
fn rare_intent_augmentation_raises_recall_without_harm() {
    let none = run("none", None);
    run("char noise", Some(&config(0.15, 0.0, 50)));
    run("lexicon", Some(&config(0.0, 0.5, 50)));
    let both = run("noise + lexicon", Some(&config(0.15, 0.5, 50)));
    // Every intent augmented (one variant per message) is measured for comparison.
    let all = TextAugmentConfig {
        copies_per_row: 1,
        ..config(0.15, 0.5, usize::MAX)
    };
    run("every intent", Some(&all));
    // Five-seed means; the margins are well inside what was measured (README).
    assert!(both.recall >= none.recall + 0.15, "{both:?} vs {none:?}");
    assert!(both.accuracy >= none.accuracy, "{both:?} vs {none:?}");
    assert!(both.common >= none.common - 0.01, "{both:?} vs {none:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Character noise changes at most one character per word and never the word count.
    #[test]
    fn char_noise_changes_at_most_one_char_per_word(
        words in proptest::collection::vec("[a-z]{1,8}", 1..8),
        seed in any::<u64>(),
    ) {
        let text = words.join(" ");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noisy = char_noise(&text, 1.0, &mut rng);
        let out: Vec<&str> = noisy.split(' ').collect();
        prop_assert_eq!(out.len(), words.len());
        for (a, b) in words.iter().zip(&out) {
            let (la, lb) = (a.chars().count() as i64, b.chars().count() as i64);
            prop_assert!((la - lb).abs() <= 1, "{} -> {}", a, b);
            let mut sa: Vec<char> = a.chars().collect();
            let mut sb: Vec<char> = b.chars().collect();
            if la == lb {
                sa.sort_unstable();
                sb.sort_unstable();
                prop_assert_eq!(sa, sb);
            }
        }
    }

    /// Rare intents get exactly `copies_per_row` variants per message, others none; the
    /// real messages stay first; the same seed gives the same variants.
    #[test]
    fn rare_intents_get_the_asked_variants(
        rare in 1usize..6,
        copies in 1usize..5,
        seed in any::<u64>(),
    ) {
        let w = world(seed % 7);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = vec![20; INTENTS];
        counts[2] = rare;
        let data = dataset(&w, &counts, &mut rng);
        let cfg = TextAugmentConfig { rare_below_rows: 10, copies_per_row: copies, char_noise_rate: 0.2, substitution_rate: 0.5 };
        let (a, made) = augment_rare_texts(&data, &w.lexicon, &cfg, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (b, _) = augment_rare_texts(&data, &w.lexicon, &cfg, seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&a.texts, &b.texts);
        prop_assert_eq!(&a.texts[..data.labels.len()], &data.texts[..]);
        for (c, &m) in made.iter().enumerate() {
            prop_assert_eq!(m, if c == 2 { rare * copies } else { 0 });
        }
        prop_assert!(a.labels[data.labels.len()..].iter().all(|&l| l == 2));
    }
}

/// A lexicon entry is replaced by its equivalent in both directions at rate 1.
#[test]
fn substitution_goes_both_ways() {
    let lexicon = vec![("wifi".to_string(), "无线".to_string())];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(
        substitute("my wifi is down", &lexicon, 1.0, &mut rng),
        "my 无线 is down"
    );
    assert_eq!(
        substitute("无线 down", &lexicon, 1.0, &mut rng),
        "wifi down"
    );
    assert_eq!(substitute("no match", &lexicon, 1.0, &mut rng), "no match");
}

/// The validation messages are real messages only, held out before augmenting: the
/// training part plus the validation part are the real messages, the variants all come
/// after the real training messages, and the rare intents are counted on the training part.
#[test]
fn validation_messages_are_real_and_held_out_before_augmenting() {
    let w = world(3);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut counts = vec![40; INTENTS];
    counts[5] = 6;
    let data = dataset(&w, &counts, &mut rng);
    let cfg = TextAugmentConfig {
        rare_below_rows: 10,
        copies_per_row: 3,
        char_noise_rate: 0.2,
        substitution_rate: 0.5,
    };
    let out = augment_texts_for_training(&data, 0.1, &w.lexicon, &cfg, 11).expect("augments");
    let valid = out.valid.expect("a validation part");
    let real_train = data.texts.len() - valid.texts.len();
    assert_eq!(
        valid.texts.len(),
        (data.texts.len() as f32 * 0.1).round() as usize
    );
    let mut real: Vec<&String> = out.train.texts[..real_train].iter().collect();
    real.extend(&valid.texts);
    let mut expected: Vec<&String> = data.texts.iter().collect();
    real.sort();
    expected.sort();
    assert_eq!(real, expected);
    let rare_in_train = out.train.labels[..real_train]
        .iter()
        .filter(|&&l| l == 5)
        .count();
    assert_eq!(out.synthetic_per_class[5], rare_in_train * 3);
    assert_eq!(out.train.texts.len(), real_train + rare_in_train * 3);
    assert!(out
        .synthetic_per_class
        .iter()
        .enumerate()
        .all(|(c, &n)| c == 5 || n == 0));
    let again = augment_texts_for_training(&data, 0.1, &w.lexicon, &cfg, 11).expect("augments");
    assert_eq!(again.train.texts, out.train.texts);
}
