//! The training step of self-supervised pre-training: a shuffled batch of
//! unlabelled images, turned into a task the network sets itself.

use super::contrastive::nt_xent;
use super::encoder::Backbone;
use crate::autograd::{Graph, Param, Var};
use crate::data::views::{random_view, rotate90, ViewOptions};
use crate::data::{batch_indices, join_short_last, ImageShape};
use crate::loss::{cross_entropy, mse};
use crate::nn::{has_batch_norm, Activation, BatchNorm1d, Init, Linear, Module, Sequential};
use crate::tensor::Rng;
use crate::train::{EpochRecord, EpochStats, TrainStep};
use crate::{Error, Result, Tensor};

/// A self-supervised task: the labels come from the images themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Predict by how much each image was rotated: 0, 90, 180 or 270
    /// degrees (Gidaris et al., "Unsupervised Representation Learning by
    /// Predicting Image Rotations", ICLR 2018). Head: one `Linear` to 4 logits.
    Rotation,
    /// Pull together the projections of two random views of the same image
    /// and push apart those of other images, with NT-Xent (SimCLR: Chen et
    /// al., ICML 2020). Head: the projection `Linear-ReLU-Linear` to 64 values
    /// (`Linear-BatchNorm1d-ReLU-Linear`, as SimCLR's, with
    /// [`PretrainConfig::projection_batch_norm`]), dropped afterwards.
    Contrastive,
    /// Reconstruct each clean image from a noisy one, under the mean squared
    /// error (a denoising autoencoder: Vincent et al., ICML 2008). Head: a
    /// decoder `Linear-ReLU-Linear` back to the pixels.
    Denoise,
}

impl Task {
    /// `rotation`, `contrastive` or `denoise`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Rotation => "rotation",
            Task::Contrastive => "contrastive",
            Task::Denoise => "denoise",
        }
    }

    /// The task's head on `features` encoder outputs, for images of `pixels`
    /// values; `batch_norm` normalises the contrastive projection's hidden
    /// layer (its `Linear` then has no bias, which batch norm's shift replaces).
    pub fn head(self, features: usize, pixels: usize, batch_norm: bool, rng: &mut Rng) -> Sequential {
        let linear = |i, o, rng: &mut Rng| Linear::new(i, o, true, Init::PytorchDefault, rng);
        match self {
            Task::Rotation => Sequential::new().push(linear(features, 4, rng)),
            Task::Contrastive => {
                let first = Linear::new(features, PROJECTION_HIDDEN, !batch_norm, Init::PytorchDefault, rng);
                let head = Sequential::new().push(first);
                let head = if batch_norm { head.push(BatchNorm1d::new(PROJECTION_HIDDEN)) } else { head };
                head.push(Activation::Relu).push(linear(PROJECTION_HIDDEN, PROJECTION, rng))
            }
            Task::Denoise => Sequential::new()
                .push(linear(features, DECODER_HIDDEN, rng))
                .push(Activation::Relu)
                .push(linear(DECODER_HIDDEN, pixels, rng)),
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Task, String> {
        match s {
            "rotation" => Ok(Task::Rotation),
            "contrastive" => Ok(Task::Contrastive),
            "denoise" => Ok(Task::Denoise),
            _ => Err(format!("'{s}' is not a task (rotation, contrastive, denoise)")),
        }
    }
}

/// Units of the contrastive projection head's hidden layer.
const PROJECTION_HIDDEN: usize = 128;
/// Values of the contrastive projection (SimCLR: 128 on ImageNet).
const PROJECTION: usize = 64;
/// Units of the denoising decoder's hidden layer.
const DECODER_HIDDEN: usize = 256;

/// How to pre-train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PretrainConfig {
    /// The task.
    pub task: Task,
    /// Images per step (a contrastive step sees each twice).
    pub batch_size: usize,
    /// NT-Xent's temperature (SimCLR: 0.5 for CIFAR-10).
    pub temperature: f32,
    /// The contrastive task's random views.
    pub views: ViewOptions,
    /// Batch norm in the contrastive projection head's hidden layer
    /// (SimCLR's head; [`Task::head`]).
    pub projection_batch_norm: bool,
    /// Standard deviation of the Gaussian noise the denoising task adds
    /// (pixels in [0, 1]).
    pub denoise_noise: f32,
    /// Seed of the batch order, the rotations, views and noise.
    pub seed: u64,
}

impl PretrainConfig {
    /// The defaults for `task`: batches of 256, temperature 0.5, the default
    /// views, a projection head without batch norm, denoising noise 0.4.
    pub fn new(task: Task) -> PretrainConfig {
        PretrainConfig {
            task,
            batch_size: 256,
            temperature: 0.5,
            views: ViewOptions::default(),
            projection_batch_norm: false,
            denoise_noise: 0.4,
            seed: 1,
        }
    }
}

