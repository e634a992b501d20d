//! Upcasts: turn a stored payload of an old schema version into the current one.
//!
//! Each step takes version `n` to `n + 1` as plain JSON, so steps chain and never need
//! the old Rust types. The hash covers the stored bytes, never the upcast view.

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Upcasts `value`, stored as `event_type` at `version`, step by step to `current`.
pub fn to_current(event_type: &str, version: u16, current: u16, mut value: Value) -> Result<Value> {
    for from in version..current {
        value = step(event_type, from, value)?;
    }
    Ok(value)
}

fn step(event_type: &str, from: u16, value: Value) -> Result<Value> {
    let fail = |reason: &str| Error::PayloadDecode {
        event_type: event_type.to_string(),
        version: from,
        reason: reason.to_string(),
    };
    let Value::Object(object) = value else {
        return Err(fail("payload is not a JSON object"));
    };
    match (event_type, from) {
        ("ModelTrained", 1) => Ok(Value::Object(
            model_trained_v1_to_v2(object).map_err(|r| fail(&r))?,
        )),
        _ => Err(fail(&format!("no upcast from v{from}"))),
    }
}

/// v1 named the artifact digest `sha256` and had no family or parameter count; v1 models
/// were all tabular MLPs, and their parameter count was not recorded (0 = unknown).
fn model_trained_v1_to_v2(
    mut object: Map<String, Value>,
) -> std::result::Result<Map<String, Value>, String> {
    let digest = object
        .remove("sha256")
        .ok_or("v1 ModelTrained lacks 'sha256'")?;
    object.insert("artifact_sha256".into(), digest);
    object
        .entry("family")
        .or_insert_with(|| Value::from("tabular"));
    object
        .entry("parameter_count")
        .or_insert_with(|| Value::from(0u64));
    Ok(object)
}
