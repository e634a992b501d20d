//! Hashed n-gram features for Chinese and English text.
//!
//! Text is lower-cased and cut into tokens: runs of letters/digits outside CJK become words;
//! each CJK character is its own token, because Chinese has no spaces and single characters
//! carry most of the meaning. Features are then: every token, every pair of adjacent tokens
//! (word bigrams in English, character bigrams in Chinese, which is how most Chinese words
//! are spelled), and character trigrams of `<word>` for non-CJK words (robust to typos and
//! inflection). Each feature is FNV-1a hashed with a kind tag into `buckets` rows.

use serde::{Deserialize, Serialize};

/// Which n-grams to extract; stored in the text model's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NgramConfig {
    pub buckets: usize,
    pub word_bigrams: bool,
    /// Character n-gram length inside non-CJK words (0 = none).
    pub char_ngram: usize,
}

impl Default for NgramConfig {
    fn default() -> Self {
        Self {
            buckets: 1 << 18,
            word_bigrams: true,
            char_ngram: 3,
        }
    }
}

/// True for CJK ideographs and the common CJK punctuation/kana blocks.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Lower-cased tokens: Latin/digit words and single CJK characters.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.push(c);
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// FNV-1a 64-bit over a kind tag and the bytes of each part (stable across platforms).
fn fnv1a(tag: u8, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(tag);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            eat(0x1f);
        }
        p.bytes().for_each(&mut eat);
    }
    h
}

/// Bucket ids of every feature of `text`, in extraction order (duplicates kept: a repeated
/// word counts twice in the mean, as in fastText).
pub fn feature_ids(text: &str, cfg: &NgramConfig) -> Vec<u32> {
    // No buckets means no feature space to hash into (`TextConfig::validate` refuses it).
    if cfg.buckets == 0 {
        return Vec::new();
    }
    let toks = tokens(text);
    let b = cfg.buckets as u64;
    let mut ids: Vec<u32> = toks
        .iter()
        .map(|t| (fnv1a(b'w', &[t]) % b) as u32)
        .collect();
    if cfg.word_bigrams {
        for pair in toks.windows(2) {
            ids.push((fnv1a(b'b', &[&pair[0], &pair[1]]) % b) as u32);
        }
    }
    if cfg.char_ngram > 0 {
        for t in toks.iter().filter(|t| !t.chars().any(is_cjk)) {
            let chars: Vec<char> = format!("<{t}>").chars().collect();
            if chars.len() <= cfg.char_ngram + 1 {
                continue; // short words are already covered by the word feature
            }
            for g in chars.windows(cfg.char_ngram) {
                let s: String = g.iter().collect();
                ids.push((fnv1a(b'c', &[&s]) % b) as u32);
            }
        }
    }
    ids
}
