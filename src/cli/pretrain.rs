//! `backprop pretrain`: self-supervised pre-training of an encoder on the
//! images of an IDX folder, an HDF5 file or a folder of class folders, their
//! labels ignored.

use super::args::{layer_sizes, positive_f32, positive_usize, LayerSizes};
use super::input_args::Normalize;
use super::network::{build_cnn, ArchArg, Network};
use super::train::{describe, MnistModel};
use super::train_args::{check_model_size, total_steps, LrDefaults, OptimArgs, RunArgs};
use backprop::data::{load_mnist_train_images, ImageShape};
use backprop::nn::{Activation, Arch, LayerSpec, Mlp, MlpConfig};
use backprop::pretrain::{PretrainConfig, PretrainStep, Task, TASK_KEY};
use backprop::tensor::{Rng, Tensor};
use backprop::train::TrainConfig;
use backprop::{Error, Result};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Pre-training starts from Adam's usual 1e-3 (SGD: 0.1).
const PRETRAIN_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-3, decay_matrices_only: false };

/// The self-supervised tasks.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TaskName {
    /// Predict the rotation (0, 90, 180, 270 degrees) of each image (Gidaris et al. 2018).
    Rotation,
    /// SimCLR: NT-Xent over two random views (crops, shifts, rotations, shears, noise) of each image
    /// (Chen et al. 2020).
    Contrastive,
    /// A denoising autoencoder: reconstruct each image from a noisy copy (Vincent et al. 2008).
    Denoise,
}

