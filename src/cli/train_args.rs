//! The flag groups every `train` command shares, each declared once and each
//! building its library object: [`RunArgs`] (seed, run folder, threads,
//! output: the trainer with its progress and history) and [`OptimArgs`] (the
//! optimizer, its learning-rate schedule and clipping).
//!
//! Defaults that differ per command are passed in, not restated: a command
//! overrides a group's default with clap's `mut_arg` (e.g.
//! `#[command(mut_arg("out", |a| a.default_value("runs/gpt")))]`), or hands a
//! [`LrDefaults`] to [`OptimArgs::build`] where the default depends on the
//! optimizer chosen.

use super::args::{decay_rate, non_negative_f32, positive_f32, DistributedArg, JsonArg, ThreadsArg};
use super::progress::Terminal;
use backprop::dist::Collective;
use backprop::optim::{Adam, Optimizer, Schedule, Sgd};
use backprop::train::{GradStatsWriter, HistoryWriter, TrainConfig, Trainer, GRAD_STATS_FILE};
use backprop::{Error, Param, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::rc::Rc;

/// Seed, run folder, threads and output: what every training run needs.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Seed for initialisation, shuffling and the validation split (where there is one).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run folder for model.safetensors and history.jsonl.
    #[arg(long, default_value = "runs/mnist", value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub threads: ThreadsArg,
    #[command(flatten)]
    pub distributed: DistributedArg,
    #[command(flatten)]
    pub output: JsonArg,
    /// Record gradient flow per layer and epoch (gradient norm, update/weight ratio, dead or
    /// saturated units) in grad_stats.jsonl; `report` plots it, `doctor` reads it.
    #[arg(long)]
    pub grad_stats: bool,
    /// Check every value and gradient of every step for NaN or infinity, and stop at the
    /// first (slower; by default only the loss and the gradients are checked).
    #[arg(long)]
    pub detect_anomaly: bool,
}

/// A run's folder: where its checkpoint and history go.
pub(crate) struct RunFolder {
    /// The folder itself.
    pub dir: PathBuf,
    /// `<out>/model.safetensors`.
    pub model: PathBuf,
    /// `<out>/history.jsonl`.
    pub history: PathBuf,
    /// `<out>/grad_stats.jsonl` with `--grad-stats`.
    pub grad_stats: Option<PathBuf>,
    /// `--detect-anomaly`.
    pub detect_anomaly: bool,
    /// Whether output is JSON lines.
    pub json: bool,
    /// With `--distributed`: this rank's link to the others.
    pub comm: Option<Rc<dyn Collective>>,
}

impl RunArgs {
    /// Refuses `--distributed` for training that runs on one process
    /// (`why`: what the step does that is not split across ranks).
    pub fn single_process(&self, why: &str) -> Result<()> {
        if self.distributed.distributed {
            let message = format!("{why}; train mnist, images, csv and gpt run distributed");
            return Err(Error::invalid("--distributed", message));
        }
        Ok(())
    }

    /// The thread count (`--threads`, or under `mpirun` the cores shared
    /// among the node's ranks); `cli::main` sizes the pool with it.
    pub fn threads(&self) -> Result<Option<usize>> {
        self.threads.count(self.distributed.default_threads())
    }

    /// Names the run's files; the folder is made by [`RunFolder::trainer`].
    pub fn start(&self) -> Result<RunFolder> {
        self.start_as("model.safetensors")
    }

    /// [`RunArgs::start`] for a run whose checkpoint is `<out>/<file>` (`pretrain`'s encoder).
    pub fn start_as(&self, file: &str) -> Result<RunFolder> {
        super::args::check_out_folder("--out", &self.out)?;
        let comm = self.distributed.start()?;
        let dir = self.out.clone();
        let model = dir.join(file);
        if model.is_dir() {
            let message = format!("{} is a folder; the trained model is written there", model.display());
            return Err(Error::invalid("--out", message));
        }
        let json = self.output.json;
        Ok(RunFolder {
            model,
            history: dir.join("history.jsonl"),
            grad_stats: self.grad_stats.then(|| dir.join(GRAD_STATS_FILE)),
            detect_anomaly: self.detect_anomaly,
            dir,
            json,
            comm,
        })
    }
}

