//! The one training loop. What a step computes is a [`TrainStep`]; the
//! [`Trainer`] owns epochs and steps, zero-grad, the non-finite-loss check,
//! backward, clipping, optimizer and schedule steps, progress, history,
//! evaluation, early stopping and checkpoint hooks.

use super::early_stopping::EarlyStopping;
use super::history::{EpochRecord, HistoryWriter};
use super::progress::{Plan, Progress, Silent};
use super::step::{EpochStats, TrainStep};
use super::supervised::SupervisedStep;
use crate::autograd::{Graph, Param};
use crate::data::Supervised;
use crate::loss::Loss;
use crate::nn::Module;
use crate::optim::{clip_grad_norm, Optimizer, Schedule};
use crate::{Error, Result};
use std::time::Instant;

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Epochs at most: passes over the training set, or, with
    /// `steps_per_epoch`, rounds of that many steps each followed by an evaluation.
    pub epochs: usize,
    /// Examples per optimizer step ([`Trainer::fit`]).
    pub batch_size: usize,
    /// Seed of the batch order ([`Trainer::fit`]).
    pub seed: u64,
    /// The loss to minimise ([`Trainer::fit`]).
    pub loss: Loss,
    /// Learning rate per step, relative to each optimizer's base rate.
    pub schedule: Schedule,
    /// Clip the global gradient norm to this, if set.
    pub clip_norm: Option<f32>,
    /// Count the run in steps: this many steps make an "epoch" (the steps
    /// between two evaluations), whatever the step's own epoch length.
    pub steps_per_epoch: Option<usize>,
    /// Stop after this many optimizer steps in all (the last epoch may be shorter).
    pub max_steps: Option<usize>,
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
            steps_per_epoch: None,
            max_steps: None,
        }
    }
}

/// A callback run after each epoch.
type EpochHook<'a> = Box<dyn FnMut(&EpochRecord) -> Result<()> + 'a>;

/// Runs training: [`Trainer::fit`] for a model on a supervised data set,
/// [`Trainer::run`] for any [`TrainStep`]. Silent unless given a [`Progress`].
///
/// ```
/// use backprop::{data::Dataset, nn::{Activation, Mlp, MlpConfig, Module}, optim::Adam, tensor::Rng, Tensor};
/// use backprop::train::{TrainConfig, Trainer};
/// // XOR-like toy data: label = x0 > 0.5 xor x1 > 0.5
/// let xs = vec![0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9];
/// let data = Dataset::new(Tensor::from_vec(xs, &[4, 2]), vec![0, 1, 1, 0], 2).unwrap();
/// let mlp = Mlp::new(MlpConfig::classifier(2, &[16], 2, Activation::Tanh), &mut Rng::new(0));
/// let opt = Adam::new(mlp.parameters(), 0.05);
/// let config = TrainConfig { epochs: 200, batch_size: 4, ..Default::default() };
/// let history = Trainer::new(Box::new(opt), config).fit(&mlp, &data, None).unwrap();
/// assert_eq!(history.last().unwrap().train_accuracy, Some(1.0));
/// ```
pub struct Trainer<'a> {
    optimizers: Vec<Box<dyn Optimizer + 'a>>,
    config: TrainConfig,
    progress: Box<dyn Progress + 'a>,
    history: Option<HistoryWriter>,
    on_epoch: Option<EpochHook<'a>>,
    early_stopping: Option<EarlyStopping>,
    on_improvement: Option<EpochHook<'a>>,
}

impl<'a> Trainer<'a> {
    /// A trainer whose steps are applied by `optimizer`.
    pub fn new(optimizer: Box<dyn Optimizer + 'a>, config: TrainConfig) -> Self {
        Trainer {
            optimizers: vec![optimizer],
            config,
            progress: Box::new(Silent),
            history: None,
            on_epoch: None,
            early_stopping: None,
            on_improvement: None,
        }
    }

    /// Adds the optimizer of the next phase, for a [`TrainStep`] with several
    /// (a GAN's generator after its discriminator). While one phase runs, the
    /// parameters of the other optimizers are frozen.
    pub fn and_optimizer(mut self, optimizer: Box<dyn Optimizer + 'a>) -> Self {
        self.optimizers.push(optimizer);
        self
    }

