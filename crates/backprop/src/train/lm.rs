//! Training a language model: random windows of text, AdamW with decay on
//! matrices only, cosine schedule with warmup, gradient clipping, periodic
//! validation (nanoGPT's `train.py`, on the one [`Trainer`]).

use super::history::EpochRecord;
use super::step::{EpochStats, TrainStep};
use super::trainer::{TrainConfig, Trainer};
use crate::autograd::{Graph, Var};
use crate::data::{random_windows, TextData};
use crate::dist::{Collective, Shard};
use crate::loss::cross_entropy;
use crate::nn::{Gpt, Module};
use crate::optim::{Adam, Schedule};
use crate::tensor::Rng;
use crate::{Error, Result};
use std::rc::Rc;

/// How to train a language model.
#[derive(Clone, Debug)]
pub struct LmConfig {
    /// Optimizer steps.
    pub iters: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Final learning rate of the cosine schedule.
    pub min_lr: f32,
    /// Linear warmup steps.
    pub warmup: usize,
    /// AdamW weight decay (applied to matrices only).
    pub weight_decay: f32,
    /// Adam's beta2.
    pub beta2: f32,
    /// Global gradient-norm clip.
    pub grad_clip: Option<f32>,
    /// Validate every this many steps (and at the last).
    pub eval_every: usize,
    /// Batches averaged per validation.
    pub eval_batches: usize,
    /// Seed of the batch sampling.
    pub seed: u64,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            iters: 2000,
            batch_size: 12,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 100,
            weight_decay: 0.1,
            beta2: 0.99,
            grad_clip: Some(1.0),
            eval_every: 250,
            eval_batches: 20,
            seed: 1337,
        }
    }
}

impl LmConfig {
    /// AdamW over `model`'s parameters, betas (0.9, `beta2`), weight decay on
    /// matrices only (as nanoGPT's `configure_optimizers`).
    pub fn optimizer(&self, model: &Gpt) -> Adam {
        Adam::adamw(model.parameters(), self.lr, self.weight_decay)
            .betas(0.9, self.beta2)
            .decay_only(|_, shape| shape.len() >= 2)
    }

    /// The loop's settings: `iters` steps in rounds of `eval_every`, linear
    /// warmup then cosine decay to `min_lr`, clipping.
    pub fn train_config(&self) -> TrainConfig {
        let every = self.eval_every.max(1);
        TrainConfig {
            epochs: self.iters.div_ceil(every),
            steps_per_epoch: Some(every),
            max_steps: Some(self.iters),
            schedule: Schedule::Cosine { warmup: self.warmup, total: self.iters, min_lr: self.min_lr },
            clip_norm: self.grad_clip,
            batch_size: self.batch_size,
            seed: self.seed,
            ..TrainConfig::default()
        }
    }
}

/// Mean cross-entropy of `model` over `batches` random windows of `tokens`.
pub fn estimate_loss(model: &Gpt, tokens: &[usize], batch: usize, batches: usize, rng: &mut Rng) -> f32 {
    let block = model.config().block_size;
    let mut total = 0.0;
    for _ in 0..batches {
        let (x, y) = random_windows(tokens, batch, block, rng);
        let g = Graph::no_grad();
        let logits = model.forward_tokens(&g, &x, batch, block);
        total += cross_entropy(logits, &y).item();
    }
    total / batches.max(1) as f32
}

/// The step of a language model: `batch_size` random windows of
/// `block_size + 1` characters, next-character cross-entropy; validation on
/// `eval_batches` random windows of the validation text. Records
/// `tokens_per_sec` and `ms_per_step` in each record's metrics.
pub struct LmStep<'a> {
    model: &'a Gpt,
    data: &'a TextData,
    batch_size: usize,
    eval_batches: usize,
    rng: Rng,
    eval_rng: Rng,
    comm: Option<Rc<dyn Collective>>,
}

