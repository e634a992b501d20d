//! Federated averaging for the tabular MLP. Every client starts each round from the same
//! global weights, trains locally (optionally with the FedProx term `mu/2 ||w - w_global||^2`),
//! and the server averages the weights weighted by client example counts. Raw rows never
//! leave a client: the standardiser is combined from per-client means and variances.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{Standardizer, TabularDataset};
use crate::dense::DenseLayer;
use crate::report::{EpochRecord, TrainReport};
use crate::tabular::{check_dataset_matches, init_layers, train_loop, FineTuneMode, MlpConfig};
use crate::tabular::{Objective, Provenance, TabularModel, TrainConfig, TrainNet};
use crate::{metrics, Error, Result};

/// FedAvg settings; `local.max_epochs` is the number of local epochs per round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FedAvgConfig {
    pub rounds: usize,
    pub local: TrainConfig,
    /// FedProx proximal weight (0 = plain FedAvg).
    pub prox_mu: f64,
}

impl Default for FedAvgConfig {
    fn default() -> Self {
        Self {
            rounds: 10,
            local: TrainConfig {
                max_epochs: 2,
                valid_fraction: 0.0,
                early_stopping_patience: 0,
                reduce_lr: None,
                ..TrainConfig::default()
            },
            prox_mu: 0.0,
        }
    }
}

/// Example-count-weighted mean of client layers.
pub fn average_layers(clients: &[(Vec<DenseLayer>, usize)]) -> Result<Vec<DenseLayer>> {
    let Some((first, _)) = clients.first() else {
        return Err(Error::EmptyDataset {
            what: "federated clients",
        });
    };
    let total: usize = clients.iter().map(|c| c.1).sum();
    if total == 0 {
        return Err(Error::EmptyDataset {
            what: "federated clients (all example counts are 0)",
        });
    }
    let mut out: Vec<DenseLayer> = first
        .iter()
        .map(|l| DenseLayer {
            weight: vec![0.0; l.weight.len()],
            bias: vec![0.0; l.bias.len()],
            ..l.clone()
        })
        .collect();
    for (layers, n) in clients {
        let shape = |ls: &[DenseLayer]| -> Vec<(usize, usize, usize, usize)> {
            ls.iter()
                .map(|l| (l.in_features, l.out_features, l.weight.len(), l.bias.len()))
                .collect()
        };
        if shape(layers) != shape(&out) {
            return Err(Error::ShapeMismatch {
                what: "client layers".into(),
                expected: format!("{:?}", shape(&out)),
                got: format!("{:?}", shape(layers)),
            });
        }
        let w = *n as f32 / total as f32;
        for (acc, l) in out.iter_mut().zip(layers) {
            acc.weight
                .iter_mut()
                .zip(&l.weight)
                .for_each(|(a, v)| *a += w * v);
            acc.bias
                .iter_mut()
                .zip(&l.bias)
                .for_each(|(a, v)| *a += w * v);
        }
    }
    Ok(out)
}

/// Global standardiser from per-client statistics (count-weighted mean and variance).
fn combined_standardizer(clients: &[TabularDataset]) -> Standardizer {
    let nf = clients[0].n_features;
    let total: f64 = clients.iter().map(|c| c.len() as f64).sum();
    let (mut mean, mut second) = (vec![0f64; nf], vec![0f64; nf]);
    for c in clients {
        let s = Standardizer::fit(c);
        let w = c.len() as f64 / total;
        for j in 0..nf {
            let (m, sd) = (f64::from(s.mean[j]), f64::from(s.std[j]));
            mean[j] += w * m;
            second[j] += w * (sd * sd + m * m);
        }
    }
    let std = (0..nf)
        .map(|j| {
            let sd = (second[j] - mean[j] * mean[j]).max(0.0).sqrt();
            if sd < 1e-6 {
                1.0
            } else {
                sd as f32
            }
        })
        .collect();
    Standardizer {
        mean: mean.iter().map(|m| *m as f32).collect(),
        std,
    }
}

