//! Self-supervised pre-training on unlabelled images, and what a downstream
//! task with few labels needs from it.
//!
//! Labels are expensive; images are not. A network first learns from the
//! images alone, by a task it sets itself ([`Task`]: which way is up, which
//! two random crops come from the same image, what the image looked like
//! before noise was added); its encoder ([`Backbone`]: the network without
//! its output layer) is saved ([`Backbone::save_encoder`]) and then starts a
//! classifier that is trained on a few labelled examples per class
//! ([`labelled_subset`], [`Backbone::load_encoder`]), with the encoder frozen
//! (a linear probe) or fine-tuned.
//!
//! ```
//! use backprop::data::{Dataset, ImageShape};
//! use backprop::nn::{Activation, Mlp, MlpConfig};
//! use backprop::optim::Adam;
//! use backprop::pretrain::{labelled_subset, Backbone, PretrainConfig, PretrainStep, Task};
//! use backprop::tensor::Rng;
//! use backprop::train::{TrainConfig, Trainer};
//! use backprop::Tensor;
//! let images = Tensor::rand_uniform(&[40, 16], 0.0, 1.0, &mut Rng::new(0));
//! let shape = ImageShape { height: 4, width: 4, channels: 1 };
//! // Pre-train the encoder of a 16-8-(head) MLP to denoise.
//! let mlp = Mlp::new(MlpConfig::classifier(16, &[8], 1, Activation::Relu), &mut Rng::new(1));
//! let config = PretrainConfig { batch_size: 8, ..PretrainConfig::new(Task::Denoise) };
//! let mut step = PretrainStep::new(Backbone::Mlp(&mlp), &images, shape, config)?;
//! let adam = Adam::new(step.parameters(), 1e-3);
//! Trainer::new(Box::new(adam), TrainConfig { epochs: 1, ..Default::default() }).run(&mut step)?;
//! let path = std::env::temp_dir().join(format!("bp-doc-encoder-{}.safetensors", std::process::id()));
//! Backbone::Mlp(&mlp).save_encoder(&path, &Default::default())?;
//! // A 4-class classifier starts from it, trained on 2 labels per class.
//! let classifier = Mlp::new(MlpConfig::classifier(16, &[8], 4, Activation::Relu), &mut Rng::new(2));
//! assert_eq!(Backbone::Mlp(&classifier).load_encoder(&path)?, 2); // layers.0.weight and .bias
//! let data = Dataset::new(images, (0..40).map(|i| i % 4).collect(), 4)?;
//! assert_eq!(labelled_subset(&data, 2, 7, None)?.len(), 8);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), backprop::Error>(())
//! ```

mod contrastive;
mod encoder;
mod step;

pub use crate::data::views::{random_view, rotate90, warp_affine, Affine, ViewOptions};
pub use contrastive::nt_xent;
pub use encoder::{Backbone, ENCODER_KIND, ENCODER_MODEL_KEY, TASK_KEY};
pub use step::{PretrainConfig, PretrainStep, Task};

use crate::data::Dataset;
use crate::tensor::Rng;
use crate::{Error, Result};

/// A seeded, class-balanced subset of `data`: `per_class` examples of every
/// class, drawn at random. With the same seed, the subset for fewer labels
/// is part of the subset for more (each class's examples are shuffled once,
/// and the first `per_class` taken). A class with too few examples is named
/// by its index and, given `class_names` (indexed by label), by its name.
///
/// ```
/// use backprop::{data::Dataset, pretrain::labelled_subset, Tensor};
/// let data = Dataset::new(Tensor::zeros(&[9, 1]), vec![0, 1, 2, 0, 1, 2, 0, 1, 2], 3)?;
/// let few = labelled_subset(&data, 2, 1, None)?;
/// assert_eq!(few.len(), 6);
/// assert_eq!((0..3).map(|c| few.labels.iter().filter(|&&l| l == c).count()).collect::<Vec<_>>(), [2, 2, 2]);
/// let e = labelled_subset(&data, 4, 1, None).unwrap_err().to_string();
/// assert!(e.contains("4 per class") && e.contains("class 0 has only 3"), "{e}");
/// let names = ["cat".to_string(), "dog".into(), "owl".into()];
/// let e = labelled_subset(&data, 4, 1, Some(&names)).unwrap_err().to_string();
/// assert!(e.contains("class 0 ('cat') has only 3"), "{e}");
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for `labels_per_class` when it is 0 or a class
/// has fewer examples than asked (naming the class and its count).
pub fn labelled_subset(data: &Dataset, per_class: usize, seed: u64, class_names: Option<&[String]>) -> Result<Dataset> {
    if per_class == 0 {
        return Err(Error::invalid("labels_per_class", "must be at least 1, got 0"));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); data.num_classes];
    for (i, &label) in data.labels.iter().enumerate() {
        by_class[label].push(i);
    }
    if let Some((class, ids)) = by_class.iter().enumerate().find(|(_, ids)| ids.len() < per_class) {
        let name = class_names.and_then(|names| names.get(class)).map_or(String::new(), |n| format!(" ('{n}')"));
        let message = format!(
            "{per_class} per class asked, but class {class}{name} has only {} examples in the {} training examples",
            ids.len(),
            data.len()
        );
        return Err(Error::invalid("labels_per_class", message));
    }
    let mut chosen = Vec::with_capacity(per_class * data.num_classes);
    for (class, ids) in by_class.iter_mut().enumerate() {
        let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(class as u64));
        rng.shuffle(ids);
        chosen.extend_from_slice(&ids[..per_class]);
    }
    chosen.sort_unstable();
    Ok(data.subset(&chosen))
}