impl RunFolder {
    /// Creates the folder and returns a trainer that reports on the terminal
    /// (or as JSON) and writes the history file (and, with `--grad-stats`, the
    /// gradient statistics; a stale file of an earlier run is removed).
    ///
    /// With `--distributed`, the trainer is one rank's, and only rank 0 reports
    /// and writes; the other ranks' trainers are silent.
    pub fn trainer<'a>(&self, optimizer: Box<dyn Optimizer + 'a>, config: TrainConfig) -> Result<Trainer<'a>> {
        let mut trainer = Trainer::new(optimizer, config).detect_anomaly(self.detect_anomaly);
        if let Some(comm) = &self.comm {
            trainer = trainer.distributed(comm.clone());
            if !self.writes() {
                return Ok(trainer);
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut trainer =
            trainer.progress(Terminal::new(self.json)).with_history(HistoryWriter::create(&self.history)?);
        match &self.grad_stats {
            Some(path) => trainer = trainer.with_grad_stats(Some(GradStatsWriter::create(path)?)),
            None => {
                let stale = self.dir.join(GRAD_STATS_FILE);
                if stale.is_file() {
                    std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
                }
            }
        }
        Ok(trainer)
    }

    /// Whether this process prints and writes files: always, but with
    /// `--distributed` only rank 0.
    pub fn writes(&self) -> bool {
        self.comm.as_ref().is_none_or(|c| c.rank() == 0)
    }

    /// The number of ranks training together (1 without `--distributed`):
    /// a step takes `ranks` times the per-rank batch.
    pub fn ranks(&self) -> usize {
        self.comm.as_ref().map_or(1, |c| c.size())
    }

    /// Runs `save` (a checkpoint) where this process [writes](RunFolder::writes).
    pub fn save(&self, save: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.writes() {
            save()
        } else {
            Ok(())
        }
    }

    /// Prints a line unless the output is JSON (or this is not rank 0).
    pub fn say(&self, line: impl std::fmt::Display) {
        if !self.json && self.writes() {
            println!("{line}");
        }
    }

    /// `saved runs/mnist/model.safetensors and runs/mnist/history.jsonl`, unless the output is JSON.
    pub fn say_saved(&self) {
        self.say(format_args!("saved {} and {}", self.model.display(), self.history.display()));
    }
}

/// The most trainable scalars a command-line model may have: 2^28 (1 GiB of
/// weights, about 4 GiB with Adam's moments and the gradients).
pub(crate) const MAX_PARAMETERS: usize = 1 << 28;

/// Refuses, before anything is allocated, a network too large for this machine
/// (e.g. `--hidden 100000000000`); `flag` is the flag that sets its size.
pub(crate) fn check_model_size(config: &backprop::nn::MlpConfig, flag: &str) -> Result<()> {
    match config.parameter_count() {
        Some(n) if n <= MAX_PARAMETERS => Ok(()),
        count => {
            let sizes: Vec<String> = config.sizes().iter().map(|s| s.to_string()).collect();
            let what = count.map_or("more than usize::MAX".to_string(), |n| n.to_string());
            Err(Error::invalid(
                flag,
                format!(
                    "a {} network would have {what} parameters, more than the limit of {MAX_PARAMETERS}",
                    sizes.join("-")
                ),
            ))
        }
    }
}

/// The optimizers the command line offers.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptimizerName {
    /// Stochastic gradient descent (with --momentum, --nesterov).
    Sgd,
    /// Adam (Kingma & Ba, 2015); --weight-decay adds an L2 term to the gradient.
    Adam,
    /// AdamW (Loshchilov & Hutter, 2019): decoupled weight decay.
    Adamw,
}

/// Learning-rate schedules.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScheduleName {
    /// The same rate at every step.
    Constant,
    /// Linear warmup over --warmup steps, then cosine decay to --min-lr at the last step.
    Cosine,
}

