//! Property tests of detector state: a snapshot taken mid-stream and restored continues
//! exactly as the original, and `reset` returns a detector to its freshly built state.

use ledgerloop_agents::drift::{
    Adwin, AdwinParams, AnyDetector, Ddm, DdmParams, DriftDetector, HddmA, HddmAParams, HddmW,
    HddmWParams, Kswin, KswinParams, PageHinkley, PageHinkleyMode, PageHinkleyParams,
};
use proptest::prelude::*;

/// Builds detector `kind` (0..6) with parameters derived from `knob` in [0, 1).
fn build(kind: u8, knob: f64, seed: u64) -> AnyDetector {
    let built = match kind {
        0 => Adwin::new(AdwinParams {
            delta: 0.001 + knob * 0.1,
            clock: 1 + (knob * 40.0) as u32,
            ..AdwinParams::default()
        })
        .map(AnyDetector::Adwin),
        1 => Ddm::new(DdmParams {
            warm_start: (knob * 60.0) as u32,
            ..DdmParams::default()
        })
        .map(AnyDetector::Ddm),
        2 => HddmA::new(HddmAParams {
            two_sided_test: knob > 0.5,
            ..HddmAParams::default()
        })
        .map(AnyDetector::HddmA),
        3 => HddmW::new(HddmWParams {
            lambda_val: 0.01 + knob * 0.5,
            two_sided_test: knob > 0.5,
            ..HddmWParams::default()
        })
        .map(AnyDetector::HddmW),
        4 => PageHinkley::new(PageHinkleyParams {
            threshold: 1.0 + knob * 20.0,
            mode: if knob < 0.3 {
                PageHinkleyMode::Up
            } else {
                PageHinkleyMode::Both
            },
            ..PageHinkleyParams::default()
        })
        .map(AnyDetector::PageHinkley),
        _ => Kswin::new(KswinParams {
            seed,
            window_size: 60,
            stat_size: 20,
            ..KswinParams::default()
        })
        .map(AnyDetector::Kswin),
    };
    built.expect("the generated parameters are valid")
}

/// A stream with a change in the middle; binary detectors get 0/1 values.
fn stream(kind: u8, raw: &[u16]) -> Vec<f64> {
    let half = raw.len() / 2;
    raw.iter()
        .enumerate()
        .map(|(i, &r)| {
            let shift = if i >= half { 0.35 } else { 0.0 };
            let unit = f64::from(r) / f64::from(u16::MAX);
            if (1..=3).contains(&kind) {
                f64::from(u8::from(unit < 0.15 + shift))
            } else {
                unit + shift * 3.0
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Serialising a detector to JSON mid-stream and restoring it changes nothing that follows.
    #[test]
    fn snapshot_restores_identical_continuation(
        kind in 0u8..6,
        knob in 0.0f64..1.0,
        seed in any::<u64>(),
        raw in proptest::collection::vec(any::<u16>(), 50..800),
        cut in 0.0f64..1.0,
    ) {
        let xs = stream(kind, &raw);
        let split = (cut * xs.len() as f64) as usize;
        let mut original = build(kind, knob, seed);
        for &x in &xs[..split] {
            original.update(x);
        }
        let json = serde_json::to_string(&original).expect("state serialises");
        let mut restored: AnyDetector = serde_json::from_str(&json).expect("state deserialises");
        prop_assert_eq!(&restored, &original);
        for (i, &x) in xs[split..].iter().enumerate() {
            prop_assert_eq!(restored.update(x), original.update(x), "diverged {} after the cut", i);
        }
        let evidence = original.evidence();
        prop_assert!(evidence.iter().all(|e| e.value.is_finite()), "{:?}", evidence);
        prop_assert_eq!(restored.evidence(), evidence);
    }

    /// After `reset`, a detector equals a freshly built one with the same parameters.
    #[test]
    fn reset_returns_to_fresh_state(
        kind in 0u8..6,
        knob in 0.0f64..1.0,
        seed in any::<u64>(),
        raw in proptest::collection::vec(any::<u16>(), 1..300),
    ) {
        let mut d = build(kind, knob, seed);
        for x in stream(kind, &raw) {
            d.update(x);
        }
        d.reset();
        prop_assert_eq!(d, build(kind, knob, seed));
    }
}
