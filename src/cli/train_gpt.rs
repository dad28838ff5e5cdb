//! `backprop train gpt`: a character-level GPT on a text file (default: tiny Shakespeare).

use super::args::positive_usize;
use super::train_args::{FlagDefaults, LrDefaults, OptimArgs, RunArgs, MAX_PARAMETERS};
use backprop::checkpoint::Checkpoint;
use backprop::data::TextData;
use backprop::nn::{Gpt, GptConfig, Module};
use backprop::tensor::Rng;
use backprop::train::{LmConfig, LmStep, TrainConfig};
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// `train gpt`'s learning rate: AdamW at 1e-3 (0.1 for SGD), weight decay on matrices only, as nanoGPT.
const GPT_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-3, decay_matrices_only: true };

/// nanoGPT's beta2, warmup and final rate for its Shakespeare model.
const GPT_FLAGS: FlagDefaults = FlagDefaults { beta1: 0.9, beta2: 0.99, warmup: 100, min_lr: 1e-4 };

/// nanoGPT's Shakespeare settings: AdamW with betas (0.9, 0.99) and weight decay 0.1,
/// 100 warmup steps, cosine decay to 1e-4, gradient clipping at 1.0.
#[derive(Args, Debug)]
#[command(
    mut_arg("out", |a| a.default_value("runs/gpt")),
    mut_arg("seed", |a| a.default_value("1337")),
    mut_arg("optimizer", |a| a.default_value("adamw")),
    mut_arg("weight_decay", |a| a.default_value("0.1")),
    mut_arg("beta2", |a| a.help("Adam's beta2 (decay of the mean of the squared gradients), at least 0 and below 1 (default 0.99)")),
    mut_arg("warmup", |a| a.help("Linear warmup steps of the cosine schedule, fewer than --iters (default 100; a tenth of --iters when that is 200 or less)")),
    mut_arg("min_lr", |a| a.help("Final learning rate of the cosine schedule (default 1e-4)")),
    mut_arg("clip", |a| a.default_value("1.0")),
    mut_arg("lr", |a| a.help("Peak learning rate (default 1e-3 for AdamW/Adam, 0.1 for SGD)"))
)]
pub(crate) struct GptArgs {
    /// UTF-8 text to learn (default: the bundled data/tinyshakespeare/input.txt).
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// Transformer blocks (default 4).
    #[arg(long, value_parser = positive_usize)]
    layers: Option<usize>,
    /// Attention heads, dividing --embd (default 4).
    #[arg(long, value_parser = positive_usize)]
    heads: Option<usize>,
    /// Embedding channels (default 128).
    #[arg(long, value_parser = positive_usize)]
    embd: Option<usize>,
    /// Context length in characters (default 64).
    #[arg(long, value_parser = positive_usize)]
    block_size: Option<usize>,
    /// Sequences per step.
    #[arg(long, default_value_t = 12, value_parser = positive_usize)]
    batch_size: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000, value_parser = positive_usize)]
    iters: usize,
    /// Dropout probability (default 0; with --init-from, the file's).
    #[arg(long, value_parser = super::args::fraction)]
    dropout: Option<f32>,
    /// Give Linear and LayerNorm layers biases.
    #[arg(long)]
    bias: bool,
    /// Do not tie the output projection to the token embedding.
    #[arg(long)]
    untied: bool,
    /// Fine-tune the GPT of this checkpoint instead of a new one: its layers, heads, channels,
    /// context, biases, tying and vocabulary come from the file (the flags that set them are
    /// refused), its dropout too unless --dropout is given; the text's characters must all be
    /// in its vocabulary.
    #[arg(long, value_name = "FILE")]
    init_from: Option<PathBuf>,
    /// Validate every this many steps.
    #[arg(long, default_value_t = 250, value_parser = positive_usize)]
    eval_every: usize,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// The most values the activations of one training step may hold, all
