//! `backprop train images`: logistic regression, an MLP or a CNN on labelled
//! images from an HDF5 file (the cat/non-cat layout) or a folder of class folders.

use super::args::{fraction, layer_sizes, positive_usize, LayerSizes};
use super::input_args::{InitArg, Normalize, NormalizeArg};
use super::network::{build_cnn, ArchArg, Network};
use super::pretrain_args::FewLabelsArgs;
use super::train_args::{check_model_size, total_steps, LrDefaults, OptimArgs, RunArgs};
use backprop::data::{load_hdf5_images, load_image_folder, Augment, Augmented, Dataset, ImageShape, LabelledImages};
use backprop::loss::Loss;
use backprop::models::{PixelScale, CLASSES_KEY, INPUT_KEY, LOSS_KEY};
use backprop::nn::{Activation, Mlp, MlpConfig};
use backprop::tensor::Rng;
use backprop::train::{evaluate, Evaluation, TrainConfig};
use backprop::{Error, Result};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ModelKind {
    /// One linear layer and a sigmoid (softmax for more than two classes).
    Logistic,
    /// Hidden layers (--hidden, --activation), then the same output.
    Mlp,
    /// A convolutional network (--arch), then the same output.
    Cnn,
}

/// `train images`'s learning rates: 1e-3 for Adam, 0.005 for SGD, constant over the run.
const IMAGES_LR: LrDefaults = LrDefaults { sgd: 0.005, adam: 1e-3, decay_matrices_only: false };

