//! Federated averaging against centralised training, on IID and non-IID shards.

use ledgerloop_models::federated::{compare_with_centralised, fedavg, label_skew, FedAvgConfig};
use ledgerloop_models::fixtures::{blob_centres, blobs_from_centres};
use ledgerloop_models::{Error, MlpConfig, Model, TabularDataset, TabularModel, TrainConfig};

fn problem(n: usize, seed: u64) -> TabularDataset {
    blobs_from_centres(&blob_centres(12, 3, 0.5, 31), 3, n, 0.0, seed)
}

/// Centralised training with the same number of passes over the data as [`fed_config`]
/// (10 rounds x 2 local epochs), so the comparison is at equal budget.
fn central_opts(seed: u64) -> TrainConfig {
    TrainConfig {
        seed,
        max_epochs: 20,
        valid_fraction: 0.0,
        ..Default::default()
    }
}

fn fed_config(seed: u64) -> FedAvgConfig {
    let mut f = FedAvgConfig {
        rounds: 10,
        ..Default::default()
    };
    f.local.seed = seed;
    f
}

/// Four IID shards: every 4th row.
fn iid_shards(train: &TabularDataset) -> Vec<TabularDataset> {
    (0..4)
        .map(|k| train.subset(&(k..train.len()).step_by(4).collect::<Vec<_>>()))
        .collect()
}

/// Four non-IID shards: rows sorted by label, cut in quarters (each client sees 1-2 classes).
fn label_sorted_shards(train: &TabularDataset) -> Vec<TabularDataset> {
    let mut sorted: Vec<usize> = (0..train.len()).collect();
    sorted.sort_by_key(|&i| (train.labels[i], i));
    sorted
        .chunks(train.len() / 4)
        .take(4)
        .map(|c| train.subset(c))
        .collect()
}

/// FedAvg over 4 IID shards lands within 1 point of centralised training for each of three
/// seeds; over label-sorted shards the comparison reports a larger gap together with the
/// label skew that caused it; the aggregate loads as a normal artifact.
#[test]
fn fedavg_iid_matches_centralised_and_non_iid_gap_is_reported() -> Result<(), Error> {
    let (train, test) = (problem(6000, 1), problem(3000, 2));
    let cfg = MlpConfig::student(12, 3);
    let iid_shards = iid_shards(&train);
    let mut iid_gaps = Vec::new();
    let mut fed = None;
    for seed in 1..=3 {
        let (m, iid) = compare_with_centralised(
            &cfg,
            &iid_shards,
            &test,
            &fed_config(seed),
            &central_opts(seed),
        )?;
        eprintln!(
            "IID seed {seed}: central {:.4} fedavg {:.4} gap {:+.2} pts, label skew {:.3}",
            iid.centralised_accuracy, iid.federated_accuracy, iid.gap_points, iid.label_skew
        );
        assert!(iid.label_skew < 0.05);
        assert_eq!(iid.federated_report.epochs.len(), 10);
        iid_gaps.push(iid.gap_points);
        fed = Some(m);
    }
    let (_, non_iid) = compare_with_centralised(
        &cfg,
        &label_sorted_shards(&train),
        &test,
        &fed_config(1),
        &central_opts(1),
    )?;
    eprintln!(
        "non-IID: central {:.4} fedavg {:.4} gap {:+.2} pts, label skew {:.3}",
        non_iid.centralised_accuracy,
        non_iid.federated_accuracy,
        non_iid.gap_points,
        non_iid.label_skew
    );
    assert!(
        iid_gaps.iter().all(|g| g.abs() <= 1.0),
        "IID gaps {iid_gaps:?}"
    );
    assert!(non_iid.label_skew > 0.4);
    let mean_iid = iid_gaps.iter().sum::<f64>() / iid_gaps.len() as f64;
    assert!(
        non_iid.gap_points < mean_iid,
        "non-IID {} vs IID {mean_iid}",
        non_iid.gap_points
    );
    // The aggregate is a normal artifact.
    let fed = fed.ok_or(Error::EmptyDataset {
        what: "federated model",
    })?;
    let back = TabularModel::from_artifact(&fed.to_artifact()?)?;
    assert_eq!(
        back.predict_proba(test.row(0))?,
        fed.predict_proba(test.row(0))?
    );
    Ok(())
}

/// FedProx's proximal term changes the non-IID result and is named in the report.
#[test]
fn fedprox_changes_the_result() -> Result<(), Error> {
    let train = problem(3000, 3);
    let shards = label_sorted_shards(&train);
    let cfg = MlpConfig::student(12, 3);
    let fcfg = FedAvgConfig {
        rounds: 3,
        ..fed_config(1)
    };
    let (plain, plain_report) = fedavg(&cfg, &shards, None, &fcfg)?;
    let prox = FedAvgConfig {
        prox_mu: 0.1,
        ..fcfg
    };
    let (proximal, prox_report) = fedavg(&cfg, &shards, None, &prox)?;
    assert_eq!(
        (plain_report.mode.as_str(), prox_report.mode.as_str()),
        ("fedavg", "fedprox")
    );
    assert_ne!(proximal.layers(), plain.layers());
    Ok(())
}

/// Label skew is 0 for identical label mixes and 0.5 for two clients with disjoint classes.
#[test]
fn label_skew_bounds() {
    let mk = |labels: Vec<u32>| TabularDataset {
        n_features: 1,
        n_classes: 2,
        features: vec![0.0; labels.len()],
        labels,
    };
    assert_eq!(label_skew(&[mk(vec![0, 1]), mk(vec![1, 0])]), 0.0);
    assert!((label_skew(&[mk(vec![0, 0]), mk(vec![1, 1])]) - 0.5).abs() < 1e-12);
    assert_eq!(label_skew(&[]), 0.0);
}

/// No clients, zero rounds or a zero batch size are typed errors, not panics.
#[test]
fn bad_federation_is_typed_error() {
    let cfg = MlpConfig::student(12, 3);
    let shard = problem(50, 4);
    assert!(matches!(
        fedavg(&cfg, &[], None, &fed_config(1)),
        Err(Error::EmptyDataset { .. })
    ));
    let zero_batch = FedAvgConfig {
        local: TrainConfig {
            batch_size: 0,
            ..fed_config(1).local
        },
        ..fed_config(1)
    };
    assert!(matches!(
        fedavg(&cfg, &[shard], None, &zero_batch),
        Err(Error::InvalidConfig { .. })
    ));
}
