//! The Trainer: epochs of seeded mini-batches, an optimizer step per batch,
//! evaluation after each epoch.

use super::early_stopping::EarlyStopping;
use super::history::{EpochRecord, HistoryWriter};
use super::metrics::{evaluate, MetricSum};
use super::progress::{OutputMode, Reporter};
use crate::autograd::Graph;
use crate::data::{batch_indices, Supervised};
use crate::loss::Loss;
use crate::nn::Module;
use crate::optim::{clip_grad_norm, Optimizer, Schedule};
use crate::tensor::Rng;
use crate::{Error, Result};
use std::time::Instant;

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Seed of the batch order.
    pub seed: u64,
    /// The loss to minimise.
    pub loss: Loss,
    /// Learning rate per step, relative to the optimizer's base rate.
    pub schedule: Schedule,
    /// Clip the global gradient norm to this, if set.
    pub clip_norm: Option<f32>,
    /// How to report progress.
    pub output: OutputMode,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            loss: Loss::CrossEntropy,
            schedule: Schedule::Constant,
            clip_norm: None,
            output: OutputMode::Auto,
        }
    }
}

/// A callback run after each epoch.
type EpochHook<'m> = Box<dyn FnMut(&EpochRecord) -> Result<()> + 'm>;

/// Trains a classifier: `fit` runs the epochs and returns their records.
///
/// ```
/// use backprop::{data::Dataset, nn::{Activation, Mlp, MlpConfig}, optim::Adam, tensor::Rng, Tensor};
/// use backprop::train::{OutputMode, TrainConfig, Trainer};
/// // XOR-like toy data: label = x0 > 0.5 xor x1 > 0.5
/// let xs = vec![0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9];
/// let data = Dataset::new(Tensor::from_vec(xs, &[4, 2]), vec![0, 1, 1, 0], 2).unwrap();
/// let mlp = Mlp::new(MlpConfig::classifier(2, &[16], 2, Activation::Tanh), &mut Rng::new(0));
/// let opt = Adam::new(backprop::nn::Module::parameters(&mlp), 0.05);
/// let config = TrainConfig { epochs: 200, batch_size: 4, output: OutputMode::Quiet, ..Default::default() };
/// let history = Trainer::new(&mlp, Box::new(opt), config).fit(&data, None).unwrap();
/// assert_eq!(history.last().unwrap().train_accuracy, Some(1.0));
/// ```
pub struct Trainer<'m, M: Module + ?Sized> {
    model: &'m M,
    optimizer: Box<dyn Optimizer + 'm>,
    config: TrainConfig,
    history: Option<HistoryWriter>,
    on_epoch: Option<EpochHook<'m>>,
    early_stopping: Option<EarlyStopping>,
    on_improvement: Option<EpochHook<'m>>,
}

impl<'m, M: Module + ?Sized> Trainer<'m, M> {
    /// A trainer for `model` updated by `optimizer`.
    pub fn new(model: &'m M, optimizer: Box<dyn Optimizer + 'm>, config: TrainConfig) -> Self {
        Trainer { model, optimizer, config, history: None, on_epoch: None, early_stopping: None, on_improvement: None }
    }

    /// Also writes each epoch's record to a JSONL history file.
    pub fn with_history(mut self, writer: HistoryWriter) -> Self {
        self.history = Some(writer);
        self
    }

