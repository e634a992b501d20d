//! Compares the data-drift tests with scipy 1.17.1 / numpy 2.4.6 to 1e-9 relative.
//!
//! `fixtures/data_drift_scipy.json` is written by `fixtures/make_drift_fixtures.py`, which
//! evaluates scipy's `ks_2samp`, `wasserstein_distance`, `chisquare` and `jensenshannon`
//! and Evidently 0.7.23's formulas (reproduced there line by line) on seeded samples.

use ledgerloop_agents::drift::data_drift::{feature_drift, Column, DriftTest, FeatureDrift};
use ledgerloop_agents::drift::distances::{
    category_shares, jensenshannon, numeric_shares, population_std, wasserstein_distance,
};
use ledgerloop_agents::drift::ks::ks_2samp;
use serde::Deserialize;

/// Relative tolerance the brief sets for every comparison with scipy.
const REL_TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    scipy_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Case {
    Numeric(NumericCase),
    Categorical(CategoricalCase),
}

#[derive(Deserialize)]
struct NumericCase {
    name: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    ks_statistic: f64,
    ks_pvalue: f64,
    wasserstein: f64,
    wasserstein_norm: f64,
    psi: f64,
    jensenshannon: f64,
    n_unique: usize,
}

#[derive(Deserialize)]
struct CategoricalCase {
    name: String,
    reference: Vec<String>,
    current: Vec<String>,
    psi: f64,
    jensenshannon: f64,
    n_unique: usize,
    chisquare_pvalue: Option<f64>,
    z_pvalue: Option<f64>,
}

fn load() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/data_drift_scipy.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file is committed");
    serde_json::from_str(&text).expect("fixture is valid JSON")
}

/// Records a mismatch unless `got` is within [`REL_TOL`] of `want` (relative).
fn check(errors: &mut Vec<String>, case: &str, what: &str, got: f64, want: f64) {
    let ok = got == want || (got - want).abs() <= REL_TOL * want.abs();
    if !ok {
        errors.push(format!("{case}: {what} = {got:e}, scipy {want:e}"));
    }
}

fn numeric(errors: &mut Vec<String>, c: &NumericCase) -> FeatureDrift {
    let ks = ks_2samp(&c.reference, &c.current).expect("fixture samples are non-empty");
    check(
        errors,
        &c.name,
        "ks statistic",
        ks.statistic,
        c.ks_statistic,
    );
    check(errors, &c.name, "ks p-value", ks.pvalue, c.ks_pvalue);
    let wd = wasserstein_distance(&c.reference, &c.current);
    check(errors, &c.name, "wasserstein", wd, c.wasserstein);
    let norm = wd / population_std(&c.reference).max(0.001);
    check(
        errors,
        &c.name,
        "wasserstein normed",
        norm,
        c.wasserstein_norm,
    );
    let (r, cur) = numeric_shares(&c.reference, &c.current);
    check(
        errors,
        &c.name,
        "jensen-shannon",
        jensenshannon(&r, &cur),
        c.jensenshannon,
    );
    let v = feature_drift(Column::Numeric(&c.reference), Column::Numeric(&c.current))
        .expect("fixture samples are valid");
    check(errors, &c.name, "psi", v.psi, c.psi);
    let want = match v.test {
        DriftTest::Ks => c.ks_pvalue,
        DriftTest::Wasserstein => c.wasserstein_norm,
        DriftTest::Jensenshannon => c.jensenshannon,
        other => panic!(
            "{}: unexpected test {other:?} for the fixture's numeric cases",
            c.name
        ),
    };
    check(errors, &c.name, "chosen test score", v.score, want);
    assert_eq!(v.n_unique, c.n_unique, "{}", c.name);
    v
}

fn categorical(errors: &mut Vec<String>, c: &CategoricalCase) -> FeatureDrift {
    let (r, cur) = category_shares(&c.reference, &c.current);
    check(
        errors,
        &c.name,
        "jensen-shannon",
        jensenshannon(&r, &cur),
        c.jensenshannon,
    );
    let v = feature_drift(
        Column::Categorical(&c.reference),
        Column::Categorical(&c.current),
    )
    .expect("fixture samples are valid");
    check(errors, &c.name, "psi", v.psi, c.psi);
    let want = match v.test {
        DriftTest::Chisquare => c.chisquare_pvalue.expect("chi-square case has its p-value"),
        DriftTest::Z => c.z_pvalue.expect("binary case has its z p-value"),
        DriftTest::Jensenshannon => c.jensenshannon,
        other => panic!(
            "{}: unexpected test {other:?} for a categorical case",
            c.name
        ),
    };
    check(errors, &c.name, "chosen test score", v.score, want);
    assert_eq!(v.n_unique, c.n_unique, "{}", c.name);
    v
}

/// Every statistic, p-value and distance matches scipy to 1e-9 relative, and the chosen
/// tests cover all five of Evidently's defaults.
#[test]
fn data_drift_matches_scipy() {
    let fx = load();
    assert_eq!(fx.scipy_version, "1.17.1");
    let mut errors = Vec::new();
    let mut tests_seen = std::collections::BTreeSet::new();
    let mut drifted = 0;
    for case in &fx.cases {
        let v = match case {
            Case::Numeric(c) => numeric(&mut errors, c),
            Case::Categorical(c) => categorical(&mut errors, c),
        };
        tests_seen.insert(format!("{:?}", v.test));
        drifted += usize::from(v.drifted);
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert_eq!(tests_seen.len(), 5, "fixture covers only {tests_seen:?}");
    assert!(
        drifted > 0 && drifted < fx.cases.len(),
        "{drifted} of {} drifted",
        fx.cases.len()
    );
}