/// Runs `rounds` of FedAvg/FedProx over `clients`; the result is a normal tabular model
/// whose report has one record per round (validation on `valid` if given).
pub fn fedavg(
    cfg: &MlpConfig,
    clients: &[TabularDataset],
    valid: Option<&TabularDataset>,
    fcfg: &FedAvgConfig,
) -> Result<(TabularModel, TrainReport)> {
    if clients.is_empty() || fcfg.rounds == 0 {
        return Err(Error::EmptyDataset {
            what: "federated clients or rounds",
        });
    }
    cfg.validate()?;
    crate::tabular::check_options(&fcfg.local)?;
    if !(fcfg.prox_mu.is_finite() && fcfg.prox_mu >= 0.0) {
        return Err(Error::InvalidConfig {
            field: "prox_mu",
            reason: format!("must be finite and >= 0, got {}", fcfg.prox_mu),
        });
    }
    for c in clients.iter().chain(valid) {
        check_dataset_matches(cfg, c)?;
    }
    let start = Instant::now();
    let st = combined_standardizer(clients);
    let mut global = init_layers(cfg, fcfg.local.seed);
    let mode = if fcfg.prox_mu > 0.0 {
        "fedprox"
    } else {
        "fedavg"
    };
    let mut report = TrainReport::new(FAMILY, mode, fcfg.local.seed, serde_json::to_value(fcfg)?);
    report.n_train = clients.iter().map(TabularDataset::len).sum();
    report.n_valid = valid.map_or(0, TabularDataset::len);
    let local = TrainConfig {
        prox_mu: fcfg.prox_mu,
        valid_fraction: 0.0,
        ..fcfg.local.clone()
    };
    for round in 1..=fcfg.rounds {
        let (next, loss) = run_round(&global, &st, clients, &local, round)?;
        global = next;
        let (valid_loss, valid_accuracy) = evaluate_global(cfg, &st, &global, valid)?;
        report.epochs.push(EpochRecord {
            epoch: round,
            train_loss: loss,
            valid_loss,
            valid_accuracy,
            learning_rate: local.learning_rate,
            batch_size: local.batch_size,
            batch_loss_cv: 0.0,
        });
    }
    report.best_epoch = fcfg.rounds;
    let secs = start.elapsed().as_secs_f64();
    report.wall_time_ms = secs * 1e3;
    report.train_samples_per_s =
        (report.n_train * fcfg.rounds * local.max_epochs) as f64 / secs.max(1e-9);
    let provenance = Provenance {
        seed: fcfg.local.seed,
        dataset_hash: clients_hash(clients),
        parent_model_id: None,
        report: Some(report.clone()),
    };
    Ok((global_model(cfg, &st, &global, provenance)?, report))
}

/// One round: every client trains from `global`, then the server averages the final client
/// weights by example count. Returns the new global layers and the count-weighted mean of
/// the clients' last-epoch training losses.
fn run_round(
    global: &[DenseLayer],
    st: &Standardizer,
    clients: &[TabularDataset],
    local: &TrainConfig,
    round: usize,
) -> Result<(Vec<DenseLayer>, f64)> {
    let n_total: usize = clients.iter().map(TabularDataset::len).sum();
    let mut results = Vec::with_capacity(clients.len());
    let mut loss = 0f64;
    for (k, data) in clients.iter().enumerate() {
        let net = TrainNet::new(global, &FineTuneMode::Full)?;
        let opts = TrainConfig {
            seed: local.seed ^ ((round as u64) << 20) ^ k as u64,
            ..local.clone()
        };
        let mut client_report =
            TrainReport::new(FAMILY, "fed_client", opts.seed, serde_json::Value::Null);
        let objective = Objective::default();
        train_loop(&net, st, data, None, &opts, &objective, &mut client_report)?;
        // Clients send their final weights, not their best-loss snapshot: FedAvg averages
        // where local training ended.
        results.push((net.export()?, data.len()));
        let last = client_report.epochs.last().map_or(0.0, |e| e.train_loss);
        loss += last * data.len() as f64 / n_total.max(1) as f64;
    }
    Ok((average_layers(&results)?, loss))
}