    /// Calls `f` after every epoch (to save a checkpoint, say); an error stops training.
    pub fn on_epoch(mut self, f: impl FnMut(&EpochRecord) -> Result<()> + 'm) -> Self {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// Stops `fit` once the validation loss has not improved for `patience` epochs,
    /// and at the end of `fit` (stopped early or not) puts back the weights of the
    /// epoch with the lowest validation loss. `fit` then needs a validation set.
    ///
    /// ```
    /// use backprop::{data::Dataset, nn::{Activation, Mlp, MlpConfig, Module}, optim::Adam, tensor::Rng, Tensor};
    /// use backprop::train::{OutputMode, TrainConfig, Trainer};
    /// let x = || Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4, 1]);
    /// let train = Dataset::new(x(), vec![0, 0, 1, 1], 2).unwrap();
    /// let noisy = Dataset::new(x(), vec![0, 1, 1, 0], 2).unwrap(); // the more confident, the worse
    /// let mlp = Mlp::new(MlpConfig::classifier(1, &[4], 2, Activation::Tanh), &mut Rng::new(0));
    /// let opt = Adam::new(mlp.parameters(), 0.5);
    /// let config = TrainConfig { epochs: 500, batch_size: 4, output: OutputMode::Quiet, ..Default::default() };
    /// let mut best = Vec::new();
    /// let history = Trainer::new(&mlp, Box::new(opt), config)
    ///     .early_stopping(3)
    ///     .on_improvement(|r| {
    ///         best.push(r.epoch);
    ///         Ok(())
    ///     })
    ///     .fit(&train, Some(&noisy))
    ///     .unwrap();
    /// assert!(history.len() < 500); // stopped early
    /// assert_eq!(history.len(), best.last().unwrap() + 3); // 3 epochs after the best one
    /// ```
    pub fn early_stopping(mut self, patience: usize) -> Self {
        self.early_stopping = Some(EarlyStopping::new(patience));
        self
    }

    /// With [`early_stopping`](Trainer::early_stopping), calls `f` after every epoch that
    /// lowers the best validation loss so far (to save the best checkpoint, say).
    pub fn on_improvement(mut self, f: impl FnMut(&EpochRecord) -> Result<()> + 'm) -> Self {
        self.on_improvement = Some(Box::new(f));
        self
    }

    /// Runs the epochs. Stops with [`Error::Diverged`] when the loss turns NaN or infinite.
    pub fn fit<D: Supervised + ?Sized>(&mut self, train: &D, validation: Option<&D>) -> Result<Vec<EpochRecord>> {
        if train.is_empty() {
            return Err(Error::invalid("training data", "the training set is empty"));
        }
        if let Some(stopping) = &mut self.early_stopping {
            if !validation.is_some_and(|v| !v.is_empty()) {
                return Err(Error::invalid("early stopping", "it needs a validation set, and there is none"));
            }
            stopping.reset();
        }
        let cfg = self.config.clone();
        let base_lr = self.optimizer.lr();
        let mut rng = Rng::new(cfg.seed);
        let mut reporter = Reporter::new(cfg.output, cfg.epochs);
        let mut records = Vec::with_capacity(cfg.epochs);
        let mut step = 0usize;
        for epoch in 1..=cfg.epochs {
            let started = Instant::now();
            let batches = batch_indices(train.len(), cfg.batch_size, Some(&mut rng));
            reporter.start_epoch(epoch, batches.len());
            let mut sums = MetricSum::default();
            let mut loss_sum = 0.0f64;
            for (b, ids) in batches.iter().enumerate() {
                self.optimizer.set_lr(cfg.schedule.lr_at(step, base_lr));
                let (x, targets) = train.batch(ids);
                self.optimizer.zero_grad();
                let g = Graph::new();
                let out = self.model.forward(&g, g.constant(x));
                let loss = cfg.loss.compute(out, &targets);
                let value = loss.item();
                if !value.is_finite() {
                    return Err(Error::Diverged(format!(
                        "the loss became {value} at epoch {epoch}, batch {}: training diverged; try a lower learning rate (now {:e})",
                        b + 1,
                        self.optimizer.lr()
                    )));
                }
                g.backward(loss);
                sums.add(cfg.loss, &out.value(), &targets, value, train.target_scale());
                drop(g);
                if let Some(max) = cfg.clip_norm {
                    clip_grad_norm(self.optimizer.params(), max);
                }
                self.optimizer.step();
                step += 1;
                loss_sum += value as f64 * ids.len() as f64;
                reporter.batch_done(b + 1, (loss_sum / ((b + 1) * cfg.batch_size) as f64) as f32);
            }
            let val = validation.filter(|v| !v.is_empty()).map(|v| evaluate(self.model, v, cfg.loss, 512));
            let fit = sums.finish();
            let error_name = fit.error.map(|_| if cfg.loss == Loss::L1 { "mae" } else { "rmse" }.to_string());
            let record = EpochRecord {
                epoch,
                train_loss: fit.loss,
                val_loss: val.map(|e| e.loss),
                train_accuracy: fit.accuracy,
                val_accuracy: val.and_then(|e| e.accuracy),
                error_name,
                train_error: fit.error,
                val_error: val.and_then(|e| e.error),
                lr: self.optimizer.lr(),
                seconds: started.elapsed().as_secs_f32(),
            };
            reporter.end_epoch(&record);
            if let Some(h) = &mut self.history {
                h.append(&record)?;
            }
            if let Some(f) = &mut self.on_epoch {
                f(&record)?;
            }
            let stop = self.watch_improvement(&record)?;
            records.push(record);
            if stop {
                break;
            }
        }
        if let Some(stopping) = &self.early_stopping {
            stopping.restore(&self.model.parameters());
        }
        Ok(records)
    }

    /// Early stopping's bookkeeping after an epoch; true when training should stop.
    fn watch_improvement(&mut self, record: &EpochRecord) -> Result<bool> {
        let Some(stopping) = &mut self.early_stopping else { return Ok(false) };
        let val_loss = record.val_loss.unwrap_or(f32::NAN);
        if stopping.update(record.epoch, val_loss, &self.model.parameters()) {
            if let Some(f) = &mut self.on_improvement {
                f(record)?;
            }
        }
        Ok(stopping.should_stop())
    }
}
