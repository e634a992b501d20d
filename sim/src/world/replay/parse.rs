//! Reading replay files into named fields: CSV with a header line (double-quoted fields,
//! `""` for a quote inside one; no line breaks inside fields) and JSON lines (one object
//! per line; strings, numbers and booleans are accepted as field values). Every replay
//! kind reads its files through [`read_file`], so line numbering, the field-count check,
//! `max_rows` and quarantining are the same for all of them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::replay::ReplayFormat;
use crate::error::{Error, Result as SimResult};
use crate::world::QuarantinedRow;

/// Field values of one line, in the order of the file's column names.
pub type Fields = Vec<String>;

/// Splits one CSV line into fields.
pub fn csv_fields(line: &str) -> Result<Fields, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                if chars.peek().is_some_and(|n| *n != ',') {
                    return Err("text after a closing quote".into());
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            (_, c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

/// Values of `columns` in one JSON-lines object; a missing column is an error.
pub fn json_fields(line: &str, columns: &[String]) -> Result<Fields, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    columns
        .iter()
        .map(|c| match object.get(c) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
            Some(_) => Err(format!("field `{c}` is not a string, number or boolean")),
            None => Err(format!("missing field `{c}`")),
        })
        .collect()
}

/// Column names of a file: the CSV header, or the keys of the first JSON object in
/// file order.
pub fn columns(format: ReplayFormat, first_line: &str) -> Result<Vec<String>, String> {
    match format {
        ReplayFormat::Csv => Ok(csv_fields(first_line)?
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect()),
        ReplayFormat::Jsonl => {
            // serde_json's map keeps keys sorted, which is still a stable column order.
            let value: serde_json::Value =
                serde_json::from_str(first_line).map_err(|e| format!("bad JSON: {e}"))?;
            let object = value.as_object().ok_or("not a JSON object")?;
            Ok(object.keys().cloned().collect())
        }
    }
}

/// A time: RFC 3339, or whole seconds since 1970-01-01 UTC.
pub fn time(value: &str) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("time `{v}` out of range"));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("time `{v}` is neither RFC 3339 nor seconds since 1970"))
}

/// A parsed row with where it came from.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Index of its file in the scenario's `files`.
    pub file: usize,
    /// 1-based line number.
    pub line: u64,
    /// What the kind's parser made of it.
    pub row: T,
}

/// One file to read.
pub struct FileSpec<'a> {
    /// Path (already resolved against the scenario's folder).
    pub path: &'a Path,
    /// Index of the file in the scenario's `files`.
    pub index: usize,
    /// CSV or JSON lines.
    pub format: ReplayFormat,
    /// Most rows loaded over all files; `out` already holds the earlier files' rows.
    pub max_rows: usize,
}

/// An error about a replay file, naming it.
pub fn file_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Replay {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads one file. The column names (CSV header, or the first JSON object's keys) go to
/// `layout`, whose error (a missing column) is an error naming the file. Every data line
/// is split into fields, checked for the field count and handed to `row` with its line
/// number; a line `row` rejects, or one beyond `max_rows`, is quarantined with its reason.
/// Returns the layout.
pub fn read_file<L, T>(
    spec: &FileSpec<'_>,
    layout: impl FnOnce(&[String]) -> Result<L, String>,
    mut row: impl FnMut(&L, &[String], u64) -> Result<(DateTime<Utc>, T), String>,
    out: &mut Vec<Sourced<T>>,
    quarantined: &mut Vec<QuarantinedRow>,
) -> SimResult<L> {
    let path = spec.path;
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e.to_string()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines
        .next()
        .ok_or_else(|| file_error(path, "file is empty"))?;
    let names = columns(spec.format, first).map_err(|e| file_error(path, e))?;
    let layout = layout(&names).map_err(|e| file_error(path, e))?;
    let data_lines: Box<dyn Iterator<Item = (usize, &str)>> = match spec.format {
        // The CSV header is not a row; the first JSON object is.
        ReplayFormat::Csv => Box::new(lines),
        ReplayFormat::Jsonl => Box::new(
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty()),
        ),
    };
    for (n, line) in data_lines {
        let line_no = n as u64 + 1;
        let parsed = if out.len() >= spec.max_rows {
            Err(format!("beyond replay.max_rows = {}", spec.max_rows))
        } else {
            fields(spec.format, line, &names).and_then(|f| row(&layout, &f, line_no))
        };
        match parsed {
            Ok((time, value)) => out.push(Sourced {
                time,
                file: spec.index,
                line: line_no,
                row: value,
            }),
            Err(reason) => quarantined.push(QuarantinedRow {
                file: path.display().to_string(),
                line: line_no,
                reason,
            }),
        }
    }
    Ok(layout)
}

/// The fields of one data line, checked against the column count.
fn fields(format: ReplayFormat, line: &str, names: &[String]) -> Result<Fields, String> {
    let fields = match format {
        ReplayFormat::Csv => csv_fields(line)?,
        ReplayFormat::Jsonl => json_fields(line, names)?,
    };
    if fields.len() != names.len() {
        return Err(format!("{} fields, expected {}", fields.len(), names.len()));
    }
    Ok(fields)
}

/// The reason a row at `time` is outside the run window `[start, end)`, if it is.
pub fn outside_window(
    time: DateTime<Utc>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Option<String> {
    (time < start || time >= end)
        .then(|| format!("time {time} outside the run window [{start}, {end})"))
}

/// Orders quarantined rows by file (as listed in the scenario), then line, whichever
/// check caught them.
pub fn sort_quarantined(quarantined: &mut [QuarantinedRow], paths: &[PathBuf]) {
    quarantined.sort_by_key(|q| {
        (
            paths.iter().position(|p| p.display().to_string() == q.file),
            q.line,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quoted fields with commas and doubled quotes parse; broken quoting is an error.
    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields("a,\"b,c\",\"say \"\"hi\"\"\"").unwrap(),
            ["a", "b,c", "say \"hi\""]
        );
        assert_eq!(csv_fields("1,,3").unwrap(), ["1", "", "3"]);
        assert!(csv_fields("a,\"b").is_err());
        assert!(csv_fields("a,\"b\"x").is_err());
    }

    /// Times parse from RFC 3339 and from epoch seconds.
    #[test]
    fn times() {
        assert_eq!(time("0").unwrap().timestamp(), 0);
        assert_eq!(
            time("2026-01-01T01:00:00Z").unwrap().timestamp(),
            1_767_229_200
        );
        assert!(time("yesterday").is_err());
    }
}