/// Validation log loss and accuracy of the global weights (both `None` without `valid`).
fn evaluate_global(
    cfg: &MlpConfig,
    st: &Standardizer,
    global: &[DenseLayer],
    valid: Option<&TabularDataset>,
) -> Result<(Option<f64>, Option<f64>)> {
    let Some(v) = valid else {
        return Ok((None, None));
    };
    let m = global_model(cfg, st, global, Provenance::default())?;
    let cm = metrics::classification(&m.predict_proba(&v.features)?, &v.labels, v.n_classes)?;
    Ok((Some(cm.log_loss), Some(cm.accuracy)))
}

/// Federated models are tabular MLPs; their reports say so.
const FAMILY: &str = "tabular";

fn global_model(
    cfg: &MlpConfig,
    st: &Standardizer,
    layers: &[DenseLayer],
    provenance: Provenance,
) -> Result<TabularModel> {
    TabularModel::from_parts(cfg.clone(), st.clone(), layers.to_vec(), provenance)
}

/// Dataset id of a federation: SHA-256 over the clients' content hashes in order.
fn clients_hash(clients: &[TabularDataset]) -> String {
    let mut hash_input = Vec::new();
    for c in clients {
        hash_input.extend_from_slice(c.content_hash().as_bytes());
    }
    crate::data::sha256_hex(&hash_input)
}

/// How far a federated model lands from centralised training on the same rows: what a
/// caller reports for IID versus non-IID shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FedComparison {
    pub n_clients: usize,
    /// Example-weighted mean total-variation distance between each client's label
    /// distribution and the pooled one: 0 for IID labels, up to `1 - 1/K` when each of `K`
    /// equally large clients holds one class only.
    pub label_skew: f64,
    pub federated_accuracy: f64,
    pub centralised_accuracy: f64,
    /// `(federated - centralised) * 100`; negative when federation costs accuracy.
    pub gap_points: f64,
    pub federated_report: TrainReport,
    pub centralised_report: TrainReport,
}

/// Example-weighted mean total-variation distance of client label distributions from the
/// pooled distribution (0 for no clients or no rows).
pub fn label_skew(clients: &[TabularDataset]) -> f64 {
    let Some(first) = clients.first() else {
        return 0.0;
    };
    let nc = first.n_classes;
    let mut pooled = vec![0f64; nc];
    let mut total = 0f64;
    for c in clients {
        for (p, n) in pooled.iter_mut().zip(c.class_counts()) {
            *p += n as f64;
        }
        total += c.len() as f64;
    }
    if total == 0.0 {
        return 0.0;
    }
    pooled.iter_mut().for_each(|p| *p /= total);
    clients
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            let n = c.len() as f64;
            let tv: f64 = c
                .class_counts()
                .iter()
                .zip(&pooled)
                .map(|(&k, p)| (k as f64 / n - p).abs())
                .sum::<f64>()
                / 2.0;
            tv * n / total
        })
        .sum()
}

/// Trains FedAvg/FedProx over `clients` and, for reference, one model on all their rows
/// pooled (`central` options), and scores both on `test`. Returns the federated model and
/// the comparison.
pub fn compare_with_centralised(
    cfg: &MlpConfig,
    clients: &[TabularDataset],
    test: &TabularDataset,
    fcfg: &FedAvgConfig,
    central: &TrainConfig,
) -> Result<(TabularModel, FedComparison)> {
    let (fed, federated_report) = fedavg(cfg, clients, None, fcfg)?;
    let (first, rest) = clients.split_first().ok_or(Error::EmptyDataset {
        what: "federated clients",
    })?;
    let mut pooled = first.clone();
    for c in rest {
        pooled = pooled.concat(c)?;
    }
    let (centralised, centralised_report) = TabularModel::fit(cfg, &pooled, None, central)?;
    check_dataset_matches(cfg, test)?;
    let acc = |m: &TabularModel| -> Result<f64> {
        let p = m.predict_proba(&test.features)?;
        Ok(metrics::accuracy(&p, &test.labels, test.n_classes))
    };
    let (federated_accuracy, centralised_accuracy) = (acc(&fed)?, acc(&centralised)?);
    let comparison = FedComparison {
        n_clients: clients.len(),
        label_skew: label_skew(clients),
        federated_accuracy,
        centralised_accuracy,
        gap_points: (federated_accuracy - centralised_accuracy) * 100.0,
        federated_report,
        centralised_report,
    };
    Ok((fed, comparison))
}