impl<'a> LmStep<'a> {
    /// A step for `model` on `data` with `cfg`'s batch size, validation batches and seed.
    ///
    /// # Errors
    /// When the training or validation text is not longer than one window.
    pub fn new(model: &'a Gpt, data: &'a TextData, cfg: &LmConfig) -> Result<LmStep<'a>> {
        let block = model.config().block_size;
        for (name, part) in [("training", &data.train), ("validation", &data.val)] {
            if part.len() <= block {
                return Err(Error::invalid(
                    "block_size",
                    format!("the {name} text has {} characters, fewer than a window of {}", part.len(), block + 1),
                ));
            }
        }
        Ok(LmStep {
            model,
            data,
            batch_size: cfg.batch_size,
            eval_batches: cfg.eval_batches,
            rng: Rng::new(cfg.seed),
            eval_rng: Rng::new(cfg.seed ^ 0x5eed),
            comm: None,
        })
    }
}

impl TrainStep for LmStep<'_> {
    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        let block = self.model.config().block_size;
        let shard = self.comm.as_ref().map_or(Shard { rank: 0, size: 1 }, |c| Shard::of(c.as_ref()));
        // Every rank draws the same global batch and takes its equal share.
        let (x, y) = random_windows(&self.data.train, self.batch_size * shard.size, block, &mut self.rng);
        let mine = shard.rank * self.batch_size * block..(shard.rank + 1) * self.batch_size * block;
        let logits = self.model.forward_tokens(g, &x[mine.clone()], self.batch_size, block);
        Ok(cross_entropy(logits, &y[mine]))
    }

    fn shard(&mut self, comm: Rc<dyn Collective>) -> Result<()> {
        self.comm = Some(comm);
        Ok(())
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, stats: &EpochStats) {
        let secs = stats.elapsed.as_secs_f32().max(1e-6);
        // All ranks' tokens: the global batch.
        let ranks = self.comm.as_ref().map_or(1, |c| c.size());
        let tokens = stats.steps * self.batch_size * ranks * self.model.config().block_size;
        record.metrics.insert("tokens_per_sec".into(), tokens as f32 / secs);
        record.metrics.insert("ms_per_step".into(), 1000.0 * secs / stats.steps.max(1) as f32);
    }

    fn has_validation(&self) -> bool {
        true
    }

    fn evaluate(&mut self, record: &mut EpochRecord) -> Result<()> {
        let loss = match &self.comm {
            // The ranks share the windows of each global validation batch and add their losses.
            Some(comm) => {
                let (batch, block) = (self.batch_size, self.model.config().block_size);
                let shard = Shard::of(comm.as_ref());
                let mut total = [0.0f64];
                for _ in 0..self.eval_batches {
                    let (x, y) = random_windows(&self.data.val, batch * shard.size, block, &mut self.eval_rng);
                    let mine = shard.rank * batch * block..(shard.rank + 1) * batch * block;
                    let g = Graph::no_grad();
                    let logits = self.model.forward_tokens(&g, &x[mine.clone()], batch, block);
                    total[0] += cross_entropy(logits, &y[mine]).item() as f64;
                }
                comm.all_reduce_sum_f64(&mut total);
                (total[0] / (shard.size * self.eval_batches.max(1)) as f64) as f32
            }
            None => estimate_loss(self.model, &self.data.val, self.batch_size, self.eval_batches, &mut self.eval_rng),
        };
        record.val_loss = Some(loss);
        Ok(())
    }
}

/// Trains `model` on `data` silently; `on_record` sees each validation point
/// (to save a checkpoint, say). For progress or a history file, build the
/// [`Trainer`] from [`LmConfig::optimizer`] and [`LmConfig::train_config`] and
/// run an [`LmStep`].
///
/// # Errors
/// [`Error::Diverged`] on a NaN loss; texts shorter than a window.
pub fn train_lm(
    model: &Gpt,
    data: &TextData,
    cfg: &LmConfig,
    on_record: impl FnMut(&EpochRecord) -> Result<()>,
) -> Result<Vec<EpochRecord>> {
    let mut step = LmStep::new(model, data, cfg)?;
    Trainer::new(Box::new(cfg.optimizer(model)), cfg.train_config()).on_epoch(on_record).run(&mut step)
}
