//! End-of-epoch rules of the tabular trainer: keep the best weights, early stopping,
//! reduce-LR-on-plateau and batch growth. Each change is written into the report as an
//! [`crate::report::Adjustment`] with its reason.

use candle_nn::{AdamW, Optimizer};

use super::{TrainConfig, TrainNet};
use crate::dense::DenseLayer;
use crate::report::TrainReport;
use crate::Result;

/// Early stopping, plateau and batch-growth bookkeeping.
pub(crate) struct LoopState<'a> {
    opts: &'a TrainConfig,
    pub(crate) batch_size: usize,
    best_loss: f64,
    pub(crate) best_epoch: usize,
    pub(crate) best_layers: Vec<DenseLayer>,
    since_best: usize,
    since_lr_change: usize,
}

impl<'a> LoopState<'a> {
    pub(crate) fn new(opts: &'a TrainConfig, initial: Vec<DenseLayer>) -> Self {
        Self {
            opts,
            batch_size: opts.batch_size,
            best_loss: f64::INFINITY,
            best_epoch: 0,
            best_layers: initial,
            since_best: 0,
            since_lr_change: 0,
        }
    }

    /// Applies the end-of-epoch rules; returns true when training should stop.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn end_epoch(
        &mut self,
        epoch: usize,
        monitored: f64,
        cv: f64,
        net: &TrainNet,
        opt: &mut AdamW,
        report: &mut TrainReport,
        has_valid: bool,
    ) -> Result<bool> {
        let what = if has_valid { "validation" } else { "training" };
        let improved = !self.best_loss.is_finite()
            || monitored < self.best_loss - 1e-6 * self.best_loss.abs().max(1e-12);
        if improved {
            self.best_loss = monitored;
            self.best_epoch = epoch;
            self.best_layers = net.export()?;
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        self.since_lr_change += 1;
        if let Some(r) = &self.opts.reduce_lr {
            let lr = opt.learning_rate();
            let next = (lr * r.factor).max(r.min_learning_rate);
            if self.since_best >= r.patience_epochs
                && self.since_lr_change >= r.patience_epochs
                && next < lr
            {
                opt.set_learning_rate(next);
                self.since_lr_change = 0;
                let why = format!(
                    "{what} loss has not improved on {:.5} for {} epochs",
                    self.best_loss, self.since_best
                );
                report.adjust(epoch, "learning_rate", lr, next, why);
            }
        }
        if let Some(g) = &self.opts.batch_growth {
            let next = (self.batch_size * g.factor.max(2)).min(g.max_batch_size);
            if cv > g.noise_cv && next > self.batch_size {
                let why = format!("batch-loss CV {cv:.3} above {:.3}", g.noise_cv);
                report.adjust(
                    epoch,
                    "batch_size",
                    self.batch_size as f64,
                    next as f64,
                    why,
                );
                self.batch_size = next;
            }
        }
        let patience = self.opts.early_stopping_patience;
        if has_valid && patience > 0 && self.since_best >= patience {
            report.stopped_early = true;
            let why = format!(
                "validation loss has not improved for {patience} epochs; keeping epoch {}",
                self.best_epoch
            );
            let planned = self.opts.max_epochs as f64;
            report.adjust(epoch, "epochs", planned, epoch as f64, why);
            return Ok(true);
        }
        Ok(false)
    }
}
