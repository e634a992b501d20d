//! A label batch with 30% flipped labels, trained by the real worker (candle) and judged
//! by the real Evaluator on clean time-held-out labels: the candidate is rejected and
//! the failing gate is named. The same job on the clean batch is the control.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use ledgerloop_agents::decider::Decider;
use ledgerloop_agents::evaluator::{Evaluator, EvaluatorState};
use ledgerloop_agents::trainer::{DatasetComposition, RowRange, Strategy, TrainingJob};
use ledgerloop_events::catalogue::VerdictIssued;
use ledgerloop_events::Event;
use ledgerloop_models::fixtures::blobs;
use ledgerloop_models::TabularDataset;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::data::{FeatureTransform, RowStore, ServedModel};
use ledgerloop_runtime::workers::{self, TrainingData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PROBLEM: u64 = 41;
const FEATURES: usize = 8;

fn rows(data: &TabularDataset, slices: u16) -> RowStore {
    let mut store = RowStore::new(data.n_features);
    for i in 0..data.len() {
        store.push(data.row(i), data.labels[i], (i as u16) % slices);
    }
    store
}

/// `store` with `share` of its labels replaced by another class (seeded).
fn flip(store: &RowStore, share: f64, seed: u64) -> RowStore {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = store.clone();
    for label in &mut out.labels {
        if rng.gen::<f64>() < share {
            *label = 1 - *label;
        }
    }
    out
}

/// Fine-tunes `champion` on `fresh` (the whole label store) and judges the candidate.
fn judge(
    champion: &ServedModel,
    warmup: &RowStore,
    fresh: &RowStore,
    heldout: &RowStore,
    config: &GovernedConfig,
    transform: &Arc<FeatureTransform>,
) -> Result<(VerdictIssued, f64)> {
    let composition = DatasetComposition {
        fresh_labels: RowRange {
            from: 0,
            to: fresh.len() as u64,
        },
        ..DatasetComposition::default()
    };
    let job = TrainingJob {
        job_id: "train-1".into(),
        parent_model_id: Some(champion.model_id.clone()),
        strategy: Strategy::FineTune,
        lora_rank: 0,
        dataset_hash: composition.hash(),
        composition,
        seed: 5,
        federated: None,
        augment: None,
        augment_text: None,
    };
    let pseudo = RowStore::new(FEATURES);
    let data = TrainingData {
        warmup,
        labels: fresh,
        pseudo: &pseudo,
        n_classes: 2,
        transform,
    };
    let (candidate, _) = workers::train(&job, &data, Some(champion), &config.host)?;
    let slices = ["a".to_string(), "b".to_string()];
    let report = workers::evaluate(
        &candidate,
        champion,
        heldout,
        warmup,
        &slices,
        &Default::default(),
    )?;
    let accuracy = report.heldout.candidate_accuracy;
    let evaluator = Evaluator::new(config.evaluator.clone())?;
    let events = evaluator.decide(&EvaluatorState::default(), &report)?;
    match events.as_slice() {
        [Event::VerdictIssued(v)] => Ok((v.clone(), accuracy)),
        other => Err(anyhow!("expected one verdict, got {other:?}")),
    }
}

/// A candidate fine-tuned on a batch with 30% flipped labels is rejected, naming the failing gate; on the clean batch it is not.
#[test]
fn flipped_label_batch_yields_a_rejected_candidate() -> Result<()> {
    let config =
        GovernedConfig::load(&ledgerloop_runtime_root().join("scenarios/agents/ont.toml"))?;
    let transform = Arc::new(FeatureTransform::from_flags(vec![false; FEATURES]));
    // Overlapping classes (separation 1.0), so label noise costs accuracy.
    let warmup = rows(&blobs(PROBLEM, 3000, FEATURES, 2, 1.0, 1), 2);
    let fresh = rows(&blobs(PROBLEM, 3000, FEATURES, 2, 1.0, 2), 2);
    let heldout = rows(&blobs(PROBLEM, 2000, FEATURES, 2, 1.0, 3), 2);
    let champion = workers::train_initial(&warmup, 2, &transform, &config.host, 9)?;

    let (clean, clean_acc) = judge(&champion, &warmup, &fresh, &heldout, &config, &transform)?;
    let noisy_fresh = flip(&fresh, 0.3, 11);
    let flipped = (0..fresh.len())
        .filter(|i| fresh.labels[*i] != noisy_fresh.labels[*i])
        .count();
    assert!((800..1000).contains(&flipped), "{flipped} of 3000 flipped");
    let (noisy, noisy_acc) = judge(
        &champion,
        &warmup,
        &noisy_fresh,
        &heldout,
        &config,
        &transform,
    )?;

    assert_eq!(clean.verdict, "blessed", "control: {:?}", clean.evidence.0);
    assert_eq!(noisy.verdict, "rejected", "{:?}", noisy.evidence.0);
    assert!(!noisy.failed_gates.is_empty());
    for gate in &noisy.failed_gates {
        let passed = noisy.evidence.get(&format!("gate.{gate}.passed"));
        assert_eq!(passed, Some(0.0), "gate {gate} named but not failed");
    }
    assert!(
        noisy_acc < clean_acc,
        "flipped labels did not cost accuracy: {noisy_acc} vs {clean_acc}"
    );
    Ok(())
}

fn ledgerloop_runtime_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}