impl From<TaskName> for Task {
    fn from(t: TaskName) -> Task {
        match t {
            TaskName::Rotation => Task::Rotation,
            TaskName::Contrastive => Task::Contrastive,
            TaskName::Denoise => Task::Denoise,
        }
    }
}

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.default_value("runs/pretrain")))]
pub(crate) struct PretrainArgs {
    /// The images: an IDX folder (train-images file; default: the bundled data/mnist-10k), or, as
    /// train images reads them, an HDF5 file or a folder with one subfolder of PNG/JPEG images per
    /// class. Labels are ignored.
    #[arg(long, value_name = "DIR|FILE.h5")]
    data: Option<PathBuf>,
    /// Side of the square every image of a class folder is resized to (default 64; as train images;
    /// HDF5 images keep their size).
    #[arg(long, value_parser = positive_usize)]
    size: Option<usize>,
    /// Input scaling of HDF5 and folder images, as train images applies it (default standard): none,
    /// unit or standard. IDX images are always pixels in [0, 1], as train mnist reads them.
    #[arg(long, value_enum)]
    normalize: Option<Normalize>,
    /// The task the images set themselves.
    #[arg(long, value_enum)]
    task: TaskName,
    /// The network whose encoder is trained, as train mnist builds it: mlp, or cnn (default: cnn
    /// when --arch is given, else mlp).
    #[arg(long, value_enum)]
    model: Option<MnistModel>,
    #[command(flatten)]
    arch: ArchArg,
    /// Hidden layer sizes of the MLP, comma-separated (default 256,128).
    #[arg(long, value_parser = layer_sizes, value_name = "SIZES")]
    hidden: Option<LayerSizes>,
    /// Activation of the MLP's hidden layers (default relu).
    #[arg(long)]
    activation: Option<Activation>,
    /// Images per step (a contrastive step sees each twice).
    #[arg(long, default_value_t = 256, value_parser = positive_usize)]
    batch_size: usize,
    /// Passes over the images.
    #[arg(long, default_value_t = 10, value_parser = positive_usize)]
    epochs: usize,
    /// Use only the first N training images.
    #[arg(long, value_name = "N", value_parser = positive_usize)]
    limit: Option<usize>,
    /// NT-Xent's temperature, 0.01 to 10 (contrastive; default 0.5).
    #[arg(long, value_parser = positive_f32)]
    temperature: Option<f32>,
    /// Batch norm in the projection head's hidden layer, as SimCLR's head (contrastive; default off).
    #[arg(long)]
    projection_bn: bool,
    /// Standard deviation of the Gaussian noise added to the pixels (0 to 1): of each view
    /// (contrastive, default 0.1) or of the input to denoise (default 0.4).
    #[arg(long, value_parser = super::args::non_negative_f32)]
    noise: Option<f32>,
    /// Rotate each view by a random angle of up to DEG degrees either way, 0 to 180
    /// (contrastive; default 20, 0 turns it off).
    #[arg(long, value_name = "DEG", value_parser = super::args::non_negative_f32)]
    rotation: Option<f32>,
    /// Shear each view horizontally by a random angle of up to DEG degrees either way, 0 to 60
    /// (contrastive; default 15, 0 turns it off).
    #[arg(long, value_name = "DEG", value_parser = super::args::non_negative_f32)]
    shear: Option<f32>,
    /// Distort each view elastically (Simard et al. 2003) by a random displacement field of
    /// strength PX pixels (contrastive; default 34, 0 turns it off).
    #[arg(long, value_name = "PX", value_parser = super::args::non_negative_f32)]
    elastic_alpha: Option<f32>,
    /// Standard deviation in pixels of the Gaussian that smooths the elastic displacement field
    /// (contrastive; default 4).
    #[arg(long, value_name = "PX", value_parser = positive_f32)]
    elastic_sigma: Option<f32>,
    /// Thicken or thin each view's strokes by a random amount of up to PX pixels on each side
    /// (grey-scale dilation or erosion), 0 to 3 (contrastive; default 0, off).
    #[arg(long, value_name = "PX", value_parser = super::args::non_negative_f32)]
    stroke: Option<f32>,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

pub(crate) fn run(a: PretrainArgs) -> Result<()> {
    a.run.single_process("self-supervised pre-training runs on one process")?;
    let folder = a.run.start_as("encoder.safetensors")?;
    let task = Task::from(a.task);
    if a.task == TaskName::Rotation && a.noise.is_some() {
        return Err(Error::invalid("--noise", "applies to the contrastive and denoise tasks, not rotation"));
    }
    // Flags of the contrastive task only, each with what it sets.
    let contrastive_flags = [
        ("--temperature", a.temperature.is_some(), "NT-Xent's temperature"),
        ("--projection-bn", a.projection_bn, "the projection head"),
        ("--rotation", a.rotation.is_some(), "the views"),
        ("--shear", a.shear.is_some(), "the views"),
        ("--elastic-alpha", a.elastic_alpha.is_some(), "the views"),
        ("--elastic-sigma", a.elastic_sigma.is_some(), "the views"),
        ("--stroke", a.stroke.is_some(), "the views"),
    ];
    if let Some((flag, _, what)) =
        contrastive_flags.iter().find(|(_, set, _)| *set).filter(|_| a.task != TaskName::Contrastive)
    {
        let message = format!("sets {what} of the contrastive task, not of {}", task.name());
        return Err(Error::invalid(*flag, message));
    }
    let dir = a.data.clone().unwrap_or_else(super::train::default_data_dir);
    let Unlabelled { mut images, shape, classes, mut meta } = load_unlabelled(&a, &dir)?;
    if let Some(n) = a.limit {
        images = images.narrow(0, 0, n.min(images.dim(0)));
    }
    // The output layer is built and dropped: the data's classes where there are labels, else 10.
    let outputs = classes.unwrap_or(10);
    let kind = a.model.unwrap_or(if a.arch.arch.is_some() { MnistModel::Cnn } else { MnistModel::Mlp });
    let model = match kind {
        MnistModel::Mlp => {
            if a.arch.arch.is_some() {
                return Err(Error::invalid("--arch", "sets a CNN's layers; an MLP's are set by --hidden"));
            }
            let hidden = a.hidden.as_ref().map_or_else(|| vec![256, 128], |h| h.0.clone());
            if hidden.is_empty() {
                return Err(Error::invalid("--hidden", "an MLP without hidden layers has no encoder to pre-train"));
            }
            let activation = a.activation.unwrap_or(Activation::Relu);
            let config = MlpConfig::classifier(images.dim(1), &hidden, outputs, activation);
            check_model_size(&config, "--hidden")?;
            Network::Mlp(Mlp::new(config, &mut Rng::new(a.run.seed)))
        }
        MnistModel::Cnn => {
            if a.hidden.is_some() || a.activation.is_some() {
                let flag = if a.hidden.is_some() { "--hidden" } else { "--activation" };
                return Err(Error::invalid(flag, "applies to an MLP; a CNN's layers are set by --arch"));
            }
            let arch = a.arch.arch.as_deref().unwrap_or("lenet5");
            refuse_last_fc(arch, classes)?;
            let input = [shape.channels, shape.height, shape.width];
            Network::Cnn(build_cnn(arch, input, outputs, 2 * a.batch_size, a.run.seed)?)
        }
    };
    let backbone = model.backbone();
    let defaults = PretrainConfig::new(task);
    let temperature = a.temperature.unwrap_or(defaults.temperature);
    let mut config = PretrainConfig { batch_size: a.batch_size, temperature, seed: a.run.seed, ..defaults };
    if let Some(noise) = a.noise {
        config.views.noise = noise;
        config.denoise_noise = noise;
    }
    let views = &mut config.views;
    views.rotation = a.rotation.unwrap_or(views.rotation);
    views.shear = a.shear.unwrap_or(views.shear);
    views.elastic_alpha = a.elastic_alpha.unwrap_or(views.elastic_alpha);
    views.elastic_sigma = a.elastic_sigma.unwrap_or(views.elastic_sigma);
    views.stroke = a.stroke.unwrap_or(views.stroke);
    config.projection_batch_norm = a.projection_bn;
    let flags =
        ["batch_size", "task", "rotation", "shear", "elastic_alpha", "elastic_sigma", "stroke", "noise", "temperature"];
    // Too few images: what --limit kept, or what the folder holds.
    let images_flag = if a.limit.is_some() { "--limit" } else { "--data" };
    let mut step = PretrainStep::new(backbone, &images, shape, config).map_err(|e| match e {
        Error::InvalidArgument { name, message } if name == "images" => Error::invalid(images_flag, message),
        e => super::args::name_flags(e, &flags),
    })?;
    let params = step.parameters();
    let trained: usize = params.iter().map(|(_, p)| p.numel()).sum();
    let encoder_parameters: usize = backbone.encoder_parameters().iter().map(|(_, p)| p.numel()).sum();
    let steps = total_steps(images.dim(0).div_ceil(a.batch_size), a.epochs)?;
    let (optimizer, schedule) = a.optim.build(params, steps, PRETRAIN_LR)?;
    let train = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        schedule,
        clip_norm: a.optim.clip_norm(),
        ..Default::default()
    };
    let network = match &model {
        Network::Mlp(m) => describe(m),
        Network::Cnn(c) => c.describe(),
    };
    folder.say(format_args!(
        "pre-training the encoder of {network} ({} features; the output layer is dropped) on {} unlabelled images of {} by {}; \
         {encoder_parameters} parameters in the encoder, {trained} with the head",
        backbone.feature_dim(),
        images.dim(0),
        dir.display(),
        task.name()
    ));
    meta.insert(TASK_KEY.to_string(), task.name().to_string());
    let started = std::time::Instant::now();
    let records =
        folder.trainer(optimizer, train)?.on_epoch(|_| backbone.save_encoder(&folder.model, &meta)).run(&mut step)?;
    let seconds = started.elapsed().as_secs_f32();
    let last = records.last().map_or(f32::NAN, |r| r.train_loss);
    if a.run.output.json {
        let summary = serde_json::json!({
            "task": task.name(), "train_loss": last, "train_seconds": seconds,
            "encoder": folder.model, "history": folder.history, "parameters": encoder_parameters,
            "parameters_with_head": trained,
        });
        println!("{summary}");
    }
    folder.say(format_args!(
        "{} loss {last:.4} after {} epoch{}; pre-trained in {seconds:.1}s",
        task.name(),
        records.len(),
        if records.len() == 1 { "" } else { "s" }
    ));
    folder.say_saved();
    Ok(())
}

