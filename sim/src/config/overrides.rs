//! `--set key=value` overrides. The key is a dotted path into the TOML document
//! (`oracle.daily_budget`, `ont.device_models.0.share`); the value is read as a TOML
//! literal (`3`, `0.5`, `true`, `"text"`, `[1, 2]`) and, failing that, as a bare string.
//! An override may name a key the file does not have; typing then rejects it exactly like
//! an unknown key in the file.

use crate::error::{Error, Result};

/// Applies one `key=value` assignment to `table`.
pub fn apply(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let bad = |reason: &str| Error::BadOverride {
        assignment: assignment.to_string(),
        reason: reason.to_string(),
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| bad("expected key=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(bad("empty key segment"));
    }
    let value = parse_value(raw.trim());
    let segments: Vec<&str> = key.split('.').collect();
    let (last, parents) = segments.split_last().ok_or_else(|| bad("empty key"))?;
    let Some((first, rest)) = parents.split_first() else {
        table.insert((*last).to_string(), value);
        return Ok(());
    };
    let mut cursor: &mut toml::Value = table
        .entry((*first).to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    for seg in rest {
        cursor =
            step(cursor, seg).ok_or_else(|| bad(&format!("`{seg}` is not a table or index")))?;
    }
    match cursor {
        toml::Value::Table(t) => {
            t.insert((*last).to_string(), value);
            Ok(())
        }
        toml::Value::Array(items) => {
            let i: usize = last.parse().map_err(|_| bad("array index expected"))?;
            let slot = items
                .get_mut(i)
                .ok_or_else(|| bad("array index out of range"))?;
            *slot = value;
            Ok(())
        }
        _ => Err(bad("parent is not a table")),
    }
}

fn step<'v>(value: &'v mut toml::Value, seg: &str) -> Option<&'v mut toml::Value> {
    match value {
        toml::Value::Table(t) => Some(
            t.entry(seg.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        ),
        toml::Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    }
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested keys, array indices and literal typing all work.
    #[test]
    fn overrides_reach_nested_values() {
        let mut t: toml::Table =
            toml::from_str("[a]\nb = 1\n[[a.list]]\nx = 1\n[[a.list]]\nx = 2\n").unwrap();
        apply(&mut t, "a.b=5").unwrap();
        apply(&mut t, "a.list.1.x=0.5").unwrap();
        apply(&mut t, "a.name=hello").unwrap();
        apply(&mut t, "top=true").unwrap();
        assert_eq!(t["a"]["b"].as_integer(), Some(5));
        assert_eq!(t["a"]["list"][1]["x"].as_float(), Some(0.5));
        assert_eq!(t["a"]["name"].as_str(), Some("hello"));
        assert_eq!(t["top"].as_bool(), Some(true));
        assert!(apply(&mut t, "novalue").is_err());
    }
}