#[derive(Args, Debug)]
#[command(
    mut_arg("out", |a| a.default_value("runs/images")),
    mut_arg("schedule", |a| a.default_value("constant")),
    mut_arg("lr", |a| a.help("Learning rate (default 1e-3 for Adam/AdamW, 0.005 for SGD)"))
)]
pub(crate) struct ImagesArgs {
    /// Training images: an HDF5 file with PREFIX_x / PREFIX_y datasets (e.g. train_catvnoncat.h5),
    /// or a folder with one subfolder of PNG/JPEG images per class.
    #[arg(long, value_name = "FILE.h5|DIR")]
    data: PathBuf,
    /// Test images, in either form (default: report on the validation split).
    #[arg(long, value_name = "FILE.h5|DIR")]
    test: Option<PathBuf>,
    /// logistic (one linear layer: logistic regression), mlp (--hidden layers first) or cnn
    /// (--arch) [default: cnn with --arch, logistic otherwise].
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    #[command(flatten)]
    arch: ArchArg,
    /// Augment the training images: each time an image is used, shift it by a random crop of
    /// its zero-padded self (up to 1/8 of its side) and mirror it left-right half of the time.
    #[arg(long)]
    augment: bool,
    /// Hidden layer sizes of the MLP, comma-separated (default 20,7,5).
    #[arg(long, value_parser = layer_sizes, value_name = "SIZES")]
    hidden: Option<LayerSizes>,
    /// Activation of the MLP's hidden layers: relu, sigmoid, tanh, hard-sigmoid, gelu (default relu).
    #[arg(long)]
    activation: Option<Activation>,
    /// Passes over the training images.
    #[arg(long, default_value_t = 50, value_parser = positive_usize)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    batch_size: usize,
    /// Side of the square every image of a folder is resized to (default 64; HDF5 images keep their
    /// size).
    #[arg(long, value_parser = positive_usize)]
    size: Option<usize>,
    /// Fraction of the training images held out for validation each epoch.
    #[arg(long, default_value_t = 0.1, value_parser = fraction)]
    val_fraction: f32,
    #[command(flatten)]
    normalize: NormalizeArg,
    #[command(flatten)]
    init: InitArg,
    #[command(flatten)]
    few: FewLabelsArgs,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

pub(crate) fn run(a: ImagesArgs) -> Result<()> {
    let folder = a.run.start()?;
    check_flags(&a)?;
    let full = load_images(&a.data, folder_shape(a.size, &a.data)?)?;
    let test = match &a.test {
        Some(path) => Some(load_test(path, &full)?),
        None => None,
    };
    let (train, val) = full.data.split_validation(a.val_fraction, a.run.seed);
    if train.is_empty() {
        let message = format!("{} leaves no training images ({} in all)", a.val_fraction, full.data.len());
        return Err(Error::invalid("--val-fraction", message));
    }
    let train = a.few.subset(train, a.run.seed, Some(&full.classes))?;
    // A pre-trained encoder's inputs are scaled as in pre-training.
    let encoder = a.few.load_encoder()?;
    let stored = encoder.as_ref().map(FewLabelsArgs::encoder_scale).transpose()?.flatten();
    let stored = stored.filter(|_| a.normalize.normalize == Normalize::Standard);
    let norm = stored.unwrap_or_else(|| pixel_scale(a.normalize.normalize, &train));
    let (train, val) = (norm.apply(train), norm.apply(val));
    let test = test.map(|mut t| {
        t.data = norm.apply(t.data);
        t
    });
    let classes = &full.classes;
    let binary = classes.len() == 2;
    let loss = if binary { Loss::Bce } else { Loss::CrossEntropy };
    let model = build_network(&a, full.shape, classes.len())?;
    let module = model.module();
    let hidden_layers = match &model {
        Network::Mlp(mlp) => mlp.config().hidden.len(),
        Network::Cnn(_) => 1,
    };
    a.few.check_init(a.init.init)?;
    if let Some(note) = a.init.apply(module, hidden_layers) {
        eprintln!("{note}");
    }
    let (trained, encoder_note) = a.few.apply_scaled(&model, encoder.as_ref(), Some(a.normalize.normalize))?;
    let steps = total_steps(train.len().div_ceil(a.batch_size * folder.ranks()), a.epochs)?;
    let scale = a.few.lr_scale(&model)?;
    let (optimizer, schedule) = a.optim.build_scaled(trained, steps, IMAGES_LR, &scale)?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        loss,
        schedule,
        clip_norm: a.optim.clip_norm(),
        eval_mode: a.few.eval_mode(),
        ..Default::default()
    };
    let test_text = test.as_ref().map_or(String::new(), |t| format!(", {} test", t.data.len()));
    folder.say(format_args!(
        "training {} on {} ({} train, {} validation{test_text} images of {}; classes {}); {} parameters",
        describe(&model, binary),
        a.data.display(),
        train.len(),
        val.len(),
        full.shape,
        classes.join(", "),
        module.num_parameters()
    ));
    if let Some(note) = encoder_note {
        folder.say(note);
    }
    let augment = if a.augment { Augment::photos(full.shape) } else { Augment::NONE };
    let augmented = Augmented::new(&train, full.shape, augment, a.run.seed)?;
    let validation = Augmented::new(&val, full.shape, Augment::NONE, a.run.seed)?;
    let started = std::time::Instant::now();
    folder
        .trainer(optimizer, config)?
        .fit(module, &augmented, Some(&validation))
        .map_err(|e| super::args::name_flags(e, &["batch_size"]))?;
    let train_seconds = started.elapsed().as_secs_f32();
    if !folder.writes() {
        return Ok(());
    }
    let mut meta = metadata(&full, loss, norm);
    meta.extend(a.few.metadata());
    model.save(&folder.model, &meta)?;
    let (eval_name, eval_count, eval) = match &test {
        Some(t) => ("test", t.data.len(), Some(evaluate(module, &t.data, loss, 1000))),
        None if !val.is_empty() => ("validation", val.len(), Some(evaluate(module, &val, loss, 1000))),
        None => ("validation", 0, None),
    };
    let positive = binary.then(|| classes[1].as_str());
    if a.run.output.json {
        let summary = serde_json::json!({
            "evaluated_on": eval.map(|_| eval_name), "accuracy": eval.and_then(|e| e.accuracy),
            "precision": eval.and_then(|e| e.precision), "recall": eval.and_then(|e| e.recall),
            "loss": eval.map(|e| e.loss), "examples": eval_count, "positive_class": positive,
            "classes": classes, "train_seconds": train_seconds, "model": folder.model, "history": folder.history,
        });
        println!("{summary}");
    }
    match eval {
        Some(e) => folder
            .say(format_args!("{}; trained in {train_seconds:.1}s", summary_line(eval_name, eval_count, &e, positive))),
        None => {
            folder.say(format_args!("no test set (--test) and no validation split; trained in {train_seconds:.1}s"))
        }
    }
    folder.say_saved();
    Ok(())
}