/// layers together: 2^32 (16 GiB of f32).
const MAX_STEP_VALUES: usize = 1 << 32;

/// Refuses, before it is built, a model too large for this machine
/// (`--embd 1000000`), naming the flag.
fn check_parameters(config: &GptConfig) -> Result<()> {
    // Invalid sizes (heads not dividing embd, ...) get the configuration's own error first.
    let shapes = config.parameter_shapes()?;
    let count =
        shapes.iter().try_fold(0usize, |n, (_, s)| n.checked_add(s.iter().try_fold(1usize, |p, &d| p.checked_mul(d))?));
    match count {
        Some(n) if n <= MAX_PARAMETERS => Ok(()),
        n => {
            let n = n.map_or("more than usize::MAX".to_string(), |n| n.to_string());
            // Blame the largest term: the position table (block x embd) or the blocks (layers x 12 embd^2).
            let (c, block) = (config.embd as f64, config.block_size as f64);
            let flag = if block * c > config.layers as f64 * 12.0 * c * c {
                "--block-size"
            } else if config.layers > config.embd {
                "--layers"
            } else {
                "--embd"
            };
            Err(Error::invalid(
                flag,
                format!("the model would have {n} parameters, more than the limit of {MAX_PARAMETERS}"),
            ))
        }
    }
}

/// Refuses, before its first step, a step too large for this machine
/// (`--batch-size 1000000`), naming the size furthest above its default. A
/// step is estimated at `batch x block` positions, each keeping about
/// `layers x (16 embd + 2 heads x block) + 2 vocab` values for backward (the
/// blocks' activations, attention weights, logits).
fn check_step(config: &GptConfig, batch: usize) -> Result<()> {
    let per_position = config
        .embd
        .checked_mul(16)
        .and_then(|c| c.checked_add(config.heads.checked_mul(config.block_size)?.checked_mul(2)?))
        .and_then(|v| v.checked_mul(config.layers))
        .and_then(|v| v.checked_add(config.vocab_size.checked_mul(2)?));
    let values = per_position.and_then(|v| v.checked_mul(batch)?.checked_mul(config.block_size));
    match values {
        Some(v) if v <= MAX_STEP_VALUES => Ok(()),
        v => {
            let v = v.map_or("more than usize::MAX".to_string(), |v| v.to_string());
            let ratios = [
                ("--batch-size", batch as f64 / 12.0),
                ("--block-size", config.block_size as f64 / 64.0),
                ("--layers", config.layers as f64 / 4.0),
                ("--embd", config.embd as f64 / 128.0),
            ];
            let flag = ratios.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map_or("--batch-size", |r| r.0);
            Err(Error::invalid(
                flag,
                format!(
                    "a step of {batch} x {} positions through {} layers of {} channels would keep about {v} values \
                     for backward, more than the limit of {MAX_STEP_VALUES} (16 GiB); use a smaller {flag}",
                    config.block_size, config.layers, config.embd
                ),
            ))
        }
    }
}