/// An architecture ending in `fc<n>` has its output layer written out, which pre-training
/// drops: it must fit the data's classes, and without labels (an IDX folder, whose labels are
/// not read) there are none to fit. Such an `n` was meant as the encoder's last layer: say how
/// to write that.
fn refuse_last_fc(arch: &str, classes: Option<usize>) -> Result<()> {
    match last_fc(arch) {
        Some(n) if Some(n) != classes => {
            let data = classes.map_or("the images are unlabelled".to_string(), |c| format!("the data has {c} classes"));
            Err(Error::invalid(
                "--arch",
                format!(
                    "ends with fc{n}, read as a classifier's output layer, which pre-training drops ({data}); \
                     for an encoder whose last layer is fc{n}, end it with an activation (`...-fc{n}-relu`)"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// `n` when the architecture parses and ends in `fc<n>`.
fn last_fc(arch: &str) -> Option<usize> {
    match Arch::parse(arch).ok()?.layers().last() {
        Some(LayerSpec::Linear(n)) => Some(*n),
        _ => None,
    }
}

/// The images pre-training reads, their shape, their labels' class count where there are
/// labels, and the metadata that describes them (the input size; the pixel scale of HDF5 and
/// folder images).
struct Unlabelled {
    /// `[N, C * H * W]`, scaled as `train mnist` or `train images` scales them.
    images: Tensor,
    shape: ImageShape,
    classes: Option<usize>,
    meta: BTreeMap<String, String>,
}

/// An IDX folder's `train-images` (its labels file may be missing), or an
/// HDF5 file or folder of class folders as `train images` reads them.
fn load_unlabelled(a: &PretrainArgs, path: &Path) -> Result<Unlabelled> {
    let mut meta = BTreeMap::new();
    if !is_image_collection(path) {
        for (given, flag, applies) in [
            (a.size.is_some(), "--size", "folder images"),
            (a.normalize.is_some(), "--normalize", "HDF5 and folder images"),
        ] {
            if given {
                let message = format!("applies to {applies}; {} is an IDX folder", path.display());
                return Err(Error::invalid(flag, message));
            }
        }
        let (images, image_shape) = load_mnist_train_images(path)?;
        let Some([rows, cols]) = image_shape else {
            return Err(Error::format(path, "holds vectors, not images"));
        };
        meta.insert(backprop::models::INPUT_KEY.to_string(), format!("{{\"image\":[{rows},{cols}]}}"));
        let shape = ImageShape { height: rows, width: cols, channels: 1 };
        return Ok(Unlabelled { images, shape, classes: None, meta });
    }
    let full = super::train_images::load_images(path, super::train_images::folder_shape(a.size, path)?)?;
    let scale = super::train_images::pixel_scale(a.normalize.unwrap_or(Normalize::Standard), &full.data);
    let s = full.shape;
    let input = serde_json::json!({ "image": [s.height, s.width], "channels": s.channels });
    meta.insert(backprop::models::INPUT_KEY.to_string(), input.to_string());
    meta.extend([scale.to_metadata()]);
    let data = scale.apply(full.data);
    Ok(Unlabelled { images: data.inputs, shape: s, classes: Some(data.num_classes), meta })
}

/// An HDF5 file or a folder of class folders (any subfolder), not an IDX folder.
fn is_image_collection(path: &Path) -> bool {
    path.is_file() || std::fs::read_dir(path).is_ok_and(|entries| entries.flatten().any(|e| e.path().is_dir()))
}
