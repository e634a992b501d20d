//! Recommend world: new items, preference shift and seasonality against the baselines.

use std::path::Path;

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_scenario;
use ledgerloop_sim::world::recommend::RecommendDay;

const RECOMMEND_TOML: &str = include_str!("../../scenarios/recommend.toml");

fn run(overrides: &[&str]) -> Vec<RecommendDay> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::from_toml_str(
        RECOMMEND_TOML,
        Path::new("scenarios/recommend.toml"),
        &overrides,
    )
    .expect("scenario");
    run_scenario(&scenario, &mut StaticPolicy::default())
        .expect("run")
        .recommend_days
}

fn mean(days: &[RecommendDay], f: impl Fn(&RecommendDay) -> f64) -> f64 {
    days.iter().map(f).sum::<f64>() / days.len() as f64
}

/// No item launches before the launch day and launched items are consumed after it; the
/// static recommender's HR@10 decays while the daily-refitted oracle stays ahead of it;
/// online CTR is reported for the serving version. Checked on two seeds.
#[test]
fn static_recommender_decays_and_oracle_stays_ahead() {
    for seed in [7u64, 13] {
        let seed_set = format!("scenario.seed={seed}");
        let days = run(&[
            &seed_set,
            "scenario.days=40",
            "recommend.sessions_per_hour=40",
        ]);
        assert!(days[..10].iter().all(|d| d.new_item_share == 0.0));
        assert!(days[15..].iter().all(|d| d.new_item_share > 0.0));
        assert!(days[39].live_items > days[0].live_items);
        let first = mean(&days[..7], |d| d.static_arm.hit_rate);
        let last = mean(&days[33..], |d| d.static_arm.hit_rate);
        let oracle_last = mean(&days[33..], |d| d.oracle.hit_rate);
        eprintln!("seed {seed}: static hr@10 {first:.3} -> {last:.3}, oracle {oracle_last:.3}");
        assert!(last < first * 0.8, "seed {seed}: static {first} -> {last}");
        assert!(
            oracle_last > last * 1.3,
            "seed {seed}: oracle {oracle_last} vs static {last}"
        );
        for d in &days {
            let v = &d.served_versions[0];
            assert_eq!(v.impressions, d.sessions * u64::from(d.k));
            assert!(v.ctr > 0.0 && v.ctr < 0.5, "ctr {}", v.ctr);
            assert!(d.static_arm.ndcg <= d.static_arm.hit_rate);
        }
    }
}
