//! Recommend world: new items, preference shift and seasonality against the baselines.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::rank::{Consumption, RankPolicy, RankStart, Ranker, SlateOutcome};
use ledgerloop_sim::policy::{Canary, PolicyNote, ServingRoute, StaticPolicy};
use ledgerloop_sim::run::{run_recommend_with, run_scenario};
use ledgerloop_sim::sink::NullSink;
use ledgerloop_sim::world::recommend::model::{PopAffinity, PopAffinityParams};
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

/// Refits a recommender every day on the clicks it was told about and serves it as a
/// canary to half of the users; records when outcomes arrive.
#[derive(Debug, Default)]
struct ClickRefit {
    route: Option<ServingRoute>,
    models: BTreeMap<String, Arc<dyn Ranker>>,
    clicks: Vec<Consumption>,
    params: Option<PopAffinityParams>,
    delays: Vec<u64>,
    user_version: BTreeMap<(u32, u64), String>,
    switched: bool,
}

impl RankPolicy for ClickRefit {
    fn name(&self) -> &str {
        "click-refit"
    }
    fn start(&mut self, start: &RankStart<'_>) -> ledgerloop_sim::Result<()> {
        self.models
            .insert(start.baseline_version.into(), start.baseline.clone());
        self.route = Some(ServingRoute::champion(start.baseline_version));
        self.params = Some(PopAffinityParams {
            users: start.users as usize,
            categories: 12,
            k: start.slate_size,
            affinity_weight: 1.0,
        });
        self.clicks.extend_from_slice(start.warmup);
        Ok(())
    }
    fn on_outcomes(
        &mut self,
        hour: u64,
        version: &str,
        outcomes: &[SlateOutcome],
    ) -> ledgerloop_sim::Result<()> {
        for o in outcomes {
            self.delays.push(hour - o.hour);
            // The route changes only at day ends here, so within a day a user keeps one
            // version (the warm-up is whole days, so hour / 24 is the day).
            let prev = self
                .user_version
                .insert((o.user, o.hour / 24), version.to_string());
            self.switched |= prev.is_some_and(|p| p != version);
            for (item, clicked) in o.items.iter().zip(&o.clicked) {
                if *clicked {
                    self.clicks.push(Consumption {
                        hour: o.hour,
                        user: o.user,
                        item: *item,
                    });
                }
            }
        }
        Ok(())
    }
    fn route(&self) -> &ServingRoute {
        self.route.as_ref().expect("started")
    }
    fn model(&self, version: &str) -> Option<Arc<dyn Ranker>> {
        self.models.get(version).cloned()
    }
    fn end_of_day(
        &mut self,
        day: u32,
        item_categories: &[u16],
    ) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        let params = self.params.expect("started");
        let version = format!("refit-d{day}");
        let model = PopAffinity::fit(&self.clicks, item_categories, params);
        self.models.insert(version.clone(), Arc::new(model));
        let route = self.route.as_mut().expect("started");
        route.canary = Some(Canary {
            version,
            fraction: 0.5,
        });
        Ok(vec![])
    }
}

/// A ranking policy serves a canary: outcomes reach it after `feedback.delay_hours`,
/// per version, users keep their version within a day, online CTR is reported for both
/// versions, and the served arm's figures are the canary mix, not the static model's.
#[test]
fn rank_policy_serves_a_canary_and_gets_its_outcomes() {
    let overrides: Vec<String> = [
        "scenario.days=4",
        "recommend.sessions_per_hour=30",
        "feedback.delay_hours=3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let scenario = Scenario::from_toml_str(
        RECOMMEND_TOML,
        Path::new("scenarios/recommend.toml"),
        &overrides,
    )
    .expect("scenario");
    let mut policy = ClickRefit::default();
    let out = run_recommend_with(&scenario, &mut policy, &mut NullSink).expect("run");
    assert!(!policy.delays.is_empty());
    assert!(policy.delays.iter().all(|d| *d == 3));
    assert!(!policy.switched);
    let day = &out.recommend_days[2];
    let names: Vec<&str> = day
        .served_versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"refit-d1"));
    let shown: u64 = day.served_versions.iter().map(|v| v.impressions).sum();
    assert_eq!(shown, day.sessions * u64::from(day.k));
    assert_ne!(day.served, day.static_arm);
    assert_eq!(
        day.route.canary.as_ref().map(|c| c.version.as_str()),
        Some("refit-d2")
    );
    let limit = Scenario::from_toml_str(
        RECOMMEND_TOML,
        Path::new("scenarios/recommend.toml"),
        &[
            "scenario.days=2".into(),
            "route.max_canary_fraction=0.1".into(),
        ],
    )
    .expect("scenario");
    let err = run_recommend_with(&limit, &mut ClickRefit::default(), &mut NullSink).unwrap_err();
    assert!(err.to_string().contains("max_canary_fraction"), "{err}");
}
