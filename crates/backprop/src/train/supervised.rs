//! The step of supervised learning: a shuffled mini-batch of a data set, the
//! model's outputs, the loss against the targets.

use super::history::EpochRecord;
use super::metrics::{evaluate, evaluate_distributed, MetricSum};
use super::step::{EpochStats, TrainStep};
use crate::autograd::{Graph, Var};
use crate::data::{batch_indices, join_short_last, Supervised};
use crate::dist::{Collective, Shard};
use crate::loss::Loss;
use crate::nn::{has_batch_norm, Module};
use crate::tensor::Rng;
use crate::{Error, Result};
use std::rc::Rc;

/// Mini-batch training of `model` on a [`Supervised`] data set: each epoch
/// walks the examples in a new seeded order, `batch_size` at a time (the last
/// batch may be smaller); after each epoch the model is evaluated on the
/// validation set, if any. [`Trainer::fit`](super::Trainer::fit) builds one.
pub struct SupervisedStep<'a, M: Module + ?Sized, D: Supervised + ?Sized> {
    model: &'a M,
    train: &'a D,
    validation: Option<&'a D>,
    loss: Loss,
    batch_size: usize,
    rng: Rng,
    batches: Vec<Vec<usize>>,
    next: usize,
    sums: MetricSum,
    comm: Option<Rc<dyn Collective>>,
    /// Batch norm normalises with its running statistics ([`Self::eval_mode`]).
    eval_mode: bool,
}

impl<'a, M: Module + ?Sized, D: Supervised + ?Sized> SupervisedStep<'a, M, D> {
    /// A step over `train` in batches of `batch_size`, shuffled with `seed`.
    ///
    /// # Errors
    /// When the training set is empty or `batch_size` is 0.
    pub fn new(
        model: &'a M,
        train: &'a D,
        validation: Option<&'a D>,
        loss: Loss,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        if train.is_empty() {
            return Err(Error::invalid("training data", "the training set is empty"));
        }
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1, got 0"));
        }
        let validation = validation.filter(|v| !v.is_empty());
        Ok(SupervisedStep {
            model,
            train,
            validation,
            loss,
            batch_size,
            rng: Rng::new(seed),
            batches: Vec::new(),
            next: 0,
            sums: MetricSum::default(),
            comm: None,
            eval_mode: false,
        })
    }

    /// Marks the step as run in evaluation mode
    /// ([`TrainConfig::eval_mode`](super::TrainConfig::eval_mode)): batch
    /// norm normalises with its running statistics, so a batch may hold one
    /// example.
    pub fn eval_mode(mut self, on: bool) -> Self {
        self.eval_mode = on;
        self
    }
}

impl<M: Module + ?Sized, D: Supervised + ?Sized> TrainStep for SupervisedStep<'_, M, D> {
    fn buffers(&self) -> Vec<(String, crate::autograd::Param)> {
        self.model.buffers()
    }

    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        let ranks = self.comm.as_ref().map_or(1, |c| c.size());
        // Batch norm needs two examples per rank: a smaller last batch joins
        // the one before it (a batch size of 1 is refused).
        let batch_norm = !self.eval_mode && has_batch_norm(&self.model.buffers());
        if batch_norm && self.batch_size < 2 {
            let why = "the model's batch norm needs at least 2 examples per batch to compute a variance";
            return Err(Error::invalid("batch_size", why));
        }
        if batch_norm && self.train.len() < 2 * ranks {
            let n = self.train.len();
            let why = format!(
                "{n} example{} for {ranks} process{}: the model's batch norm needs at least 2 per batch (and \
                 process) to compute a variance",
                if n == 1 { "" } else { "s" },
                if ranks == 1 { "" } else { "es" }
            );
            return Err(Error::invalid("training set", why));
        }
        self.batches = batch_indices(self.train.len(), self.batch_size * ranks, Some(&mut self.rng));
        if batch_norm {
            join_short_last(&mut self.batches, 2 * ranks);
        }
        // Every rank needs an example: a last global batch smaller than the ranks is left out.
        self.batches.retain(|b| b.len() >= ranks);
        self.next = 0;
        self.sums = MetricSum::default();
        Ok(Some(self.batches.len()))
    }

    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        let ids =
            self.batches.get(self.next).ok_or_else(|| Error::invalid("epoch", "asked for more batches than it has"))?;
        self.next += 1;
        let (ids, scale) = match &self.comm {
            Some(comm) => {
                let shard = Shard::of(comm.as_ref());
                (&ids[shard.range(ids.len())], shard.loss_scale(ids.len()))
            }
            None => (&ids[..], 1.0),
        };
        let (x, targets) = self.train.batch(ids);
        let out = self.model.forward(g, g.constant(x));
        let loss = self.loss.compute(out, &targets);
        self.sums.add(self.loss, &out.value(), &targets, loss.item(), self.train.target_scale());
        Ok(if scale == 1.0 { loss } else { loss.mul_scalar(scale) })
    }

    fn shard(&mut self, comm: Rc<dyn Collective>) -> Result<()> {
        self.comm = Some(comm);
        Ok(())
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, _stats: &EpochStats) {
        if let Some(comm) = &self.comm {
            self.sums.all_reduce(comm.as_ref(), self.loss);
        }
        let fit = self.sums.finish();
        record.train_loss = fit.loss;
        record.train_accuracy = fit.accuracy;
        record.error_name = fit.error.map(|_| if self.loss == Loss::L1 { "mae" } else { "rmse" }.to_string());
        record.train_error = fit.error;
    }

    fn has_validation(&self) -> bool {
        self.validation.is_some()
    }

    fn evaluate(&mut self, record: &mut EpochRecord) -> Result<()> {
        if let Some(v) = self.validation {
            let e = match &self.comm {
                Some(comm) => evaluate_distributed(self.model, v, self.loss, 512, comm.as_ref()),
                None => evaluate(self.model, v, self.loss, 512),
            };
            record.val_loss = Some(e.loss);
            record.val_accuracy = e.accuracy;
            record.val_error = e.error;
        }
        Ok(())
    }
}
