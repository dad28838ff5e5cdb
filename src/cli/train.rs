//! `backprop train mnist`: an MLP or a CNN on an IDX image folder.

use super::args::{fraction, layer_sizes, positive_usize, DataArg, LayerSizes};
use super::network::{build_cnn, ArchArg, Network};
use super::train_args::{check_model_size, total_steps, LrDefaults, OptimArgs, RunArgs};
use backprop::data::{load_mnist_dir_optional_test, Augment, Augmented, ImageShape, Supervised};
use backprop::loss::Loss;
use backprop::models::{CLASSES_KEY, INPUT_KEY, LOSS_KEY};
use backprop::nn::{Activation, Mlp, MlpConfig};
use backprop::tensor::Rng;
use backprop::train::{evaluate, TrainConfig};
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
    /// An MLP or CNN classifier on MNIST-style IDX images (default: the bundled data/mnist-10k).
    Mnist(MnistArgs),
    /// Regression on a CSV table (or a time series with --window).
    Csv(super::train_csv::CsvArgs),
    /// A character-level GPT on a text file (default: the bundled tiny Shakespeare).
    Gpt(super::train_gpt::GptArgs),
    /// Logistic regression or an MLP on images: an HDF5 file (cat/non-cat layout) or class folders.
    Images(super::train_images::ImagesArgs),
    /// An autoencoder (MLP or convolutional, optionally variational) on IDX images: anomaly scores
    /// for `backprop ood --method ae`.
    Autoencoder(super::train_autoencoder::AutoencoderArgs),
    /// A reinforcement-learning agent (REINFORCE, A2C, DQN or PPO) on CartPole or Acrobot.
    Rl(super::train_rl::RlArgs),
    /// A generative adversarial network (MLP or DCGAN, optionally conditional) on IDX images.
    Gan(super::train_gan::GanArgs),
}

/// The learning rates `train mnist` starts from: Adam's usual 1e-3; SGD's 0.1.
const MNIST_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-3, decay_matrices_only: false };

/// The networks `train mnist` trains.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MnistModel {
    /// A multi-layer perceptron (--hidden, --activation).
    Mlp,
    /// A convolutional network (--arch).
    Cnn,
}