/// `test accuracy 95.00% (20 images), precision 100.00% and recall 90.00% for 'cat', test loss 0.1234`
fn summary_line(name: &str, count: usize, e: &Evaluation, positive: Option<&str>) -> String {
    let pct = |v: Option<f32>| format!("{:.2}%", 100.0 * v.unwrap_or(0.0));
    let mut line = format!("{name} accuracy {} ({count} images)", pct(e.accuracy));
    if let (Some(class), Some(_), Some(_)) = (positive, e.precision, e.recall) {
        line += &format!(", precision {} and recall {} for '{class}'", pct(e.precision), pct(e.recall));
    }
    line + &format!(", {name} loss {:.4}", e.loss)
}

/// Flag combinations that make no sense, rejected before reading any data.
impl ImagesArgs {
    /// `--model`, or what `--arch` implies (a CNN; logistic regression without it).
    fn kind(&self) -> ModelKind {
        self.model.unwrap_or(if self.arch.arch.is_some() { ModelKind::Cnn } else { ModelKind::Logistic })
    }
}

fn check_flags(a: &ImagesArgs) -> Result<()> {
    let model = a.kind();
    if model == ModelKind::Logistic && a.hidden.as_ref().is_some_and(|h| !h.0.is_empty()) {
        return Err(Error::invalid("--hidden", "logistic regression has no hidden layers (use --model mlp)"));
    }
    if model == ModelKind::Logistic && a.activation.is_some() {
        return Err(Error::invalid("--activation", "logistic regression has no hidden activation (use --model mlp)"));
    }
    if model != ModelKind::Cnn && a.arch.arch.is_some() {
        return Err(Error::invalid("--arch", "sets a CNN's layers (use --model cnn)"));
    }
    if model == ModelKind::Cnn && a.hidden.is_some() {
        return Err(Error::invalid("--hidden", "sets an MLP's layers; a CNN's are set by --arch"));
    }
    if model == ModelKind::Cnn && a.activation.is_some() {
        return Err(Error::invalid("--activation", "applies to an MLP; a CNN's activations are part of --arch"));
    }
    Ok(())
}

/// The shape the images of a folder at `path` are resized to: `--size`
/// (`size`, default 64) RGB, at most 4096 (a larger side is a typo, and its
/// images would not fit in memory). An HDF5 file's images keep their size:
/// `--size` given with one is an error rather than ignored.
pub(crate) fn folder_shape(size: Option<usize>, path: &Path) -> Result<ImageShape> {
    if size.is_some() && path.is_file() {
        let message =
            format!("resizes folder images; {} is an HDF5 file, whose images keep their size", path.display());
        return Err(Error::invalid("--size", message));
    }
    let size = size.unwrap_or(64);
    if size > 4096 {
        return Err(Error::invalid("--size", format!("must be at most 4096, got {size}")));
    }
    Ok(ImageShape::rgb(size))
}

/// The scaling `--normalize` asks for, fitted on `train` for `standard`.
pub(crate) fn pixel_scale(normalize: Normalize, train: &Dataset) -> PixelScale {
    fixed_scale(normalize).unwrap_or_else(|| PixelScale::fit(train))
}

/// The scale of `none` (pixels 0-255) and `unit` ([0, 1]); `standard`'s is fitted.
fn fixed_scale(normalize: Normalize) -> Option<PixelScale> {
    match normalize {
        Normalize::None => Some(PixelScale { mean: 0.0, std: 1.0 / 255.0 }),
        Normalize::Unit => Some(PixelScale { mean: 0.0, std: 1.0 }),
        Normalize::Standard => None,
    }
}