    /// Reports progress to `progress` (a bar, lines, JSON: the caller's choice).
    pub fn progress(mut self, progress: impl Progress + 'a) -> Self {
        self.progress = Box::new(progress);
        self
    }

    /// Also writes each epoch's record to a JSONL history file.
    pub fn with_history(mut self, writer: HistoryWriter) -> Self {
        self.history = Some(writer);
        self
    }

    /// Calls `f` after every epoch (to save a checkpoint, say); an error stops training.
    pub fn on_epoch(mut self, f: impl FnMut(&EpochRecord) -> Result<()> + 'a) -> Self {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// Stops once the validation loss has not improved for `patience` epochs,
    /// and at the end (stopped early or not) puts back the weights of the
    /// epoch with the lowest validation loss. Training then needs a validation set.
    ///
    /// ```
    /// use backprop::{data::Dataset, nn::{Activation, Mlp, MlpConfig, Module}, optim::Adam, tensor::Rng, Tensor};
    /// use backprop::train::{TrainConfig, Trainer};
    /// let x = || Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4, 1]);
    /// let train = Dataset::new(x(), vec![0, 0, 1, 1], 2).unwrap();
    /// let noisy = Dataset::new(x(), vec![0, 1, 1, 0], 2).unwrap(); // the more confident, the worse
    /// let mlp = Mlp::new(MlpConfig::classifier(1, &[4], 2, Activation::Tanh), &mut Rng::new(0));
    /// let opt = Adam::new(mlp.parameters(), 0.5);
    /// let config = TrainConfig { epochs: 500, batch_size: 4, ..Default::default() };
    /// let mut best = Vec::new();
    /// let history = Trainer::new(Box::new(opt), config)
    ///     .early_stopping(3)
    ///     .on_improvement(|r| {
    ///         best.push(r.epoch);
    ///         Ok(())
    ///     })
    ///     .fit(&mlp, &train, Some(&noisy))
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
    pub fn on_improvement(mut self, f: impl FnMut(&EpochRecord) -> Result<()> + 'a) -> Self {
        self.on_improvement = Some(Box::new(f));
        self
    }

    /// Trains `model` on `train` with the configured loss, batch size and
    /// seed, evaluating on `validation` after every epoch.
    ///
    /// # Errors
    /// [`Error::Diverged`] when the loss turns NaN or infinite; an empty
    /// training set; early stopping without validation data; a failing hook.
    pub fn fit<M: Module + ?Sized, D: Supervised + ?Sized>(
        &mut self,
        model: &M,
        train: &D,
        validation: Option<&D>,
    ) -> Result<Vec<EpochRecord>> {
        let c = &self.config;
        let mut step = SupervisedStep::new(model, train, validation, c.loss, c.batch_size, c.seed)?;
        self.run(&mut step)
    }

    /// Runs the epochs of any [`TrainStep`] and returns their records.
    ///
    /// # Errors
    /// As [`Trainer::fit`]; also when the step's phases and the optimizers differ in number.
    pub fn run(&mut self, step: &mut dyn TrainStep) -> Result<Vec<EpochRecord>> {
        let phases = step.phases();
        if phases != self.optimizers.len() {
            return Err(Error::invalid(
                "optimizers",
                format!("the step has {phases} phases but the trainer {} optimizers", self.optimizers.len()),
            ));
        }
        if let Some(stopping) = &mut self.early_stopping {
            if !step.has_validation() {
                return Err(Error::invalid("early stopping", "it needs a validation set, and there is none"));
            }
            stopping.reset();
        }
        let cfg = self.config.clone();
        let plan =
            Plan { epochs: cfg.epochs, max_steps: cfg.max_steps, counted_in_steps: cfg.steps_per_epoch.is_some() };
        let base_lr: Vec<f32> = self.optimizers.iter().map(|o| o.lr()).collect();
        let frozen: Vec<Vec<Param>> = (0..phases).map(|p| self.params_except(p)).collect();
        let mut records = Vec::with_capacity(cfg.epochs);
        let mut done = 0usize;
        self.progress.start(&plan);
        for epoch in 1..=cfg.epochs {
            let left = cfg.max_steps.map_or(usize::MAX, |m| m.saturating_sub(done));
            if left == 0 || step.finished() {
                break;
            }
            let started = Instant::now();
            let natural = step.start_epoch(epoch)?;
            let steps = cfg.steps_per_epoch.or(natural).ok_or_else(|| {
                Error::invalid(
                    "steps_per_epoch",
                    "the step has no epoch of its own, so the trainer needs steps_per_epoch",
                )
            })?;
            let steps = steps.min(left);
            self.progress.epoch_started(epoch, steps);
            let mut sums = vec![0.0f64; phases];
            let mut ran = 0;
            for s in 0..steps {
                if step.finished() {
                    break;
                }
                ran += 1;
                for (phase, sum) in sums.iter_mut().enumerate() {
                    let opt = &mut self.optimizers[phase];
                    opt.set_lr(cfg.schedule.lr_at(done, base_lr[phase]));
                    opt.zero_grad();
                    let g = Graph::new().freeze(&frozen[phase]);
                    let loss = step.loss(&g, phase)?;
                    let value = loss.item();
                    if !value.is_finite() {
                        let name =
                            if phases > 1 { format!("the {} loss", step.phase_name(phase)) } else { "the loss".into() };
                        let at = if plan.counted_in_steps {
                            format!("step {}", done + 1)
                        } else {
                            format!("epoch {epoch}, batch {}", s + 1)
                        };
                        let why = super::explain_non_finite_loss(loss, opt.lr(), done == 0);
                        return Err(Error::Diverged(format!("{name} became {value} at {at}: {why}")));
                    }
                    g.backward(loss);
                    drop(g);
                    if let Some(max) = cfg.clip_norm {
                        clip_grad_norm(opt.params(), max);
                    }
                    opt.step();
                    *sum += value as f64;
                }
                done += 1;
                self.progress.step_done(s + 1, (sums[0] / (s + 1) as f64) as f32);
            }
            let steps = ran;
            let stats = EpochStats { steps, elapsed: started.elapsed() };
            let mut record = EpochRecord {
                epoch,
                step: plan.counted_in_steps.then_some(done),
                train_loss: (sums[0] / steps.max(1) as f64) as f32,
                lr: self.optimizers[0].lr(),
                ..Default::default()
            };
            if phases > 1 {
                for (phase, sum) in sums.iter().enumerate() {
                    let mean = (sum / steps.max(1) as f64) as f32;
                    record.metrics.insert(format!("{}_loss", step.phase_name(phase)), mean);
                }
            }
            step.end_epoch(&mut record, &stats);
            step.evaluate(&mut record)?;
            record.seconds = started.elapsed().as_secs_f32();
            self.progress.epoch_done(&record);
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
            stopping.restore(&all_params(&self.optimizers));
        }
        Ok(records)
    }

    /// The parameters of every optimizer but the one of `phase`: frozen while it runs.
    fn params_except(&self, phase: usize) -> Vec<Param> {
        let own = self.optimizers[phase].params();
        let others = self.optimizers.iter().enumerate().filter(|(i, _)| *i != phase);
        others
            .flat_map(|(_, o)| o.params().iter().map(|(_, p)| p))
            .filter(|p| !own.iter().any(|(_, q)| q.same_as(p)))
            .cloned()
            .collect()
    }

    /// Early stopping's bookkeeping after an epoch; true when training should stop.
    fn watch_improvement(&mut self, record: &EpochRecord) -> Result<bool> {
        let Some(stopping) = &mut self.early_stopping else { return Ok(false) };
        let val_loss = record.val_loss.unwrap_or(f32::NAN);
        if stopping.update(record.epoch, val_loss, &all_params(&self.optimizers)) {
            if let Some(f) = &mut self.on_improvement {
                f(record)?;
            }
        }
        Ok(stopping.should_stop())
    }
}

/// Every optimizer's parameters.
fn all_params(optimizers: &[Box<dyn Optimizer + '_>]) -> Vec<(String, Param)> {
    optimizers.iter().flat_map(|o| o.params().iter().cloned()).collect()
}