#[derive(Args, Debug)]
#[command(mut_arg("lr", |a| a.help("Learning rate (default 1e-3 for Adam/AdamW, 0.1 for SGD)")))]
pub(crate) struct MnistArgs {
    #[command(flatten)]
    data: DataArg,
    /// The network: mlp, or cnn (default: cnn when --arch is given, else mlp).
    #[arg(long, value_enum)]
    model: Option<MnistModel>,
    #[command(flatten)]
    arch: ArchArg,
    /// Hidden layer sizes of the MLP, comma-separated (default 256,128).
    #[arg(long, value_parser = layer_sizes, value_name = "SIZES")]
    hidden: Option<LayerSizes>,
    /// Activation of the MLP's hidden layers: sigmoid, hard-sigmoid, relu, tanh, gelu (default relu).
    #[arg(long)]
    activation: Option<Activation>,
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
    /// Train on these classes only, e.g. 0-4 or 1,3,5 (relabelled from 0; their names are stored),
    /// leaving the others as the unknown for `backprop ood --out-classes`.
    #[arg(long, value_name = "LIST")]
    classes: Option<String>,
    /// Augment the training images, anew each epoch: random crops, shifts, rotations, shears and
    /// elastic distortions of the digits (Simard et al. 2003; the library's Augment::digits).
    #[arg(long)]
    augment: bool,
    #[command(flatten)]
    init: super::input_args::InitArg,
    #[command(flatten)]
    few: super::pretrain_args::FewLabelsArgs,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

impl TrainArgs {
    /// The run options (seed, folder, threads) of whichever task was asked for.
    pub(crate) fn run_args(&self) -> &RunArgs {
        match &self.task {
            TrainTask::Mnist(a) => &a.run,
            TrainTask::Csv(a) => &a.run,
            TrainTask::Gpt(a) => &a.run,
            TrainTask::Images(a) => &a.run,
            TrainTask::Autoencoder(a) => &a.run,
            TrainTask::Rl(a) => &a.run,
            TrainTask::Gan(a) => &a.run,
        }
    }
}

pub(crate) fn run(args: TrainArgs) -> Result<()> {
    match args.task {
        TrainTask::Mnist(a) => train_mnist(a),
        TrainTask::Csv(a) => super::train_csv::run(a),
        TrainTask::Gpt(a) => super::train_gpt::run(a),
        TrainTask::Images(a) => super::train_images::run(a),
        TrainTask::Rl(a) => super::train_rl::run(a),
        TrainTask::Gan(a) => super::train_gan::run(a),
        TrainTask::Autoencoder(a) => super::train_autoencoder::run(a),
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
    let kind = check_model_flags(&a)?;
    let dir = a.data.dir();
    // Without t10k- files (as train images without --test) the validation split is the test.
    let (train_set, test_set) = load_mnist_dir_optional_test(&dir)?;
    let names = match &a.classes {
        Some(list) => Some(
            backprop::data::parse_classes(list, train_set.num_classes).map_err(super::args::as_flag("--classes"))?,
        ),
        None => None,
    };
    if let Some(keep) = &names {
        if keep.len() < 2 {
            return Err(Error::invalid("--classes", format!("a classifier needs at least 2 classes, got {keep:?}")));
        }
        if let Some(empty) = keep.iter().find(|&&k| !train_set.labels.contains(&k)) {
            return Err(Error::invalid(
                "--classes",
                format!("no training example in {} has label {empty}", dir.display()),
            ));
        }
    }
    let (train_set, test_set) = match &names {
        Some(keep) => (
            train_set.keep_classes(keep, false).map_err(super::args::as_flag("--classes"))?,
            test_set.map(|t| t.keep_classes(keep, false)).transpose().map_err(super::args::as_flag("--classes"))?,
        ),
        None => (train_set, test_set),
    };
    if test_set.is_none() && a.val_fraction == 0.0 {
        let message =
            format!("{} has no t10k- test files and --val-fraction is 0: nothing to evaluate on", dir.display());
        return Err(Error::invalid("--val-fraction", message));
    }
    let (train, val) = train_set.split_validation(a.val_fraction, a.run.seed);
    let train = a.few.subset(train, a.run.seed, None)?;
    let (eval_name, eval_set) = match &test_set {
        Some(test) => ("test", test),
        None => ("validation", &val),
    };
    let (model, hidden_layers) = match kind {
        MnistModel::Mlp => {
            let hidden = a.hidden.as_ref().map_or_else(|| vec![256, 128], |h| h.0.clone());
            let activation = a.activation.unwrap_or(Activation::Relu);
            let mut config = MlpConfig::classifier(train.input_dim(), &hidden, train.num_classes, activation);
            if !a.loss.wants_logits() {
                config.output_activation = Activation::Sigmoid;
            }
            check_model_size(&config, "--hidden")?;
            (Network::Mlp(Mlp::new(config, &mut Rng::new(a.run.seed))), hidden.len())
        }
        MnistModel::Cnn => {
            let Some([rows, cols]) = train.image_shape else {
                return Err(Error::format(&dir, "holds vectors, not images: a CNN needs rows x columns images"));
            };
            let arch = a.arch.arch.as_deref().unwrap_or("lenet5");
            (Network::Cnn(build_cnn(arch, [1, rows, cols], train.num_classes, a.batch_size, a.run.seed)?), 1)
        }
    };
    let module = model.module();
    a.few.check_init(a.init.init)?;
    if let Some(note) = a.init.apply(module, hidden_layers) {
        eprintln!("{note}");
    }
    let (trained, encoder_note) = a.few.apply(&model)?;
    let steps = total_steps(train.len().div_ceil(a.batch_size * folder.ranks()), a.epochs)?;
    let scale = a.few.lr_scale(&model)?;
    let (optimizer, schedule) = a.optim.build_scaled(trained, steps, MNIST_LR, &scale)?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        loss: a.loss,
        schedule,
        clip_norm: a.optim.clip_norm(),
        eval_mode: a.few.eval_mode(),
        ..Default::default()
    };
    folder.say(format_args!(
        "training {} on {} ({} train, {} validation, {} test images); {} parameters",
        describe_network(&model),
        dir.display(),
        train.len(),
        val.len(),
        test_set.as_ref().map_or(0, |t| t.len()),
        module.num_parameters()
    ));
    if let Some(note) = encoder_note {
        folder.say(note);
    }
    let mut meta = BTreeMap::new();
    if let Some([rows, cols]) = train.image_shape {
        meta.insert(INPUT_KEY.to_string(), format!("{{\"image\":[{rows},{cols}]}}"));
    }
    meta.insert(LOSS_KEY.into(), a.loss.to_string());
    meta.extend(a.few.metadata());
    if let Some(keep) = &names {
        let names: Vec<String> = keep.iter().map(ToString::to_string).collect();
        meta.insert(CLASSES_KEY.into(), serde_json::to_string(&names).expect("strings serialize"));
    }
    let started = std::time::Instant::now();
    let mut trainer = folder.trainer(optimizer, config)?;
    if let Some(patience) = a.early_stopping {
        // Save whenever validation loss improves; training ends with the best weights restored.
        trainer = trainer.early_stopping(patience).on_improvement(|_| folder.save(|| model.save(&folder.model, &meta)));
    }
    let augmented;
    let train_data: &dyn Supervised = match (a.augment, train.image_shape) {
        (false, _) => &train,
        (true, Some([height, width])) => {
            let shape = ImageShape { height, width, channels: 1 };
            augmented = Augmented::new(&train, shape, Augment::digits(), a.run.seed)?;
            &augmented
        }
        (true, None) => {
            return Err(Error::invalid("--augment", format!("{} holds vectors, not images", dir.display())));
        }
    };
    let validation: &dyn Supervised = &val;
    let records =
        trainer.fit(module, train_data, Some(validation)).map_err(|e| super::args::name_flags(e, &["batch_size"]))?;
    drop(trainer);
    if !folder.writes() {
        return Ok(());
    }
    let train_seconds = started.elapsed().as_secs_f32();
    // With early stopping the trainer has put back the best epoch's weights and
    // (a CNN's) batch-norm statistics.
    model.save(&folder.model, &meta)?;
    let test = evaluate(module, eval_set, a.loss, 1000);
    if let Some(patience) = a.early_stopping {
        folder.say(early_stopping_note(&records, patience, a.epochs));
    }
    if a.run.output.json {
        let mut summary = serde_json::json!({
            "train_seconds": train_seconds, "model": folder.model, "history": folder.history,
        });
        summary[format!("{eval_name}_accuracy")] = test.accuracy.into();
        summary[format!("{eval_name}_loss")] = test.loss.into();
        summary[format!("{eval_name}_examples")] = eval_set.len().into();
        println!("{summary}");
    }
    folder.say(format_args!(
        "{eval_name} accuracy {:.2}% ({} images), {eval_name} loss {:.4}; trained in {:.1}s",
        100.0 * test.accuracy.unwrap_or(0.0),
        eval_set.len(),
        test.loss,
        train_seconds
    ));
    folder.say_saved();
    Ok(())
}

/// The network `--model` (or `--arch`) asks for, after refusing flags of the other kind.
fn check_model_flags(a: &MnistArgs) -> Result<MnistModel> {
    let kind = a.model.unwrap_or(if a.arch.arch.is_some() { MnistModel::Cnn } else { MnistModel::Mlp });
    match kind {
        MnistModel::Mlp if a.arch.arch.is_some() => {
            Err(Error::invalid("--arch", "sets a CNN's layers; an MLP's are set by --hidden (or use --model cnn)"))
        }
        MnistModel::Cnn if a.hidden.is_some() => {
            Err(Error::invalid("--hidden", "sets an MLP's layers; a CNN's are set by --arch"))
        }
        MnistModel::Cnn if a.activation.is_some() => {
            Err(Error::invalid("--activation", "applies to an MLP; a CNN's activations are part of --arch"))
        }
        MnistModel::Cnn if a.loss != Loss::CrossEntropy => {
            Err(Error::invalid("--loss", format!("a CNN is trained with cross-entropy on its logits, not {}", a.loss)))
        }
        _ => Ok(kind),
    }
}

/// `MLP 784-256-128-10 (relu)` or `CNN lenet5 (c6k5p2-...-fc10)`.
fn describe_network(model: &Network) -> String {
    match model {
        Network::Mlp(m) => describe(m),
        Network::Cnn(c) => c.describe(),
    }
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
