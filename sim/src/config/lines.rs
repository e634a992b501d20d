//! Finds the line of a dotted key in scenario text, so a rejected value can be reported
//! with its line. Understands `[table]` and `[[array]]` headers (array entries are
//! counted, so `ont.device_models.1.share` is the `share` under the second
//! `[[ont.device_models]]`), plain `key = value` lines and keys of inline tables.
//! Anything fancier (dotted keys on the left, multi-line arrays of tables) yields `None`.

/// 1-based line of `dotted` in `text`, if found: first as `key = ...` under its table,
/// then as `key = ...` inside a one-line inline table one level up.
pub fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let segments: Vec<&str> = dotted.split('.').collect();
    let (last, parents) = segments.split_last()?;
    find(text, parents, |line| defines(line, last)).or_else(|| {
        let (inline, grand) = parents.split_last()?;
        let needle = format!("{last} =");
        find(text, grand, |line| {
            defines(line, inline) && line.contains(&needle)
        })
    })
}

/// Line of the first line satisfying `hit` inside the table named by `path` (which may
/// hold one array index right after an array-of-tables name).
fn find(text: &str, path: &[&str], hit: impl Fn(&str) -> bool) -> Option<usize> {
    let mut names: Vec<&str> = Vec::new();
    let mut index: Option<usize> = None;
    for seg in path {
        match seg.parse::<usize>() {
            Ok(i) if index.is_none() => index = Some(i),
            _ => names.push(seg),
        }
    }
    let wanted = names.join(".");
    let mut entries = 0usize;
    let mut inside = wanted.is_empty();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let same = name.trim() == wanted;
            inside = same && index == Some(entries);
            entries += usize::from(same);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            inside = name.trim() == wanted && index.is_none();
        } else if inside && hit(line) {
            return Some(n + 1);
        }
    }
    None
}

/// True when `line` assigns `key`.
fn defines(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain keys, array-of-table entries and inline-table keys are found on their lines.
    #[test]
    fn finds_plain_array_and_inline_keys() {
        let text = "[a]\nx = 1\n[[a.m]]\nshare = 1\n[[a.m]]\nshare = 2\nmix = { p = 1, q = 2 }\n";
        assert_eq!(line_of(text, "a.x"), Some(2));
        assert_eq!(line_of(text, "a.m.0.share"), Some(4));
        assert_eq!(line_of(text, "a.m.1.share"), Some(6));
        assert_eq!(line_of(text, "a.m.1.mix.q"), Some(7));
        assert_eq!(line_of(text, "a.y"), None);
    }
}
