//! `backprop train gpt`: a character-level GPT on a text file (default: tiny Shakespeare).

use super::args::{non_negative_f32, positive_f32, positive_usize};
use crate::data::TextData;
use crate::nn::{Gpt, GptConfig, Module};
use crate::tensor::Rng;
use crate::train::{train_lm, LmConfig, OutputMode};
use crate::{Error, Result};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct GptArgs {
    /// UTF-8 text to learn (default: the bundled data/tinyshakespeare/input.txt).
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4, value_parser = positive_usize, allow_hyphen_values = true)]
    layers: usize,
    /// Attention heads (must divide --embd).
    #[arg(long, default_value_t = 4, value_parser = positive_usize, allow_hyphen_values = true)]
    heads: usize,
    /// Embedding channels.
    #[arg(long, default_value_t = 128, value_parser = positive_usize, allow_hyphen_values = true)]
    embd: usize,
    /// Context length in characters.
    #[arg(long, default_value_t = 64, value_parser = positive_usize, allow_hyphen_values = true)]
    block_size: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 12, value_parser = positive_usize, allow_hyphen_values = true)]
    batch_size: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000, value_parser = positive_usize, allow_hyphen_values = true)]
    iters: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_f32, allow_hyphen_values = true)]
    lr: f32,
    /// Warmup steps.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Final learning rate of the cosine decay.
    #[arg(long, default_value_t = 1e-4, value_parser = non_negative_f32, allow_hyphen_values = true)]
    min_lr: f32,
    /// AdamW weight decay (matrices only).
    #[arg(long, default_value_t = 0.1, value_parser = non_negative_f32, allow_hyphen_values = true)]
    weight_decay: f32,
    /// Clip the global gradient norm (0 disables).
    #[arg(long, default_value_t = 1.0, value_parser = non_negative_f32, allow_hyphen_values = true)]
    grad_clip: f32,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.0, value_parser = super::args::fraction, allow_hyphen_values = true)]
    dropout: f32,
    /// Give Linear and LayerNorm layers biases.
    #[arg(long)]
    bias: bool,
    /// Do not tie the output projection to the token embedding.
    #[arg(long)]
    untied: bool,
    /// Validate every this many steps.
    #[arg(long, default_value_t = 250, value_parser = positive_usize, allow_hyphen_values = true)]
    eval_every: usize,
    /// Seed for initialisation and batch sampling.
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Run folder for model.safetensors and history.jsonl.
    #[arg(long, default_value = "runs/gpt", value_name = "DIR")]
    out: PathBuf,
    /// Threads for the kernels.
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// One JSON object per validation point instead of text.
    #[arg(long)]
    json: bool,
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

/// Rewrites a library error that names a [`GptConfig`] field (`block_size`,
/// `heads`, ...) to name the flag that sets it (`--block-size`, `--heads`).
fn flag_names(e: Error) -> Error {
    let Error::InvalidArgument { name, message } = e else { return e };
    let flag = match name.as_str() {
        "block_size" => "--block-size",
        "layers" => "--layers",
        "heads" => "--heads",
        "embd" => "--embd",
        "dropout" => "--dropout",
        _ => return Error::InvalidArgument { name, message },
    };
    Error::InvalidArgument { name: flag.into(), message }
}

pub(crate) fn run(a: GptArgs) -> Result<()> {
    super::set_threads(a.threads)?;
    let path = a.text.clone().unwrap_or_else(default_text);
    let data = TextData::load(&path, 0.9)?;
    let config = GptConfig {
        vocab_size: data.tokenizer.vocab_size(),
        block_size: a.block_size,
        layers: a.layers,
        heads: a.heads,
        embd: a.embd,
        dropout: a.dropout,
        bias: a.bias,
        tied: !a.untied,
    };
    let model = Gpt::new(config, &mut Rng::new(a.seed)).map_err(flag_names)?;
    let cfg = LmConfig {
        iters: a.iters,
        batch_size: a.batch_size,
        lr: a.lr,
        min_lr: a.min_lr,
        warmup: a.warmup,
        weight_decay: a.weight_decay,
        grad_clip: (a.grad_clip > 0.0).then_some(a.grad_clip),
        eval_every: a.eval_every,
        seed: a.seed,
        ..LmConfig::default()
    };
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let model_path = a.out.join("model.safetensors");
    let history_path = a.out.join("history.jsonl");
    let mut history = std::fs::File::create(&history_path).map_err(|e| Error::io(&history_path, e))?;
    if !a.json {
        println!(
            "training a GPT ({} layers, {} heads, {} channels, context {}) with {} parameters on {} ({} train / {} validation characters, vocabulary {})",
            a.layers,
            a.heads,
            a.embd,
            a.block_size,
            model.num_parameters(),
            path.display(),
            data.train.len(),
            data.val.len(),
            data.tokenizer.vocab_size()
        );
    }
    let output = if a.json { OutputMode::Json } else { OutputMode::Auto };
    let records = train_lm(&model, &data, &cfg, output, |r| {
        let line = serde_json::to_string(r).expect("records serialize");
        writeln!(history, "{line}").map_err(|e| Error::io(&history_path, e))?;
        model.save(&model_path, &data.tokenizer)
    })
    .map_err(flag_names)?;
    if !a.json {
        let last = records.last().expect("at least one validation point");
        println!(
            "final validation loss {:.4}; saved {} and {}",
            last.val_loss,
            model_path.display(),
            history_path.display()
        );
        let prompt = data.tokenizer.encode("\n").unwrap_or_else(|_| vec![0]);
        let sample = model.generate(&prompt, 200, 0.8, Some(40), &mut Rng::new(a.seed), |_| {});
        println!("sample:\n{}", data.tokenizer.decode(&sample[prompt.len()..]));
    }
    Ok(())
}