/// The `--normalize` that gives the scale `text` (a [`PixelScale`]'s
/// metadata, `{"mean":M,"std":S}`, as an encoder stores it): `none` and
/// `unit` are fixed scales, any other is `standard`'s, fitted to the images.
/// `None` when `text` is not such a scale.
pub(crate) fn normalize_of(text: &str) -> Option<Normalize> {
    let PixelScale { mean, std } = PixelScale::from_metadata(text).ok()?;
    let same = |a: f32, b: f32| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
    let fixed = [Normalize::None, Normalize::Unit]
        .into_iter()
        .find(|&n| fixed_scale(n).is_some_and(|s| same(mean, s.mean) && same(std, s.std)));
    Some(fixed.unwrap_or(Normalize::Standard))
}

/// Images from an HDF5 file (`.h5`/`.hdf5`, or any file) or a folder of class folders.
pub(crate) fn load_images(path: &Path, folder_shape: ImageShape) -> Result<LabelledImages> {
    if !path.exists() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such HDF5 file or image folder");
        return Err(Error::io(path, e));
    }
    if path.is_file() {
        load_hdf5_images(path)
    } else {
        load_image_folder(path, folder_shape)
    }
}

/// The test set, at the training images' size, labelled by the training classes.
fn load_test(path: &Path, train: &LabelledImages) -> Result<LabelledImages> {
    let test = load_images(path, train.shape)?;
    if test.shape != train.shape {
        return Err(Error::format(
            path,
            format!("test images are {} but the training images are {}", test.shape, train.shape),
        ));
    }
    test.relabel(&train.classes, path)
}

/// The network `--model` asks for: one logit for two classes (sigmoid + binary
/// cross-entropy), else one per class (softmax).
fn build_network(a: &ImagesArgs, shape: ImageShape, classes: usize) -> Result<Network> {
    let outputs = if classes == 2 { 1 } else { classes };
    let (hidden, activation) = match a.kind() {
        ModelKind::Cnn => {
            let arch = a.arch.arch.as_deref().unwrap_or("vgg-small");
            let input = [shape.channels, shape.height, shape.width];
            return Ok(Network::Cnn(build_cnn(arch, input, outputs, a.batch_size, a.run.seed)?));
        }
        // No hidden layer, so no hidden activation; Xavier initialisation.
        ModelKind::Logistic => (Vec::new(), Activation::Identity),
        ModelKind::Mlp => (
            a.hidden.as_ref().map_or_else(|| vec![20, 7, 5], |h| h.0.clone()),
            a.activation.unwrap_or(Activation::Relu),
        ),
    };
    let config = MlpConfig::classifier(shape.len(), &hidden, outputs, activation);
    check_model_size(&config, "--hidden")?;
    Ok(Network::Mlp(Mlp::new(config, &mut Rng::new(a.run.seed))))
}

/// What `predict` needs: the image size and channels, the class names, the loss, the pixel scale.
fn metadata(images: &LabelledImages, loss: Loss, norm: PixelScale) -> BTreeMap<String, String> {
    let s = images.shape;
    let input = serde_json::json!({ "image": [s.height, s.width], "channels": s.channels });
    let mut meta = BTreeMap::new();
    meta.insert(INPUT_KEY.to_string(), input.to_string());
    meta.insert(CLASSES_KEY.to_string(), serde_json::to_string(&images.classes).expect("strings serialize"));
    meta.insert(LOSS_KEY.to_string(), loss.to_string());
    meta.extend([norm.to_metadata()]);
    meta
}

/// `logistic regression 12288-1 (sigmoid)`, `MLP 12288-20-7-5-1 (relu)` or `CNN vgg-small (...) (sigmoid output)`
fn describe(model: &Network, binary: bool) -> String {
    let output = if binary { "sigmoid" } else { "softmax" };
    let model = match model {
        Network::Mlp(m) => m,
        Network::Cnn(c) => return format!("{} ({output} output)", c.describe()),
    };
    let c = model.config();
    let sizes: Vec<String> = c.sizes().iter().map(|s| s.to_string()).collect();
    if c.hidden.is_empty() {
        format!("logistic regression {} ({output})", sizes.join("-"))
    } else {
        format!("MLP {} ({}, {output} output)", sizes.join("-"), c.activation)
    }
}