/// The optimizer, its schedule and gradient clipping.
///
/// Flags that only one optimizer or schedule reads are `Option`s, so a flag
/// given where it does nothing (`--momentum` with Adam, `--warmup` with
/// `--schedule constant`) is refused instead of silently ignored; their
/// defaults are in [`FlagDefaults`], which a command may change.
#[derive(Args, Debug)]
pub(crate) struct OptimArgs {
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerName,
    /// Learning rate (the default depends on the optimizer).
    #[arg(long, value_parser = positive_f32)]
    pub lr: Option<f32>,
    /// Momentum for SGD, at least 0 and below 1 (default 0 = plain SGD).
    #[arg(long, value_parser = decay_rate)]
    pub momentum: Option<f32>,
    /// Use Nesterov momentum with SGD (needs --momentum above 0).
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay (L2 for SGD/Adam, decoupled for AdamW).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f32)]
    pub weight_decay: f32,
    /// Adam's beta1 (decay of the mean of the gradients), at least 0 and below 1 (default 0.9).
    #[arg(long, value_parser = decay_rate)]
    pub beta1: Option<f32>,
    /// Adam's beta2 (decay of the mean of the squared gradients), at least 0 and below 1 (default 0.999).
    #[arg(long, value_parser = decay_rate)]
    pub beta2: Option<f32>,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleName,
    /// Linear warmup steps of the cosine schedule, fewer than the run's steps (default 0).
    #[arg(long, value_parser = super::args::non_negative_usize)]
    pub warmup: Option<usize>,
    /// Final learning rate of the cosine schedule (default 0).
    #[arg(long, value_parser = non_negative_f32)]
    pub min_lr: Option<f32>,
    /// Clip gradients to this global norm (0: no clipping).
    #[arg(long, visible_alias = "grad-clip", value_parser = non_negative_f32)]
    pub clip: Option<f32>,
    /// What the optional flags above default to in this command (not a flag).
    #[arg(skip)]
    pub defaults: FlagDefaults,
}

/// The defaults of [`OptimArgs`]' optional flags: PyTorch's (betas 0.9 and
/// 0.999, no momentum) and no warmup or floor, unless a command sets its own
/// (`train gpt`: nanoGPT's beta2 0.99, 100 warmup steps, min-lr 1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FlagDefaults {
    pub beta1: f32,
    pub beta2: f32,
    pub warmup: usize,
    pub min_lr: f32,
}

impl Default for FlagDefaults {
    fn default() -> Self {
        FlagDefaults { beta1: 0.9, beta2: 0.999, warmup: 0, min_lr: 0.0 }
    }
}

/// A command's default learning rates, by optimizer, and whether weight
/// decay spares vectors (biases, norms) as in nanoGPT.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LrDefaults {
    pub sgd: f32,
    pub adam: f32,
    pub decay_matrices_only: bool,
}

/// The optimizer steps of a run: `epochs` passes of `steps_per_epoch` steps.
///
/// # Errors
/// When the product does not fit in a `usize` (`--epochs 18446744073709551615`):
/// the schedule's length would wrap around to a few steps.
pub(crate) fn total_steps(steps_per_epoch: usize, epochs: usize) -> Result<usize> {
    steps_per_epoch.checked_mul(epochs).ok_or_else(|| {
        Error::invalid(
            "--epochs",
            format!("{epochs} epochs of {steps_per_epoch} steps is more steps than can be counted"),
        )
    })
}

impl OptimArgs {
    /// The learning rate asked for, or the command's default for the optimizer.
    pub fn lr(&self, defaults: LrDefaults) -> f32 {
        self.lr.unwrap_or(match self.optimizer {
            OptimizerName::Sgd => defaults.sgd,
            OptimizerName::Adam | OptimizerName::Adamw => defaults.adam,
        })
    }

    /// The optimizer over `params` and the schedule over a run of `total_steps`.
    ///
    /// Refuses flags the chosen optimizer or schedule would ignore, Nesterov
    /// without momentum (as PyTorch), `--min-lr` above the rate, and a
    /// `--warmup` as long as the run (the rate would never reach its peak nor
    /// decay). A command's default warmup that would take half of a short run
    /// or more is cut to a tenth of the run, with a note on stderr.
    pub fn build(
        &self,
        params: Vec<(String, Param)>,
        total_steps: usize,
        defaults: LrDefaults,
    ) -> Result<(Box<dyn Optimizer>, Schedule)> {
        self.build_scaled(params, total_steps, defaults, &|_| 1.0)
    }

