//! Utterance rendering: slot filling, rephrasing and typos.

use std::collections::BTreeMap;

use rand::Rng;

use crate::rng::SimRng;

/// Fills every `{slot}` of `template` with a random value of that slot. Unknown slots
/// cannot occur (validation rejects them) but are left as written rather than panicking.
pub fn render(template: &str, slots: &BTreeMap<String, Vec<String>>, rng: &mut SimRng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match slots.get(name).filter(|v| !v.is_empty()) {
                    Some(values) => out.push_str(&values[rng.gen_range(0..values.len())]),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Puts a random prefix before and a random suffix after `utterance`, each with
/// probability one half (empty lists add nothing).
pub fn wrap(
    utterance: String,
    prefixes: &[String],
    suffixes: &[String],
    rng: &mut SimRng,
) -> String {
    let mut out = String::with_capacity(utterance.len() + 16);
    if !prefixes.is_empty() && rng.gen::<bool>() {
        out.push_str(&prefixes[rng.gen_range(0..prefixes.len())]);
        out.push(' ');
    }
    out.push_str(&utterance);
    if !suffixes.is_empty() && rng.gen::<bool>() {
        out.push(' ');
        out.push_str(&suffixes[rng.gen_range(0..suffixes.len())]);
    }
    out
}

/// Applies every `[from, to]` substitution (case-sensitive, in order).
pub fn rephrase(utterance: &str, replacements: &[[String; 2]]) -> String {
    let mut out = utterance.to_string();
    for [from, to] in replacements {
        if !from.is_empty() && out.contains(from.as_str()) {
            out = out.replace(from.as_str(), to);
        }
    }
    out
}

/// One typo: a swap of two neighbouring characters, a dropped character or a doubled
/// one, at a random position (on characters, so Chinese text stays valid UTF-8).
pub fn typo(utterance: &str, rng: &mut SimRng) -> String {
    let mut chars: Vec<char> = utterance.chars().collect();
    if chars.len() < 2 {
        return utterance.to_string();
    }
    let i = rng.gen_range(0..chars.len() - 1);
    match rng.gen_range(0..3) {
        0 => chars.swap(i, i + 1),
        1 => {
            chars.remove(i);
        }
        _ => chars.insert(i, chars[i]),
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::component_rng;

    /// Slots are filled, unknown slots are kept verbatim, and typos keep valid text.
    #[test]
    fn render_fills_slots_and_typos_keep_utf8() {
        let mut slots = BTreeMap::new();
        slots.insert("plan".to_string(), vec!["fibre 500".to_string()]);
        let mut rng = component_rng(1, "t");
        assert_eq!(
            render("switch to {plan} {x}", &slots, &mut rng),
            "switch to fibre 500 {x}"
        );
        let t = typo("我的网络断了", &mut rng);
        assert!(t.chars().count() >= 5 && t.chars().count() <= 7, "{t}");
        assert_eq!(
            rephrase("my internet", &[["internet".into(), "net".into()]]),
            "my net"
        );
    }
}
