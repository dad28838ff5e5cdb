//! Training a language model: random windows of text, AdamW with decay on
//! matrices only, cosine schedule with warmup, gradient clipping, periodic
//! validation.

use super::progress::OutputMode;
use crate::autograd::Graph;
use crate::data::{random_windows, TextData};
use crate::loss::cross_entropy;
use crate::nn::{Gpt, Module};
use crate::optim::{clip_grad_norm, Adam, Optimizer, Schedule};
use crate::tensor::Rng;
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

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

/// One validation point of a language-model run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmRecord {
    /// Steps done.
    pub iter: usize,
    /// Mean training loss since the previous record.
    pub train_loss: f32,
    /// Mean validation loss over `eval_batches` random windows.
    pub val_loss: f32,
    /// Learning rate at this step.
    pub lr: f32,
    /// Training throughput since the previous record.
    pub tokens_per_sec: f32,
    /// Milliseconds per step since the previous record.
    pub ms_per_iter: f32,
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

/// Trains `model` on `data`; `on_record` sees each validation point (to save
/// a checkpoint or history). Stops with [`Error::Diverged`] on a NaN loss.
pub fn train_lm(
    model: &Gpt,
    data: &TextData,
    cfg: &LmConfig,
    output: OutputMode,
    mut on_record: impl FnMut(&LmRecord) -> Result<()>,
) -> Result<Vec<LmRecord>> {
    let block = model.config().block_size;
    for (name, part) in [("training", &data.train), ("validation", &data.val)] {
        if part.len() <= block {
            return Err(Error::invalid(
                "block_size",
                format!("the {name} text has {} characters, fewer than a window of {}", part.len(), block + 1),
            ));
        }
    }
    let mut opt = Adam::adamw(model.parameters(), cfg.lr, cfg.weight_decay)
        .betas(0.9, cfg.beta2)
        .decay_only(|_, shape| shape.len() >= 2);
    let schedule = Schedule::Cosine { warmup: cfg.warmup, total: cfg.iters, min_lr: cfg.min_lr };
    let mut rng = Rng::new(cfg.seed);
    let mut eval_rng = Rng::new(cfg.seed ^ 0x5eed);
    let terminal = output == OutputMode::Auto && std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = ProgressBar::new(cfg.iters as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let mut records = Vec::new();
    let (mut window_loss, mut window_steps, mut window_start) = (0.0f64, 0usize, Instant::now());
    for it in 0..cfg.iters {
        opt.set_lr(schedule.lr_at(it, cfg.lr));
        let (x, y) = random_windows(&data.train, cfg.batch_size, block, &mut rng);
        opt.zero_grad();
        let g = Graph::new();
        let logits = model.forward_tokens(&g, &x, cfg.batch_size, block);
        let loss = cross_entropy(logits, &y);
        let value = loss.item();
        if !value.is_finite() {
            return Err(Error::Diverged(format!(
                "the loss became {value} at step {}: training diverged; try a lower learning rate (now {:e})",
                it + 1,
                opt.lr()
            )));
        }
        g.backward(loss);
        drop(g);
        if let Some(max) = cfg.grad_clip {
            clip_grad_norm(opt.params(), max);
        }
        opt.step();
        window_loss += value as f64;
        window_steps += 1;
        if let Some(bar) = &bar {
            bar.set_position(it as u64 + 1);
            if it % 10 == 0 {
                let secs = window_start.elapsed().as_secs_f32().max(1e-6);
                let tps = (window_steps * cfg.batch_size * block) as f32 / secs;
                bar.set_message(format!("loss {value:.4}  {tps:.0} tok/s"));
            }
        }
        let last = it + 1 == cfg.iters;
        if (it + 1) % cfg.eval_every.max(1) == 0 || last {
            let secs = window_start.elapsed().as_secs_f32().max(1e-6);
            let val_loss = estimate_loss(model, &data.val, cfg.batch_size, cfg.eval_batches, &mut eval_rng);
            let record = LmRecord {
                iter: it + 1,
                train_loss: (window_loss / window_steps as f64) as f32,
                val_loss,
                lr: opt.lr(),
                tokens_per_sec: (window_steps * cfg.batch_size * block) as f32 / secs,
                ms_per_iter: 1000.0 * secs / window_steps as f32,
            };
            match output {
                OutputMode::Json => println!("{}", serde_json::to_string(&record).expect("records serialize")),
                OutputMode::Quiet => {}
                _ => {
                    let line = format!(
                        "step {:>5}/{}  train loss {:.4}  val loss {:.4}  lr {:.2e}  {:.0} tok/s  {:.1} ms/step",
                        record.iter,
                        cfg.iters,
                        record.train_loss,
                        record.val_loss,
                        record.lr,
                        record.tokens_per_sec,
                        record.ms_per_iter
                    );
                    match &bar {
                        Some(bar) => bar.println(line),
                        None => println!("{line}"),
                    }
                }
            }
            on_record(&record)?;
            records.push(record);
            (window_loss, window_steps, window_start) = (0.0, 0, Instant::now());
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(records)
}
