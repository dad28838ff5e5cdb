//! `backprop train mnist`: an MLP on an IDX image folder.

use super::args::{fraction, layer_sizes, non_negative_f32, positive_f32, positive_usize, LayerSizes};
use backprop::data::load_mnist_dir;
use backprop::loss::Loss;
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Optimizer, Schedule, Sgd};
use backprop::tensor::Rng;
use backprop::train::{evaluate, HistoryWriter, OutputMode, TrainConfig, Trainer};
use backprop::{Error, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct TrainArgs {
    #[command(subcommand)]
    task: TrainTask,
}

#[derive(Subcommand, Debug)]
enum TrainTask {
    /// An MLP classifier on MNIST-style IDX images (default: the bundled data/mnist-10k).
    Mnist(MnistArgs),
    /// Regression on a CSV table (or a time series with --window).
    Csv(super::train_csv::CsvArgs),
    /// A character-level GPT on a text file (default: the bundled tiny Shakespeare).
    Gpt(super::train_gpt::GptArgs),
    /// Logistic regression or an MLP on images: an HDF5 file (cat/non-cat layout) or class folders.
    Images(super::train_images::ImagesArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OptimizerName {
    Sgd,
    Adam,
    Adamw,
}

#[derive(Args, Debug)]
pub(crate) struct MnistArgs {
    /// Folder with train-/t10k- images and labels in IDX format (.gz or raw).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Hidden layer sizes, comma-separated.
    #[arg(long, default_value = "256,128", value_parser = layer_sizes, value_name = "SIZES")]
    #[arg(allow_hyphen_values = true)]
    hidden: LayerSizes,
    /// Activation of the hidden layers: sigmoid, hard-sigmoid, relu, tanh, gelu.
    #[arg(long, default_value = "relu")]
    activation: Activation,
    /// Loss: cross-entropy, mse, quadratic or l1 (the last three compare sigmoid outputs to one-hot labels).
    #[arg(long, default_value = "cross-entropy")]
    loss: Loss,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerName,
    /// Learning rate (default 1e-3 for Adam/AdamW, 0.1 for SGD).
    #[arg(long, value_parser = positive_f32, allow_hyphen_values = true)]
    lr: Option<f32>,
    /// Momentum for SGD (0 = plain SGD).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f32, allow_hyphen_values = true)]
    momentum: f32,
    /// Use Nesterov momentum with SGD.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay (L2 for SGD/Adam, decoupled for AdamW).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f32, allow_hyphen_values = true)]
    weight_decay: f32,
    /// Learning-rate schedule: constant, or cosine decay to 0 over the run.
    #[arg(long, default_value = "cosine", value_parser = ["constant", "cosine"])]
    schedule: String,
    /// Clip gradients to this global norm.
    #[arg(long, value_parser = positive_f32, allow_hyphen_values = true)]
    clip: Option<f32>,
    /// Examples per step.
    #[arg(long, default_value_t = 64, value_parser = positive_usize, allow_hyphen_values = true)]
    batch_size: usize,
    /// Passes over the training set.
    #[arg(long, default_value_t = 15, value_parser = positive_usize, allow_hyphen_values = true)]
    epochs: usize,
    /// Fraction of the training set held out for validation each epoch.
    #[arg(long, default_value_t = 0.1, value_parser = fraction, allow_hyphen_values = true)]
    val_fraction: f32,
    /// Stop when the validation loss has not improved for this many epochs, and keep
    /// (save) the weights of the epoch with the lowest validation loss.
    #[arg(long, value_name = "PATIENCE", value_parser = positive_usize, allow_hyphen_values = true)]
    early_stopping: Option<usize>,
    /// Seed for initialisation, shuffling and the validation split.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    seed: u64,
    /// Run folder for model.safetensors and history.jsonl.
    #[arg(long, default_value = "runs/mnist", value_name = "DIR")]
    out: PathBuf,
    /// Threads for the kernels (default: all cores).
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// Print one JSON object per epoch and a final summary instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: TrainArgs) -> Result<()> {
    match args.task {
        TrainTask::Mnist(a) => train_mnist(a),
        TrainTask::Csv(a) => super::train_csv::run(a),
        TrainTask::Gpt(a) => super::train_gpt::run(a),
        TrainTask::Images(a) => super::train_images::run(a),
    }
}

/// The bundled MNIST subset: `data/mnist-10k` under the working directory, or in the source tree.
pub(crate) fn default_data_dir() -> PathBuf {
    let local = PathBuf::from("data/mnist-10k");
    if local.is_dir() {
        return local;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    if source.is_dir() {
        source
    } else {
        local
    }
}

fn train_mnist(a: MnistArgs) -> Result<()> {
    super::set_threads(a.threads)?;
    if a.early_stopping.is_some() && a.val_fraction == 0.0 {
        return Err(Error::invalid("--early-stopping", "it needs a validation set, but --val-fraction is 0"));
    }
    let dir = a.data.clone().unwrap_or_else(default_data_dir);
    let data = load_mnist_dir(&dir)?;
    let (train, val) = data.train.split_validation(a.val_fraction, a.seed);
    let mut config = MlpConfig::classifier(train.input_dim(), &a.hidden.0, train.num_classes, a.activation);
    if !a.loss.wants_logits() {
        config.output_activation = Activation::Sigmoid;
    }
    let model = Mlp::new(config, &mut Rng::new(a.seed));
    let optimizer = build_optimizer(&a, model.parameters());
    let steps_per_epoch = train.len().div_ceil(a.batch_size);
    let schedule = match a.schedule.as_str() {
        "cosine" => Schedule::Cosine { warmup: 0, total: steps_per_epoch * a.epochs, min_lr: 0.0 },
        _ => Schedule::Constant,
    };
    let output = if a.json { OutputMode::Json } else { OutputMode::Auto };
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        loss: a.loss,
        schedule,
        clip_norm: a.clip,
        output,
    };
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let history_path = a.out.join("history.jsonl");
    let model_path = a.out.join("model.safetensors");
    if !a.json {
        println!(
            "training {} on {} ({} train, {} validation, {} test images); {} parameters",
            describe(&model),
            dir.display(),
            train.len(),
            val.len(),
            data.test.len(),
            model.num_parameters()
        );
    }
    let mut meta = BTreeMap::new();
    if let Some([rows, cols]) = train.image_shape {
        meta.insert("backprop.input".to_string(), format!("{{\"image\":[{rows},{cols}]}}"));
    }
    meta.insert("backprop.loss".into(), a.loss.to_string());
    let started = std::time::Instant::now();
    let mut trainer = Trainer::new(&model, optimizer, config).with_history(HistoryWriter::create(&history_path)?);
    if let Some(patience) = a.early_stopping {
        // Save whenever validation loss improves; fit ends with the best weights restored.
        trainer = trainer.early_stopping(patience).on_improvement(|_| model.save(&model_path, &meta));
    }
    let records = trainer.fit(&train, Some(&val))?;
    drop(trainer);
    let train_seconds = started.elapsed().as_secs_f32();
    let test = evaluate(&model, &data.test, a.loss, 1000);
    model.save(&model_path, &meta)?;
    if let (Some(patience), false) = (a.early_stopping, a.json) {
        println!("{}", early_stopping_note(&records, patience, a.epochs));
    }
    if a.json {
        let summary = serde_json::json!({
            "test_accuracy": test.accuracy, "test_loss": test.loss, "test_examples": data.test.len(),
            "train_seconds": train_seconds, "model": model_path, "history": history_path,
        });
        println!("{summary}");
    } else {
        println!(
            "test accuracy {:.2}% ({} images), test loss {:.4}; trained in {:.1}s",
            100.0 * test.accuracy.unwrap_or(0.0),
            data.test.len(),
            test.loss,
            train_seconds
        );
        println!("saved {} and {}", model_path.display(), history_path.display());
    }
    Ok(())
}

/// `stopped early after epoch 9: validation loss did not improve for 3 epochs; kept epoch 6 (validation loss 0.1712)`
fn early_stopping_note(records: &[backprop::train::EpochRecord], patience: usize, epochs: usize) -> String {
    let kept = match backprop::train::diagnose(records).best {
        Some((epoch, loss)) => format!("kept epoch {epoch} (validation loss {loss:.4})"),
        None => "no validation loss was finite".to_string(),
    };
    if records.len() < epochs {
        format!(
            "stopped early after epoch {}: validation loss did not improve for {patience} epochs; {kept}",
            records.len()
        )
    } else {
        format!("early stopping: ran all {epochs} epochs; {kept}")
    }
}

fn build_optimizer(a: &MnistArgs, params: Vec<(String, backprop::Param)>) -> Box<dyn Optimizer> {
    match a.optimizer {
        OptimizerName::Sgd => Box::new(
            Sgd::new(params, a.lr.unwrap_or(0.1)).momentum(a.momentum, a.nesterov).weight_decay(a.weight_decay),
        ),
        OptimizerName::Adam => Box::new(Adam::new(params, a.lr.unwrap_or(1e-3)).weight_decay(a.weight_decay)),
        OptimizerName::Adamw => Box::new(Adam::adamw(params, a.lr.unwrap_or(1e-3), a.weight_decay)),
    }
}

/// `MLP 784-256-128-10 (relu)`
pub(crate) fn describe(model: &Mlp) -> String {
    let c = model.config();
    let sizes: Vec<String> = c.sizes().iter().map(|s| s.to_string()).collect();
    format!("MLP {} ({})", sizes.join("-"), c.activation)
}
