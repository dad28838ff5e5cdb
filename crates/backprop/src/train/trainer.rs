//! The one training loop. What a step computes is a [`TrainStep`]; the
//! [`Trainer`] owns epochs and steps, zero-grad, the non-finite-loss check,
//! backward, clipping, optimizer and schedule steps, progress, history,
//! evaluation, early stopping and checkpoint hooks.

use super::early_stopping::EarlyStopping;
use super::grad_stats::{GradStats, GradStatsRecord, GradStatsWriter};
use super::history::{EpochRecord, HistoryWriter};
use super::nan_origin::ParamNames;
use super::progress::{Plan, Progress, Silent};
use super::step::{EpochStats, TrainStep};
use super::step_check::{At, StepCheck};
use super::supervised::SupervisedStep;
use crate::autograd::{Graph, Param, Var};
use crate::data::Supervised;
use crate::dist::{average_gradients, broadcast_params, Collective};
use crate::loss::Loss;
use crate::nn::Module;
use crate::optim::{clip_grad_norm, Optimizer, Schedule};
use crate::{Error, Result};
use std::rc::Rc;
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
    /// Train with the layers in evaluation behaviour ([`Graph::eval`], as
    /// PyTorch's `model.eval()` around a training loop): batch norm
    /// normalises with its running statistics and leaves them as they are,
    /// dropout is off. What a linear probe of a frozen encoder needs: the
    /// encoder's features are then the fixed function of the image that
    /// they are at test time (SimCLR's linear evaluation, Chen et al. 2020).
    /// The layers being trained should have neither (a probe's output layer
    /// has not).
    pub eval_mode: bool,
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
            eval_mode: false,
        }
    }
}

impl TrainConfig {
    /// A fresh graph for a training step: recording, in training or
    /// (with `eval_mode`) evaluation behaviour.
    fn graph(&self) -> Graph {
        let g = Graph::new();
        if self.eval_mode {
            g.eval()
        } else {
            g
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
    detect_anomaly: bool,
    grad_stats: Option<GradStats>,
    comm: Option<Rc<dyn Collective>>,
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
            detect_anomaly: false,
            grad_stats: None,
            comm: None,
        }
    }

    /// Checks every value and gradient of every step, and the parameters after
    /// each update, stopping at the first that is not finite (as PyTorch's
    /// `torch.autograd.detect_anomaly`, slower). Without it the trainer checks
    /// the loss and each parameter's gradient, and searches the step's graph
    /// only when one of them is not finite: the same op is named, for a
    /// fraction of the cost, unless a non-finite value never reaches the loss.
    ///
    /// ```
    /// use backprop::autograd::{Graph, Param, Var};
    /// use backprop::optim::Sgd;
    /// use backprop::train::{EpochRecord, EpochStats, TrainConfig, TrainStep, Trainer};
    /// use backprop::{Result, Tensor};
    /// /// A finite loss, and beside it a value the loss does not use: 0/0.
    /// struct Hidden(Param);
    /// impl TrainStep for Hidden {
    ///     fn loss<'g>(&mut self, g: &'g Graph, _: usize) -> Result<Var<'g>> {
    ///         let w = g.param(&self.0);
    ///         let _ratio = (w - w) / (w - w);
    ///         Ok(w.square().sum())
    ///     }
    ///     fn end_epoch(&mut self, _: &mut EpochRecord, _: &EpochStats) {}
    /// }
    /// let w = Param::new(Tensor::scalar(1.0));
    /// let config = TrainConfig { epochs: 1, steps_per_epoch: Some(1), ..Default::default() };
    /// let sgd = || Box::new(Sgd::new(vec![("w".into(), w.clone())], 0.1));
    /// assert!(Trainer::new(sgd(), config.clone()).run(&mut Hidden(w.clone())).is_ok());
    /// let err = Trainer::new(sgd(), config).detect_anomaly(true).run(&mut Hidden(w.clone())).unwrap_err();
    /// assert!(err.to_string().contains("op 'div'") && err.to_string().contains("0/0"), "{err}");
    /// ```
    pub fn detect_anomaly(mut self, on: bool) -> Self {
        self.detect_anomaly = on;
        self
    }