fn default_text() -> PathBuf {
    let local = PathBuf::from("data/tinyshakespeare/input.txt");
    if local.is_file() {
        return local;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tinyshakespeare/input.txt");
    if source.is_file() {
        source
    } else {
        local
    }
}

pub(crate) fn run(a: GptArgs) -> Result<()> {
    train(a)
        .map_err(|e| super::args::name_flags(e, &["vocab_size", "block_size", "layers", "heads", "embd", "dropout"]))
}

/// A new GPT as the flags describe it, for the vocabulary of `data`.
fn new_gpt(a: &GptArgs, data: &TextData) -> Result<Gpt> {
    let config = GptConfig {
        vocab_size: data.tokenizer.vocab_size(),
        block_size: a.block_size.unwrap_or(64),
        layers: a.layers.unwrap_or(4),
        heads: a.heads.unwrap_or(4),
        embd: a.embd.unwrap_or(128),
        dropout: a.dropout.unwrap_or(0.0),
        bias: a.bias,
        tied: !a.untied,
    };
    check_parameters(&config)?;
    Gpt::new(config, &mut Rng::new(a.run.seed))
}

/// With `--init-from` the file sets the GPT's shape: a flag that would set it too is refused.
fn refuse_shape_flags(a: &GptArgs) -> Result<()> {
    let given = [
        ("--layers", a.layers.is_some()),
        ("--heads", a.heads.is_some()),
        ("--embd", a.embd.is_some()),
        ("--block-size", a.block_size.is_some()),
        ("--bias", a.bias),
        ("--untied", a.untied),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(Error::invalid(
            *flag,
            "sets the shape of a new GPT; with --init-from the checkpoint's shape is kept (drop the flag)",
        )),
        None => Ok(()),
    }
}

fn train(mut a: GptArgs) -> Result<()> {
    a.optim.defaults = GPT_FLAGS;
    let folder = a.run.start()?;
    let path = a.text.clone().unwrap_or_else(default_text);
    let data = TextData::load(&path, 0.9)?;
    let (model, data) = match &a.init_from {
        Some(file) => {
            refuse_shape_flags(&a)?;
            let (mut model, tokenizer) = Gpt::from_checkpoint(&Checkpoint::load(file)?)?;
            if let Some(p) = a.dropout {
                model.set_dropout(p, a.run.seed)?;
            }
            let data = data.in_vocabulary(&tokenizer).map_err(|e| match e {
                Error::InvalidArgument { message, .. } => Error::format(&path, message),
                other => other,
            })?;
            folder.say(format_args!(
                "fine-tuning the GPT of {} ({} parameters)",
                file.display(),
                model.num_parameters()
            ));
            (model, data)
        }
        None => (new_gpt(&a, &data)?, data),
    };
    let c = model.config().clone();
    let lm = LmConfig {
        iters: a.iters,
        batch_size: a.batch_size,
        eval_every: a.eval_every,
        seed: a.run.seed,
        ..LmConfig::default()
    };
    let mut step = LmStep::new(&model, &data, &lm)?;
    check_step(model.config(), a.batch_size)?;
    let (optimizer, schedule) = a.optim.build(model.parameters(), a.iters, GPT_LR)?;
    let train_config = TrainConfig { schedule, clip_norm: a.optim.clip_norm(), ..lm.train_config() };
    folder.say(format_args!(
        "training a GPT ({} layers, {} heads, {} channels, context {}) with {} parameters on {} ({} train / {} validation characters, vocabulary {})",
        c.layers,
        c.heads,
        c.embd,
        c.block_size,
        model.num_parameters(),
        path.display(),
        data.train.len(),
        data.val.len(),
        data.tokenizer.vocab_size()
    ));
    let started = std::time::Instant::now();
    let records = folder
        .trainer(optimizer, train_config)?
        .on_epoch(|_| folder.save(|| model.save(&folder.model, &data.tokenizer)))
        .run(&mut step)?;
    if !folder.writes() {
        return Ok(());
    }
    if a.run.output.json {
        let summary = serde_json::json!({
            "val_loss": records.last().and_then(|r| r.val_loss), "steps": records.last().and_then(|r| r.step),
            "train_seconds": started.elapsed().as_secs_f32(), "model": folder.model, "history": folder.history,
        });
        println!("{summary}");
    } else {
        let last = records.last().and_then(|r| r.val_loss).unwrap_or(f32::NAN);
        println!("final validation loss {last:.4}; saved {} and {}", folder.model.display(), folder.history.display());
        let prompt = data.tokenizer.encode("\n").unwrap_or_else(|_| vec![0]);
        let sample = model.generate(&prompt, 200, 0.8, Some(40), &mut Rng::new(a.run.seed), |_| {});
        println!("sample:\n{}", data.tokenizer.decode(&sample[prompt.len()..]));
    }
    Ok(())
}
