//! Policy files no run could use are refused before day 0, with a message naming what
//! is wrong.

#[path = "support/governed.rs"]
mod governed;

use std::path::Path;

use anyhow::{anyhow, Result};
use governed::*;
use ledgerloop_runtime::config::GovernedConfig;

/// The ONT policy file's text.
fn ont_text() -> Result<String> {
    Ok(std::fs::read_to_string(agents_path())?)
}

/// `text` with the line starting `key =` inside `[table]` replaced by `key = value`.
fn with_value(text: &str, table: &str, key: &str, value: &str) -> Result<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut done = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            current = t
                .split(']')
                .next()
                .unwrap_or_default()
                .trim_matches('[')
                .to_string();
        }
        if current == table && t.split('=').next().map(str::trim) == Some(key) && !done {
            out.push(format!("{key} = {value}"));
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    if !done {
        return Err(anyhow!("no `{key}` in [{table}]"));
    }
    Ok(out.join("\n"))
}

fn parse_err(text: &str) -> String {
    match GovernedConfig::parse(text, Path::new("agents/ont.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The shipped ONT policy file parses (so the refusals below are due to the edits), and so does every other shipped policy file.
#[test]
fn shipped_policy_parses() -> Result<()> {
    // Every policy file shipped beside the scenarios parses and validates too.
    let dir = agents_path()
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("no policy folder"))?;
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            GovernedConfig::load(&path)?;
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} policy files in {}",
        dir.display()
    );
    let config = GovernedConfig::parse(&ont_text()?, &agents_path())?;
    assert_eq!(config.perceiver.features.len(), 19);
    assert!(config.evaluator.significance_alpha > 0.0 && config.evaluator.significance_alpha < 1.0);
    Ok(())
}

/// Unknown keys, in a known table or as a whole table, are refused with their name.
#[test]
fn unknown_key_is_named() -> Result<()> {
    let text = ont_text()?.replace("max_epochs = 30", "max_epoch = 30");
    let err = parse_err(&text);
    assert!(err.contains("max_epoch"), "{err}");
    assert!(
        err.contains("agents/ont.toml"),
        "the file is not named: {err}"
    );

    let text = format!("{}\n[drift_judgee]\nwindow_hours = 24\n", ont_text()?);
    let err = parse_err(&text);
    assert!(err.contains("drift_judgee"), "{err}");

    let text = with_value(&ont_text()?, "evaluator", "significance_test", "\"fisher\"")?;
    let err = parse_err(&text);
    assert!(err.contains("fisher"), "{err}");
    Ok(())
}

/// Thresholds outside their range are refused, naming the field.
#[test]
fn impossible_threshold_is_named() -> Result<()> {
    for (table, key, value) in [
        ("evaluator", "significance_alpha", "2.0"),
        ("evaluator", "significance_alpha", "0.0"),
        ("releaser", "max_canary_fraction", "1.5"),
        ("host", "fine_tune_learning_rate", "-0.001"),
        ("host", "eval_floor_rows", "700"),
    ] {
        let text = with_value(&ont_text()?, table, key, value)?;
        let err = parse_err(&text);
        assert!(err.contains(key), "{table}.{key} = {value}: {err}");
    }
    Ok(())
}

/// Perceiver features out of the world's order stop the run before day 0, naming both lists.
#[test]
fn feature_list_mismatch_fails_before_day_zero() -> Result<()> {
    let mut config = small_config()?;
    // Swap two columns: the names are all right, the order is not.
    config.perceiver.features.swap(0, 1);
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    let err = match run_governed(out, &overrides_with(&["scenario.days=2"]), config) {
        Ok(_) => panic!("a run with swapped feature columns completed"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("perceiver.features"), "{err}");
    let policy_list = r#"["tx_power_dbm", "rx_power_dbm""#;
    let world_list = r#"["rx_power_dbm", "tx_power_dbm""#;
    assert!(err.contains(policy_list), "policy list not named: {err}");
    assert!(err.contains(world_list), "world list not named: {err}");

    assert!(!out.join("summary.json").exists(), "a summary was written");
    assert!(!inputs_dir(out).exists(), "inputs were stored");
    let log = log_dir(out);
    if log.exists() {
        let events = read_events(&log)?;
        let written: Vec<String> = events
            .iter()
            .map(|(r, _)| format!("{}/{}", r.stream.as_str(), r.event_type))
            .collect();
        // The simulator records the scenario and its static baseline before it starts
        // the policy; nothing else (no host, agent or hourly event) may follow.
        let allowed = ["world/ScenarioStarted", "world/BaselineTrained"];
        assert!(
            written.iter().all(|w| allowed.contains(&w.as_str())),
            "events written besides the scenario's start: {written:?}"
        );
    }
    Ok(())
}

/// A feature list naming a column the world does not have is refused the same way.
#[test]
fn unknown_feature_column_fails_before_day_zero() -> Result<()> {
    let mut config = small_config()?;
    config.perceiver.features[11].name = "firmware_version".to_string();
    let dir = tempfile::tempdir()?;
    let err = match run_governed(dir.path(), &overrides_with(&["scenario.days=2"]), config) {
        Ok(_) => panic!("a run with an unknown feature column completed"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("firmware_version"), "{err}");
    assert!(err.contains("firmware_generation"), "{err}");
    assert!(!dir.path().join("summary.json").exists());
    Ok(())
}

/// `ont-augment.toml`'s `[trainer.augment]` parses; unknown keys and impossible values are refused.
#[test]
fn augment_table_is_validated() -> Result<()> {
    let path = repo().join("scenarios/agents/ont-augment.toml");
    let text = std::fs::read_to_string(&path)?;
    let config = GovernedConfig::parse(&text, &path)?;
    let augment = config
        .trainer
        .augment
        .ok_or_else(|| anyhow!("ont-augment.toml has no [trainer.augment]"))?;
    assert_eq!(augment.method.name(), "smote");

    let err = parse_err(&text.replace("neighbours = 5", "neighbors = 5"));
    assert!(err.contains("neighbors"), "{err}");
    let err = parse_err(&with_value(
        &text,
        "trainer.augment",
        "method",
        "\"adasyn\"",
    )?);
    assert!(err.contains("adasyn"), "{err}");
    for (key, value) in [
        ("target_share", "0.0"),
        ("target_share", "0.9"),
        ("neighbours", "0"),
        ("jitter_std", "2.0"),
        ("max_synthetic_per_real", "50.0"),
    ] {
        let err = parse_err(&with_value(&text, "trainer.augment", key, value)?);
        assert!(err.contains(key), "trainer.augment.{key} = {value}: {err}");
    }
    Ok(())
}
