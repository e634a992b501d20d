//! Bad scenario input is rejected before the run, with the key and file named.

use std::path::Path;

use ledgerloop_sim::bench::ONT_SCENARIO_TOML;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::Error;

fn load(text: &str, overrides: &[&str]) -> Result<Scenario, Error> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::from_toml_str(text, Path::new("scenarios/test.toml"), &overrides)
}

/// The shipped ONT scenario parses and validates.
#[test]
fn shipped_scenario_is_valid() {
    load(ONT_SCENARIO_TOML, &[]).expect("valid");
}

/// An unknown key in the file is an error naming the key and the file.
#[test]
fn unknown_key_names_key_and_file() {
    let text = ONT_SCENARIO_TOML.replace("[oracle]\n", "[oracle]\nbudgte = 3\n");
    let err = load(&text, &[]).unwrap_err().to_string();
    assert!(err.contains("budgte"), "{err}");
    assert!(err.contains("scenarios/test.toml"), "{err}");
}

/// An unknown key given by `--set` is rejected the same way.
#[test]
fn unknown_override_key_is_rejected() {
    let err = load(
        ONT_SCENARIO_TOML,
        &["ont.drift.firmware_rollout.sharee=0.5"],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("sharee"), "{err}");
}

/// A negative budget and a fraction above 1 are rejected with the key named.
#[test]
fn impossible_values_are_rejected() {
    let err = load(ONT_SCENARIO_TOML, &["oracle.daily_budget=-5"]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { key, .. } if key == "oracle.daily_budget"),
        "{err}"
    );
    let err = load(ONT_SCENARIO_TOML, &["ont.drift.firmware_rollout.share=1.5"]).unwrap_err();
    assert!(
        err.to_string().contains("ont.drift.firmware_rollout.share"),
        "{err}"
    );
    let err = load(ONT_SCENARIO_TOML, &["oracle.noise_rate=2"]).unwrap_err();
    assert!(err.to_string().contains("[0, 1]"), "{err}");
}

/// Overrides change values; a malformed override is an error.
#[test]
fn overrides_apply_and_malformed_ones_fail() {
    let s = load(
        ONT_SCENARIO_TOML,
        &["scenario.days=12", "ont.device_models.1.share=0.9"],
    )
    .unwrap();
    assert_eq!(s.scenario.days, 12);
    assert_eq!(s.ont.unwrap().device_models[1].share, 0.9);
    assert!(matches!(
        load(ONT_SCENARIO_TOML, &["justakey"]),
        Err(Error::BadOverride { .. })
    ));
}

/// Every scenario shipped in `scenarios/` parses and validates.
#[test]
fn every_shipped_scenario_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for path in names {
        Scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// An impossible value written in the file is reported with its line; the same value
/// given by `--set` is attributed to `--set`.
#[test]
fn impossible_value_in_file_names_its_line() {
    let text = ONT_SCENARIO_TOML.replace("daily_budget = 2000", "daily_budget = -1");
    let line = text
        .lines()
        .position(|l| l.starts_with("daily_budget"))
        .unwrap()
        + 1;
    let err = load(&text, &[]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { line: Some(l), .. } if *l == line),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("line {line}")), "{err}");
    let share = ONT_SCENARIO_TOML.replacen("share = 0.3", "share = -0.3", 1);
    let line = share
        .lines()
        .position(|l| l.starts_with("share = -0.3"))
        .unwrap()
        + 1;
    let err = load(&share, &[]).unwrap_err();
    assert!(err.to_string().contains(&format!("line {line}")), "{err}");
    assert!(
        err.to_string().contains("ont.device_models.1.share"),
        "{err}"
    );
    let err = load(ONT_SCENARIO_TOML, &["oracle.daily_budget=-1"]).unwrap_err();
    assert!(err.to_string().starts_with("scenario file --set"), "{err}");
}

/// An unknown key in the file is reported with its line number.
#[test]
fn unknown_key_names_its_line() {
    let text = ONT_SCENARIO_TOML.replace("[oracle]\n", "[oracle]\nbudgte = 3\n");
    let line = text.lines().position(|l| l.starts_with("budgte")).unwrap() + 1;
    let err = load(&text, &[]).unwrap_err().to_string();
    assert!(err.contains(&format!("line {line}")), "{err}");
}