    /// Also measures gradient flow each epoch (see [`GradStatsRecord`]): per
    /// layer, the gradient's norm, the update/weight ratio and the share of
    /// dead or saturated units; written to `writer` if given, and kept for
    /// [`Trainer::grad_stats`]. Costs one pass over the gradients and the
    /// activations per step, and a copy of the weights on 10 steps per epoch.
    pub fn with_grad_stats(mut self, writer: Option<GradStatsWriter>) -> Self {
        self.grad_stats = Some(GradStats::new(writer));
        self
    }

    /// The gradient statistics measured so far, one record per epoch (empty
    /// without [`Trainer::with_grad_stats`]).
    pub fn grad_stats(&self) -> &[GradStatsRecord] {
        self.grad_stats.as_ref().map_or(&[], |s| &s.records)
    }

    /// Adds the optimizer of the next phase, for a [`TrainStep`] with several
    /// (a GAN's generator after its discriminator). While one phase runs, the
    /// parameters of the other optimizers are frozen.
    pub fn and_optimizer(mut self, optimizer: Box<dyn Optimizer + 'a>) -> Self {
        self.optimizers.push(optimizer);
        self
    }

    /// Trains as one rank of data-parallel training over `comm` (see
    /// [`crate::dist`]): before the first step, rank 0's parameters and
    /// buffers are copied to every rank and the step is told its shard
    /// ([`TrainStep::shard`]); after each backward, the gradients (and the
    /// loss) are averaged over the ranks in one all-reduce, before clipping
    /// and the optimizer step, which every rank applies alike. With `size`
    /// ranks and the configured batch size `B` per rank, training follows
    /// one process with batch `size · B` (up to the order of float sums;
    /// batch norm normalizes each rank's shard with its own statistics, as
    /// PyTorch's DistributedDataParallel without SyncBatchNorm).
    ///
    /// ```
    /// use backprop::{data::Dataset, dist::Local, nn::{Activation, Mlp, MlpConfig, Module}, optim::Sgd, tensor::Rng, Tensor};
    /// use backprop::train::{TrainConfig, Trainer};
    /// let xs: Vec<f32> = (0..16).map(|i| i as f32 / 16.0).collect();
    /// let data = Dataset::new(Tensor::from_vec(xs, &[8, 2]), vec![0, 1, 0, 1, 0, 1, 0, 1], 2).unwrap();
    /// let train = |batch: usize, comm: Option<Local>| {
    ///     let mlp = Mlp::new(MlpConfig::classifier(2, &[8], 2, Activation::Tanh), &mut Rng::new(0));
    ///     let config = TrainConfig { epochs: 3, batch_size: batch, ..Default::default() };
    ///     let mut trainer = Trainer::new(Box::new(Sgd::new(mlp.parameters(), 0.5)), config);
    ///     if let Some(comm) = comm {
    ///         trainer = trainer.distributed(std::rc::Rc::new(comm));
    ///     }
    ///     trainer.fit(&mlp, &data, None).unwrap().iter().map(|r| r.train_loss).collect::<Vec<f32>>()
    /// };
    /// let one = train(4, None);
    /// let two: Vec<Vec<f32>> = std::thread::scope(|s| {
    ///     let ranks: Vec<_> = Local::group(2).into_iter().map(|c| s.spawn(move || train(2, Some(c)))).collect();
    ///     ranks.into_iter().map(|h| h.join().unwrap()).collect()
    /// });
    /// for (a, b) in one.iter().zip(&two[0]) {
    ///     assert!((a - b).abs() < 1e-5, "{one:?} vs {two:?}");
    /// }
    /// assert_eq!(two[0], two[1]);
    /// ```
    pub fn distributed(mut self, comm: Rc<dyn Collective>) -> Self {
        self.comm = Some(comm);
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
        // A linear probe's encoder: no optimizer updates it, so no gradient
        // is computed for it (nor backward run through it, as the inputs are
        // constants); the trained parameters' gradients are the same.
        let held = all_params(&self.optimizers);
        let untrained: Vec<Param> = model
            .parameters()
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| !held.iter().any(|(_, q)| q.same_as(p)))
            .collect();
        let c = &self.config;
        let mut step =
            SupervisedStep::new(model, train, validation, c.loss, c.batch_size, c.seed)?.eval_mode(c.eval_mode);
        self.run_with(&mut step, &untrained)
    }

    /// Runs the epochs of any [`TrainStep`] and returns their records.
    ///
    /// # Errors
    /// As [`Trainer::fit`]; also when the step's phases and the optimizers differ in number.
    pub fn run(&mut self, step: &mut dyn TrainStep) -> Result<Vec<EpochRecord>> {
        self.run_with(step, &[])
    }

    /// [`Trainer::run`] with `untrained` (parameters no optimizer holds)
    /// constants in every step's graph, so backward spends nothing on them.
    fn run_with(&mut self, step: &mut dyn TrainStep, untrained: &[Param]) -> Result<Vec<EpochRecord>> {
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
        let with_untrained = |mut params: Vec<Param>| {
            params.extend(untrained.iter().cloned());
            params
        };
        let frozen: Vec<Vec<Param>> = (0..phases).map(|p| with_untrained(self.params_except(p, |_| true))).collect();
        // On a graph shared by a step's phases: only the earlier phases' parameters.
        let frozen_shared: Vec<Vec<Param>> =
            (0..phases).map(|p| with_untrained(self.params_except(p, |q| q < p))).collect();
        // What early stopping snapshots and puts back: the weights and the buffers.
        let mut kept = all_params(&self.optimizers);
        kept.extend(step.buffers());
        if let Some(comm) = &self.comm {
            step.shard(comm.clone())?;
            broadcast_params(comm.as_ref(), &kept);
        }
        // Not `with_capacity(cfg.epochs)`: a run of usize::MAX epochs that max_steps ends is valid.
        let mut records = Vec::new();
        let mut checks: Vec<StepCheck> = (0..phases).map(|_| StepCheck::new(self.detect_anomaly)).collect();
        // Every phase's parameters name the places in a NaN report: a GAN's
        // generator phase runs through the frozen discriminator too.
        let names = all_params(&self.optimizers);
        if let Some(stats) = &mut self.grad_stats {
            stats.start((0..phases).map(|p| step.phase_name(p)).collect());
        }
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
                // A step whose phases share one graph keeps it (and what the
                // phases carry) until its last backward; that phase's update
                // waits for the graph to go, so the parameters it changes are
                // not shared with the graph's nodes (no copy on write).
                let shared = step.shares_graph().then(|| cfg.graph());
                let mut carried = Vec::new();
                let mut pending = None;
                for (phase, sum) in sums.iter_mut().enumerate() {
                    let lr = cfg.schedule.lr_at(done, base_lr[phase]);
                    self.optimizers[phase].set_lr(lr);
                    self.optimizers[phase].zero_grad();
                    let at = At {
                        epoch,
                        batch: s + 1,
                        done,
                        counted_in_steps: plan.counted_in_steps,
                        phase: (phases > 1).then(|| step.phase_name(phase)),
                    };
                    let check = &mut checks[phase];
                    let progress = (s, steps);
                    let value = match &shared {
                        Some(g) => {
                            g.set_frozen(&frozen_shared[phase]);
                            let loss = step.shared_loss(g, phase, &mut carried)?;
                            self.backward_phase(g, loss, phase, check, &names, lr, &at, progress)?
                        }
                        None => {
                            let g = cfg.graph().freeze(&frozen[phase]);
                            let loss = step.loss(&g, phase)?;
                            self.backward_phase(&g, loss, phase, check, &names, lr, &at, progress)?
                        }
                    };
                    *sum += value as f64;
                    if shared.is_some() && phase + 1 == phases {
                        pending = Some((phase, lr, at));
                    } else {
                        self.update_phase(phase, check, lr, &at, cfg.clip_norm)?;
                    }
                }
                drop(carried);
                drop(shared);
                if let Some((phase, lr, at)) = pending {
                    self.update_phase(phase, &mut checks[phase], lr, &at, cfg.clip_norm)?;
                }
                done += 1;
                self.progress.step_done(s + 1, (sums[0] / (s + 1) as f64) as f32);
            }
            let steps = ran;
            let stats = EpochStats { steps, elapsed: started.elapsed() };
            // Each phase name's mean loss per step: phases that share a name (a
            // GAN's discriminator steps) are averaged. Phase 0's is the train loss.
            let mut by_name: Vec<(&str, f64, usize)> = Vec::new();
            for (phase, sum) in sums.iter().enumerate() {
                let name = step.phase_name(phase);
                match by_name.iter_mut().find(|(n, ..)| *n == name) {
                    Some(entry) => (entry.1, entry.2) = (entry.1 + sum, entry.2 + 1),
                    None => by_name.push((name, *sum, 1)),
                }
            }
            let means: Vec<(&str, f32)> = by_name
                .into_iter()
                .map(|(name, sum, count)| (name, (sum / (steps.max(1) * count) as f64) as f32))
                .collect();
            let mut record = EpochRecord {
                epoch,
                step: plan.counted_in_steps.then_some(done),
                train_loss: means[0].1,
                lr: self.optimizers[0].lr(),
                ..Default::default()
            };
            if phases > 1 {
                for (name, mean) in means {
                    record.metrics.insert(format!("{name}_loss"), mean);
                }
            }
            step.end_epoch(&mut record, &stats);
            if let Some(grad_stats) = &mut self.grad_stats {
                grad_stats.end_epoch(epoch, record.step)?;
            }
            step.evaluate(&mut record)?;
            record.seconds = started.elapsed().as_secs_f32();
            self.progress.epoch_done(&record);
            if let Some(h) = &mut self.history {
                h.append(&record)?;
            }
            if let Some(f) = &mut self.on_epoch {
                f(&record)?;
            }
            let stop = self.watch_improvement(&record, &kept)?;
            records.push(record);
            if stop {
                break;
            }
        }
        if let Some(stopping) = &self.early_stopping {
            stopping.restore(&kept);
        }
        Ok(records)
    }

    /// The parameters of every optimizer but the one of `phase`: frozen while it runs.
    fn params_except(&self, phase: usize, of_phase: impl Fn(usize) -> bool) -> Vec<Param> {
        let own = self.optimizers[phase].params();
        let others = self.optimizers.iter().enumerate().filter(|(i, _)| *i != phase && of_phase(*i));
        others
            .flat_map(|(_, o)| o.params().iter().map(|(_, p)| p))
            .filter(|p| !own.iter().any(|(_, q)| q.same_as(p)))
            .cloned()
            .collect()
    }

    /// One phase's loss on `g` checked, its backward and gradient checks, the
    /// gradients averaged over ranks and observed; returns the loss value.
    #[allow(clippy::too_many_arguments)]
    fn backward_phase(
        &mut self,
        g: &Graph,
        loss: Var<'_>,
        phase: usize,
        check: &mut StepCheck,
        names: ParamNames<'_>,
        lr: f32,
        at: &At,
        (s, steps): (usize, usize),
    ) -> Result<f32> {
        let opt = &self.optimizers[phase];
        let mut value = loss.item();
        check.forward(g, loss, names, lr, at)?;
        check.backward(g, loss, opt.params(), lr, at)?;
        if let Some(comm) = &self.comm {
            value = average_gradients(comm.as_ref(), opt.params(), value);
        }
        if let Some(stats) = &mut self.grad_stats {
            stats.observe(phase, g, opt.params(), &check.grad_sq, s, steps);
        }
        Ok(value)
    }

    /// One phase's update: clipping, the optimizer's step and its checks.
    fn update_phase(&mut self, phase: usize, check: &mut StepCheck, lr: f32, at: &At, clip: Option<f32>) -> Result<()> {
        let opt = &mut self.optimizers[phase];
        if let Some(max) = clip {
            clip_grad_norm(opt.params(), max);
        }
        check.before_update(opt.params(), lr, at);
        opt.step();
        check.after_update(opt.params(), lr, at)?;
        if let Some(stats) = &mut self.grad_stats {
            stats.after_update(phase, opt.params());
        }
        Ok(())
    }

    /// Early stopping's bookkeeping after an epoch (snapshotting `kept` at an
    /// improvement); true when training should stop.
    fn watch_improvement(&mut self, record: &EpochRecord, kept: &[(String, Param)]) -> Result<bool> {
        let Some(stopping) = &mut self.early_stopping else { return Ok(false) };
        let val_loss = record.val_loss.unwrap_or(f32::NAN);
        if stopping.update(record.epoch, val_loss, kept)
            && let Some(f) = &mut self.on_improvement
        {
            f(record)?;
        }
        Ok(stopping.should_stop())
    }
}

/// Every optimizer's parameters.
fn all_params(optimizers: &[Box<dyn Optimizer + '_>]) -> Vec<(String, Param)> {
    optimizers.iter().flat_map(|o| o.params().iter().cloned()).collect()
}
