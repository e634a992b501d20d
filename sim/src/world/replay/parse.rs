//! Reading replay files into named fields: CSV with a header line (double-quoted fields,
//! `""` for a quote inside one; no line breaks inside fields) and JSON lines (one object
//! per line; strings, numbers and booleans are accepted as field values).

use chrono::{DateTime, Utc};

use crate::config::replay::ReplayFormat;

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
