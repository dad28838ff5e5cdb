//! The step of supervised learning: a shuffled mini-batch of a data set, the
//! model's outputs, the loss against the targets.

use super::history::EpochRecord;
use super::metrics::{evaluate, MetricSum};
use super::step::{EpochStats, TrainStep};
use crate::autograd::{Graph, Var};
use crate::data::{batch_indices, Supervised};
use crate::loss::Loss;
use crate::nn::Module;
use crate::tensor::Rng;
use crate::{Error, Result};

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
        })
    }
}

impl<M: Module + ?Sized, D: Supervised + ?Sized> TrainStep for SupervisedStep<'_, M, D> {
    fn buffers(&self) -> Vec<(String, crate::autograd::Param)> {
        self.model.buffers()
    }

    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        self.batches = batch_indices(self.train.len(), self.batch_size, Some(&mut self.rng));
        self.next = 0;
        self.sums = MetricSum::default();
        Ok(Some(self.batches.len()))
    }

    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        let ids =
            self.batches.get(self.next).ok_or_else(|| Error::invalid("epoch", "asked for more batches than it has"))?;
        self.next += 1;
        let (x, targets) = self.train.batch(ids);
        let out = self.model.forward(g, g.constant(x));
        let loss = self.loss.compute(out, &targets);
        self.sums.add(self.loss, &out.value(), &targets, loss.item(), self.train.target_scale());
        Ok(loss)
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, _stats: &EpochStats) {
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
            let e = evaluate(self.model, v, self.loss, 512);
            record.val_loss = Some(e.loss);
            record.val_accuracy = e.accuracy;
            record.val_error = e.error;
        }
        Ok(())
    }
}