/// One step of self-supervised pre-training of a [`Backbone`]'s encoder
/// with a task head ([`Task::head`]) on unlabelled images (`[N, D]` rows of
/// `shape`); run it with [`Trainer::run`](crate::train::Trainer::run), giving
/// the optimizer [`PretrainStep::parameters`].
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::nn::{Cnn, CnnConfig};
/// use backprop::optim::Adam;
/// use backprop::pretrain::{Backbone, PretrainConfig, PretrainStep, Task};
/// use backprop::tensor::Rng;
/// use backprop::train::{TrainConfig, Trainer};
/// use backprop::Tensor;
/// let cnn = Cnn::new(CnnConfig::classifier("c4k3p1-relu-mp2-fc16-relu", [1, 8, 8], 10)?, &mut Rng::new(0))?;
/// let images = Tensor::rand_uniform(&[32, 64], 0.0, 1.0, &mut Rng::new(1));
/// let shape = ImageShape { height: 8, width: 8, channels: 1 };
/// let config = PretrainConfig { batch_size: 16, ..PretrainConfig::new(Task::Rotation) };
/// let mut step = PretrainStep::new(Backbone::Cnn(&cnn), &images, shape, config)?;
/// let adam = Adam::new(step.parameters(), 1e-3);
/// let history = Trainer::new(Box::new(adam), TrainConfig { epochs: 2, ..Default::default() }).run(&mut step)?;
/// assert_eq!(history.len(), 2);
/// assert!(history[1].train_accuracy.is_some()); // rotations predicted
/// # Ok::<(), backprop::Error>(())
/// ```
pub struct PretrainStep<'a> {
    backbone: Backbone<'a>,
    head: Sequential,
    images: &'a Tensor,
    shape: ImageShape,
    config: PretrainConfig,
    rng: Rng,
    batches: Vec<Vec<usize>>,
    next: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

/// NT-Xent temperatures accepted by [`PretrainStep::new`].
const MIN_TEMPERATURE: f32 = 0.01;
const MAX_TEMPERATURE: f32 = 10.0;

impl<'a> PretrainStep<'a> {
    /// A step over `images` (`[N, shape.len()]`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the rows do not hold `shape`, there
    /// are no images or the batch size is 0 (fewer than 2, or 1, for the
    /// contrastive task and for an encoder with batch norm, which needs two
    /// images to compute a variance; a last batch of one image then joins the
    /// one before), rotation is asked of images that are not square, the
    /// contrastive task's views are out of range ([`ViewOptions::validate`],
    /// naming the field), its temperature is outside [0.01, 10] (below, the
    /// logits `cos / t` reach the hundreds and the loss stalls; above, every
    /// pair looks alike), the denoising noise is outside [0, 1], or the
    /// network has no layer before its output layer.
    pub fn new(backbone: Backbone<'a>, images: &'a Tensor, shape: ImageShape, config: PretrainConfig) -> Result<Self> {
        let task = config.task;
        if images.ndim() != 2 || images.dim(1) != shape.len() {
            let message = format!("images of shape {:?} are not rows of {} values", images.shape(), shape.len());
            return Err(Error::invalid("images", message));
        }
        // Two images per batch at least: the contrastive task's negatives, batch norm's variance.
        let why = if task == Task::Contrastive {
            Some("each image's negatives are the others of its batch")
        } else if has_batch_norm(&backbone.module().buffers()) {
            Some("the encoder's batch norm needs at least 2 images per batch to compute a variance")
        } else {
            None
        };
        let (minimum, why) = why.map_or((1, String::new()), |why| (2, format!(": {why}")));
        if images.dim(0) < minimum {
            return Err(Error::invalid(
                "images",
                format!("{} images; the {} task needs at least {minimum}{why}", images.dim(0), task.name()),
            ));
        }
        if config.batch_size < minimum {
            return Err(Error::invalid(
                "batch_size",
                format!("{} is too small for the {} task{why}", config.batch_size, task.name()),
            ));
        }
        if task == Task::Contrastive {
            config.views.validate()?;
            let t = config.temperature;
            if !(MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&t) {
                let message =
                    format!("must be from {MIN_TEMPERATURE} to {MAX_TEMPERATURE} (SimCLR uses 0.1-1), got {t}");
                return Err(Error::invalid("temperature", message));
            }
        }
        let sigma = config.denoise_noise;
        if task == Task::Denoise && !(0.0..=1.0).contains(&sigma) {
            return Err(Error::invalid("noise", format!("must be from 0 to 1 (pixels are in [0, 1]), got {sigma}")));
        }
        if task == Task::Rotation && shape.height != shape.width {
            let message = format!("rotation needs square images, these are {}x{}", shape.height, shape.width);
            return Err(Error::invalid("task", message));
        }
        if backbone.encoder_parameters().is_empty() {
            return Err(Error::invalid(
                "model",
                "the network has no layer before its output layer: no encoder to pre-train",
            ));
        }
        let mut rng = Rng::new(config.seed);
        let head = task.head(backbone.feature_dim(), shape.len(), config.projection_batch_norm, &mut rng);
        Ok(PretrainStep {
            backbone,
            head,
            images,
            shape,
            config,
            rng,
            batches: Vec::new(),
            next: 0,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
        })
    }

