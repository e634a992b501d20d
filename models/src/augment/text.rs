//! Rare-intent augmentation of text data sets: character noise (a swapped, dropped or
//! doubled character, the typos customers make) and substitutions from a small lexicon of
//! equivalent words (synonyms, code-switched words) that the scenario lists.
//!
//! Only intents with fewer than `rare_below_rows` messages are augmented: augmenting
//! every intent cost an earlier attempt 2.3 points of accuracy, while a rare intent is
//! exactly where a dozen messages cannot show the spellings and words customers use.
//! Pure and seeded like the tabular augmentation: class `c` draws from its own ChaCha
//! stream, and the real messages come first, unchanged.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::text::TextDataset;
use crate::{Error, Result};

/// Most variants made per real message, so a rare intent cannot be blown up into
/// thousands of near-copies.
pub const MAX_COPIES_PER_ROW: usize = 20;
/// Shortest word (in characters) that character noise touches: shorter words become
/// other words when a character moves.
const MIN_NOISY_WORD_CHARS: usize = 3;
/// XOR-ed into the seed of the validation split, so that the split and the variants draw
/// from different streams.
const VALID_STREAM: u64 = 0x5911;
/// Fewest messages from which a validation set is split off (as `TextClassifier::fit`
/// does when given none).
const MIN_ROWS_TO_SPLIT: usize = 10;

/// What to augment and how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAugmentConfig {
    /// Intents with fewer messages than this are augmented (>= 1).
    pub rare_below_rows: usize,
    /// Variants made from each message of a rare intent, in [1, 20].
    pub copies_per_row: usize,
    /// Chance that a word of a variant gets one typo, in [0, 1].
    pub char_noise_rate: f64,
    /// Chance that a lexicon word found in a variant is replaced by its equivalent, in [0, 1].
    pub substitution_rate: f64,
}

impl TextAugmentConfig {
    /// Rejects options outside their documented ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if self.rare_below_rows == 0 {
            return bad("rare_below_rows", "must be >= 1");
        }
        if !(1..=MAX_COPIES_PER_ROW).contains(&self.copies_per_row) {
            return bad("copies_per_row", "must lie in [1, 20]");
        }
        for (field, v) in [
            ("char_noise_rate", self.char_noise_rate),
            ("substitution_rate", self.substitution_rate),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(field, "must lie in [0, 1]");
            }
        }
        Ok(())
    }
}

/// `text` with each word of at least three characters given, with chance `rate`, one
/// typo: two adjacent characters swapped, one dropped or one doubled.
pub fn char_noise(text: &str, rate: f64, rng: &mut ChaCha8Rng) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            let chars: Vec<char> = w.chars().collect();
            if chars.len() < MIN_NOISY_WORD_CHARS || !rng.gen_bool(rate) {
                return w.to_string();
            }
            let mut chars = chars;
            let i = rng.gen_range(0..chars.len() - 1);
            match rng.gen_range(0..3) {
                0 => chars.swap(i, i + 1),
                1 => {
                    chars.remove(i);
                }
                _ => chars.insert(i, chars[i]),
            }
            chars.into_iter().collect()
        })
        .collect();
    words.join(" ")
}

/// `text` with each occurrence of a lexicon entry replaced, with chance `rate`, by its
/// equivalent (either side of a pair stands for the other). Matching is on the exact
/// characters, so Chinese entries work without word boundaries.
pub fn substitute(
    text: &str,
    lexicon: &[(String, String)],
    rate: f64,
    rng: &mut ChaCha8Rng,
) -> String {
    let mut out = text.to_string();
    for (a, b) in lexicon {
        // One direction per entry: replacing `a` by `b` and then `b` by `a` would undo it.
        let (from, to) = if out.contains(a.as_str()) {
            (a, b)
        } else {
            (b, a)
        };
        if from.is_empty() || !out.contains(from.as_str()) {
            continue;
        }
        if rng.gen_bool(rate) {
            out = out.replace(from.as_str(), to);
        }
    }
    out
}

/// The data set with variants of every message of each rare intent appended (lexicon
/// substitution, then character noise), and the variants made per intent.
pub fn augment_rare_texts(
    data: &TextDataset,
    lexicon: &[(String, String)],
    cfg: &TextAugmentConfig,
    seed: u64,
) -> Result<(TextDataset, Vec<usize>)> {
    cfg.validate()?;
    data.validate()?;
    let mut counts = vec![0usize; data.n_classes];
    for &l in &data.labels {
        counts[l as usize] += 1;
    }
    let mut out = data.clone();
    let mut made = vec![0usize; data.n_classes];
    for (class, &n) in counts.iter().enumerate() {
        if n == 0 || n >= cfg.rare_below_rows {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(class as u64);
        for (text, _) in data
            .texts
            .iter()
            .zip(&data.labels)
            .filter(|(_, &l)| l as usize == class)
        {
            for _ in 0..cfg.copies_per_row {
                let swapped = substitute(text, lexicon, cfg.substitution_rate, &mut rng);
                out.texts
                    .push(char_noise(&swapped, cfg.char_noise_rate, &mut rng));
                out.labels.push(class as u32);
                made[class] += 1;
            }
        }
    }
    Ok((out, made))
}

/// A text training set prepared with augmentation: the real training messages plus the
/// variants, and the real validation messages (none is a variant).
#[derive(Debug, Clone)]
pub struct TextAugmented {
    /// Real training messages, then the variants.
    pub train: TextDataset,
    /// Real messages held out for early stopping (`None` when too few to split).
    pub valid: Option<TextDataset>,
    /// Variants made per class.
    pub synthetic_per_class: Vec<usize>,
}

/// The messages at `idx`, in the order given.
fn subset(data: &TextDataset, idx: &[usize]) -> TextDataset {
    TextDataset {
        texts: idx.iter().map(|&i| data.texts[i].clone()).collect(),
        labels: idx.iter().map(|&i| data.labels[i]).collect(),
        n_classes: data.n_classes,
    }
}

/// Holds out `valid_fraction` of the real messages (seeded) *before* augmenting, and
/// augments only the rest ([`augment_rare_texts`], which counts the rare intents on the
/// rest): a variant in the validation set would let early stopping reward the model for
/// recognising near-copies of its own training messages. Both parts keep the data set's
/// order.
pub fn augment_texts_for_training(
    data: &TextDataset,
    valid_fraction: f32,
    lexicon: &[(String, String)],
    cfg: &TextAugmentConfig,
    seed: u64,
) -> Result<TextAugmented> {
    data.validate()?;
    let n = data.texts.len();
    let split = valid_fraction > 0.0 && n >= MIN_ROWS_TO_SPLIT;
    let (train, valid) = if split {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ VALID_STREAM));
        let n_valid = ((n as f32) * valid_fraction).round() as usize;
        let (valid, rest) = order.split_at(n_valid.min(n - 1));
        let (mut valid, mut rest) = (valid.to_vec(), rest.to_vec());
        valid.sort_unstable();
        rest.sort_unstable();
        (subset(data, &rest), Some(subset(data, &valid)))
    } else {
        (data.clone(), None)
    };
    let (train, synthetic_per_class) = augment_rare_texts(&train, lexicon, cfg, seed)?;
    Ok(TextAugmented {
        train,
        valid,
        synthetic_per_class,
    })
}
