//! `backprop train mnist`: an MLP on an IDX image folder.

use super::args::{fraction, layer_sizes, positive_usize, DataArg, LayerSizes};
use super::train_args::{check_model_size, LrDefaults, OptimArgs, RunArgs};
use backprop::data::load_mnist_dir;
use backprop::loss::Loss;
use backprop::models::{INPUT_KEY, LOSS_KEY};
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::tensor::Rng;
use backprop::train::{evaluate, TrainConfig};
use backprop::{Error, Result};
use clap::{Args, Subcommand};
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
    /// A reinforcement-learning agent (REINFORCE, A2C, DQN or PPO) on CartPole or Acrobot.
    Rl(super::train_rl::RlArgs),
}

/// The learning rates `train mnist` starts from: Adam's usual 1e-3; SGD's 0.1.
const MNIST_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-3, decay_matrices_only: false };

#[derive(Args, Debug)]
#[command(mut_arg("lr", |a| a.help("Learning rate (default 1e-3 for Adam/AdamW, 0.1 for SGD)")))]
pub(crate) struct MnistArgs {
    #[command(flatten)]
    data: DataArg,
    /// Hidden layer sizes, comma-separated.
    #[arg(long, default_value = "256,128", value_parser = layer_sizes, value_name = "SIZES")]
    hidden: LayerSizes,
    /// Activation of the hidden layers: sigmoid, hard-sigmoid, relu, tanh, gelu.
    #[arg(long, default_value = "relu")]
    activation: Activation,
    /// Loss: cross-entropy, mse, quadratic or l1 (the last three compare sigmoid outputs to one-hot labels).
    #[arg(long, default_value = "cross-entropy")]
    loss: Loss,
    /// Examples per step.
    #[arg(long, default_value_t = 64, value_parser = positive_usize)]
    batch_size: usize,
    /// Passes over the training set.
    #[arg(long, default_value_t = 15, value_parser = positive_usize)]
    epochs: usize,
    /// Fraction of the training set held out for validation each epoch.
    #[arg(long, default_value_t = 0.1, value_parser = fraction)]
    val_fraction: f32,
    /// Stop when the validation loss has not improved for this many epochs, and keep
    /// (save) the weights of the epoch with the lowest validation loss.
    #[arg(long, value_name = "PATIENCE", value_parser = positive_usize)]
    early_stopping: Option<usize>,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    run: RunArgs,
}

pub(crate) fn run(args: TrainArgs) -> Result<()> {
    match args.task {
        TrainTask::Mnist(a) => train_mnist(a),
        TrainTask::Csv(a) => super::train_csv::run(a),
        TrainTask::Gpt(a) => super::train_gpt::run(a),
        TrainTask::Images(a) => super::train_images::run(a),
        TrainTask::Rl(a) => super::train_rl::run(a),
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
    let folder = a.run.start()?;
    if a.early_stopping.is_some() && a.val_fraction == 0.0 {
        return Err(Error::invalid("--early-stopping", "it needs a validation set, but --val-fraction is 0"));
    }
    let dir = a.data.dir();
    let data = load_mnist_dir(&dir)?;
    let (train, val) = data.train.split_validation(a.val_fraction, a.run.seed);
    let mut config = MlpConfig::classifier(train.input_dim(), &a.hidden.0, train.num_classes, a.activation);
    if !a.loss.wants_logits() {
        config.output_activation = Activation::Sigmoid;
    }
    check_model_size(&config, "--hidden")?;
    let model = Mlp::new(config, &mut Rng::new(a.run.seed));
    let steps = train.len().div_ceil(a.batch_size) * a.epochs;
    let (optimizer, schedule) = a.optim.build(model.parameters(), steps, MNIST_LR)?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        loss: a.loss,
        schedule,
        clip_norm: a.optim.clip_norm(),
        ..Default::default()
    };
    folder.say(format_args!(
        "training {} on {} ({} train, {} validation, {} test images); {} parameters",
        describe(&model),
        dir.display(),
        train.len(),
        val.len(),
        data.test.len(),
        model.num_parameters()
    ));
    let mut meta = BTreeMap::new();
    if let Some([rows, cols]) = train.image_shape {
        meta.insert(INPUT_KEY.to_string(), format!("{{\"image\":[{rows},{cols}]}}"));
    }
    meta.insert(LOSS_KEY.into(), a.loss.to_string());
    let started = std::time::Instant::now();
    let mut trainer = folder.trainer(optimizer, config)?;
    if let Some(patience) = a.early_stopping {
        // Save whenever validation loss improves; training ends with the best weights restored.
        trainer = trainer.early_stopping(patience).on_improvement(|_| model.save(&folder.model, &meta));
    }
    let records = trainer.fit(&model, &train, Some(&val))?;
    drop(trainer);
    let train_seconds = started.elapsed().as_secs_f32();
    let test = evaluate(&model, &data.test, a.loss, 1000);
    model.save(&folder.model, &meta)?;
    if let Some(patience) = a.early_stopping {
        folder.say(early_stopping_note(&records, patience, a.epochs));
    }
    if a.run.output.json {
        let summary = serde_json::json!({
            "test_accuracy": test.accuracy, "test_loss": test.loss, "test_examples": data.test.len(),
            "train_seconds": train_seconds, "model": folder.model, "history": folder.history,
        });
        println!("{summary}");
    }
    folder.say(format_args!(
        "test accuracy {:.2}% ({} images), test loss {:.4}; trained in {:.1}s",
        100.0 * test.accuracy.unwrap_or(0.0),
        data.test.len(),
        test.loss,
        train_seconds
    ));
    folder.say_saved();
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
            "stopped early after epoch {}: validation loss did not improve for {patience} epoch{}; {kept}",
            records.len(),
            if patience == 1 { "" } else { "s" }
        )
    } else {
        format!("early stopping: ran all {epochs} epochs; {kept}")
    }
}

/// `MLP 784-256-128-10 (relu)`
pub(crate) fn describe(model: &Mlp) -> String {
    let c = model.config();
    let sizes: Vec<String> = c.sizes().iter().map(|s| s.to_string()).collect();
    format!("MLP {} ({})", sizes.join("-"), c.activation)
}