    /// [`OptimArgs::build`] with each parameter's learning rate `scale(name)`
    /// times the rate (`Adam::lr_scale`, `Sgd::lr_scale`).
    pub fn build_scaled(
        &self,
        params: Vec<(String, Param)>,
        total_steps: usize,
        defaults: LrDefaults,
        scale: &dyn Fn(&str) -> f32,
    ) -> Result<(Box<dyn Optimizer>, Schedule)> {
        let lr = self.lr(defaults);
        self.check_flags_apply()?;
        let d = self.defaults;
        let optimizer: Box<dyn Optimizer> = match self.optimizer {
            OptimizerName::Sgd => {
                let momentum = self.momentum.unwrap_or(0.0);
                if self.nesterov && momentum == 0.0 {
                    return Err(Error::invalid("--nesterov", "needs a momentum above 0 (give --momentum, e.g. 0.9)"));
                }
                Box::new(
                    Sgd::new(params, lr)
                        .momentum(momentum, self.nesterov)
                        .weight_decay(self.weight_decay)
                        .lr_scale(scale),
                )
            }
            OptimizerName::Adam | OptimizerName::Adamw => {
                let adam = if self.optimizer == OptimizerName::Adamw {
                    Adam::adamw(params, lr, self.weight_decay)
                } else {
                    Adam::new(params, lr).weight_decay(self.weight_decay)
                };
                let adam = adam.betas(self.beta1.unwrap_or(d.beta1), self.beta2.unwrap_or(d.beta2)).lr_scale(scale);
                Box::new(if defaults.decay_matrices_only { adam.decay_only(|_, shape| shape.len() >= 2) } else { adam })
            }
        };
        let schedule = match self.schedule {
            ScheduleName::Constant => Schedule::Constant,
            ScheduleName::Cosine => {
                let min_lr = self.min_lr.unwrap_or(d.min_lr);
                if min_lr > lr {
                    return Err(Error::invalid(
                        "--min-lr",
                        format!(
                            "{min_lr} is above the learning rate {lr}: the cosine schedule decays from --lr down to --min-lr"
                        ),
                    ));
                }
                Schedule::Cosine { warmup: self.warmup_steps(total_steps)?, total: total_steps, min_lr }
            }
        };
        Ok((optimizer, schedule))
    }

    /// Errors naming a flag that the chosen optimizer or schedule would ignore.
    fn check_flags_apply(&self) -> Result<()> {
        let sgd = self.optimizer == OptimizerName::Sgd;
        let ignored = |flag: &str, applies: &str| {
            Err(Error::invalid(flag, format!("applies to {applies} only, so it would be ignored here")))
        };
        if !sgd && self.momentum.is_some() {
            return ignored("--momentum", "--optimizer sgd (Adam keeps its own moments: see --beta1)");
        }
        if !sgd && self.nesterov {
            return ignored("--nesterov", "--optimizer sgd");
        }
        if sgd && (self.beta1.is_some() || self.beta2.is_some()) {
            let flag = if self.beta1.is_some() { "--beta1" } else { "--beta2" };
            return ignored(flag, "--optimizer adam and adamw (SGD's counterpart is --momentum)");
        }
        if self.schedule == ScheduleName::Constant {
            if self.warmup.is_some() {
                return ignored("--warmup", "--schedule cosine (--schedule constant keeps one rate throughout)");
            }
            if self.min_lr.is_some() {
                return ignored("--min-lr", "--schedule cosine (--schedule constant keeps one rate throughout)");
            }
        }
        Ok(())
    }

    /// The cosine schedule's warmup for a run of `total` steps: `--warmup`
    /// if it is shorter than the run (else an error), or the command's
    /// default, cut to a tenth of the run (with a note) when it would take half the run or more.
    fn warmup_steps(&self, total: usize) -> Result<usize> {
        match self.warmup {
            Some(w) if w > 0 && w >= total => Err(Error::invalid(
                "--warmup",
                format!(
                    "{w} steps is not shorter than the run ({total} steps): the learning rate would never reach \
                     its peak nor decay; give fewer (e.g. {}, a tenth of the run)",
                    total / 10
                ),
            )),
            Some(w) => Ok(w),
            None => {
                let w = self.defaults.warmup;
                if w > 0 && w >= total / 2 {
                    let fitted = total / 10;
                    eprintln!(
                        "note: the default warmup of {w} steps does not fit a run of {total} steps; \
                         warming up for {fitted} (a tenth of the run) instead (set it with --warmup)"
                    );
                    return Ok(fitted);
                }
                Ok(w)
            }
        }
    }

    /// The clipping norm, if any (0 means none).
    pub fn clip_norm(&self) -> Option<f32> {
        self.clip.filter(|&c| c > 0.0)
    }
}