    /// What the optimizer trains: the encoder's parameters and the head's
    /// (named `head.<i>...`); not the backbone's unused output layer.
    pub fn parameters(&self) -> Vec<(String, Param)> {
        let mut params = self.backbone.encoder_parameters();
        params.extend(self.head.parameters().into_iter().map(|(n, p)| (format!("head.{n}"), p)));
        params
    }

    /// The rows `ids`, each transformed by `f`, as a `[ids.len(), D]` tensor.
    fn transformed(&mut self, ids: &[usize], mut f: impl FnMut(&[f32], &mut Rng) -> Vec<f32>) -> Tensor {
        let d = self.shape.len();
        let data = self.images.data();
        let mut out = Vec::with_capacity(ids.len() * d);
        for &i in ids {
            out.extend(f(&data[i * d..(i + 1) * d], &mut self.rng));
        }
        Tensor::from_vec(out, &[ids.len(), d])
    }
}

impl TrainStep for PretrainStep<'_> {
    fn buffers(&self) -> Vec<(String, Param)> {
        self.backbone.module().buffers()
    }

    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        let mut batches = batch_indices(self.images.dim(0), self.config.batch_size, Some(&mut self.rng));
        if self.config.task == Task::Contrastive {
            if batches.len() > 1 && batches.last().is_some_and(|b| b.len() < 2) {
                batches.pop(); // a lone image has no negatives
            }
        } else if has_batch_norm(&self.buffers()) {
            join_short_last(&mut batches, 2); // as train mnist does
        }
        self.batches = batches;
        self.next = 0;
        (self.loss_sum, self.correct, self.seen) = (0.0, 0, 0);
        Ok(Some(self.batches.len()))
    }

    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        let ids = self
            .batches
            .get(self.next)
            .cloned()
            .ok_or_else(|| Error::invalid("epoch", "asked for more batches than it has"))?;
        self.next += 1;
        let shape = self.shape;
        let loss = match self.config.task {
            Task::Rotation => {
                let turns: Vec<usize> = ids.iter().map(|_| self.rng.below(4)).collect();
                let mut k = turns.iter();
                let x = self.transformed(&ids, |img, _| rotate90(img, shape, *k.next().expect("one turn per image")));
                let logits = self.head.forward(g, self.backbone.features(g, g.constant(x)));
                let predicted = logits.value().argmax_axis(1);
                self.correct += predicted.iter().zip(&turns).filter(|(p, t)| p == t).count();
                cross_entropy(logits, &turns)
            }
            Task::Contrastive => {
                let views = self.config.views;
                let first = self.transformed(&ids, |img, rng| random_view(img, shape, &views, rng));
                let second = self.transformed(&ids, |img, rng| random_view(img, shape, &views, rng));
                let both = Tensor::concat(&[&first, &second], 0);
                let z = self.head.forward(g, self.backbone.features(g, g.constant(both)));
                nt_xent(z, self.config.temperature)
            }
            Task::Denoise => {
                let sigma = self.config.denoise_noise;
                let noisy = self.transformed(&ids, |img, rng| img.iter().map(|v| v + sigma * rng.normal()).collect());
                let clean = self.images.index_select(&ids);
                let out = self.head.forward(g, self.backbone.features(g, g.constant(noisy)));
                mse(out, g.constant(clean))
            }
        };
        self.loss_sum += f64::from(loss.item()) * ids.len() as f64;
        self.seen += ids.len();
        Ok(loss)
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, _stats: &EpochStats) {
        if self.seen > 0 {
            record.train_loss = (self.loss_sum / self.seen as f64) as f32;
            if self.config.task == Task::Rotation {
                record.train_accuracy = Some(self.correct as f32 / self.seen as f32);
            }
        }
    }
}
