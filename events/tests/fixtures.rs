//! Frozen payload fixtures: every catalogue type has a fixture of its current schema
//! version, and every fixture of every version ever written keeps decoding.
//!
//! Run with `LEDGERLOOP_WRITE_FIXTURES=1` to write fixtures for new types (from each
//! payload's `Default`, with every field filled in); existing files are never rewritten.

use std::path::PathBuf;

use ledgerloop_events::catalogue::ModelTrained;
use ledgerloop_events::{Event, EVENT_TYPES};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Fills every default value so that a fixture exercises every field.
fn fill(value: Value, key: &str, map_value: &Value) -> Value {
    match value {
        Value::String(_) => Value::String(format!("sample-{key}")),
        Value::Number(n) if n.is_f64() => serde_json::json!(0.625),
        Value::Number(_) => serde_json::json!(7),
        Value::Bool(_) => Value::Bool(true),
        Value::Null => Value::String(format!("sample-{key}")),
        Value::Array(_) => serde_json::json!([format!("sample-{key}")]),
        Value::Object(map) if map.is_empty() => serde_json::json!({ "sample": map_value }),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = fill(v, &k, map_value);
                    (k, v)
                })
                .collect(),
        ),
    }
}

/// Every type has a fixture of its current version, and each fixture decodes (upcasting
/// older versions) and, at the current version, re-encodes to the same JSON value.
#[test]
fn every_fixture_decodes() -> anyhow::Result<()> {
    let write = std::env::var("LEDGERLOOP_WRITE_FIXTURES").is_ok();
    let dir = fixtures_dir();
    for info in EVENT_TYPES {
        let path = dir.join(format!("{}.v{}.json", info.name, info.schema_version));
        if !path.exists() && write {
            let event = Event::default_for(info.name).expect("catalogue type");
            let seed: Value = serde_json::from_slice(&event.to_payload_json()?)?;
            // Maps get a float sample where the type holds floats, an integer otherwise.
            let filled = [
                serde_json::json!(0.5),
                serde_json::json!(3),
                serde_json::json!({ "sample": 0.5 }),
            ]
            .iter()
            .map(|sample| fill(seed.clone(), info.name, sample))
            .find(|v| {
                Event::decode(info.name, info.schema_version, v.to_string().as_bytes()).is_ok()
            })
            .expect("a filling that decodes");
            // Store the type's own encoding of the filled value, so it re-encodes exactly.
            let event = Event::decode(
                info.name,
                info.schema_version,
                filled.to_string().as_bytes(),
            )?;
            let canonical: Value = serde_json::from_slice(&event.to_payload_json()?)?;
            std::fs::write(&path, serde_json::to_string_pretty(&canonical)? + "\n")?;
        }
        anyhow::ensure!(
            path.exists(),
            "missing fixture {} (run with LEDGERLOOP_WRITE_FIXTURES=1)",
            path.display()
        );
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let Some((event_type, version)) =
            name.strip_suffix(".json").and_then(|n| n.split_once(".v"))
        else {
            continue;
        };
        let version: u16 = version.parse()?;
        let bytes = std::fs::read(&path)?;
        let event = Event::decode(event_type, version, &bytes)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let current = Event::type_info(event_type).expect("known").schema_version;
        if version == current {
            let stored: Value = serde_json::from_slice(&bytes)?;
            let again: Value = serde_json::from_slice(&event.to_payload_json()?)?;
            assert_eq!(
                stored, again,
                "{name} re-encodes differently: a field changed without a version bump"
            );
        }
        checked += 1;
    }
    assert!(checked >= EVENT_TYPES.len());
    Ok(())
}

/// `ModelTrained` v1 (field `sha256`) upcasts to v2 (`artifact_sha256`, family, count).
#[test]
fn model_trained_v1_upcasts_to_v2() -> anyhow::Result<()> {
    let bytes = std::fs::read(fixtures_dir().join("ModelTrained.v1.json"))?;
    let Event::ModelTrained(m) = Event::decode("ModelTrained", 1, &bytes)? else {
        anyhow::bail!("wrong type")
    };
    let v1: Value = serde_json::from_slice(&bytes)?;
    assert_eq!(Some(m.artifact_sha256.as_str()), v1["sha256"].as_str());
    assert_eq!(m.family, "tabular");
    assert_eq!(
        m,
        ModelTrained {
            parameter_count: 0,
            ..m.clone()
        }
    );
    Ok(())
}
