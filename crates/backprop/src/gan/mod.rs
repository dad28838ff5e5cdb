//! Generative adversarial networks (Goodfellow et al. 2014): a generator that
//! learns to draw images from noise and a discriminator that learns to tell
//! them from real ones, trained against each other by the one
//! [`Trainer`](crate::train::Trainer) through a [`GanStep`] (one phase per
//! optimizer, the other network frozen); offline scoring of the samples by a
//! trained classifier ([`score`]: Fréchet distance, class coverage,
//! conditional accuracy).
//!
//! ```
//! use backprop::data::Dataset;
//! use backprop::gan::{Gan, GanConfig, GanStep, GanTraining};
//! use backprop::optim::{Adam, Shared};
//! use backprop::train::{TrainConfig, Trainer};
//! use backprop::{tensor::Rng, Tensor};
//! // 256 points of a 2-d distribution, in [-1, 1].
//! let mut rng = Rng::new(0);
//! let points = Tensor::rand_uniform(&[256, 2], -0.5, 0.5, &mut rng);
//! let data = Dataset::new(points, vec![0; 256], 1).unwrap();
//! let config = GanConfig { generator_hidden: vec![16], discriminator_hidden: vec![16], ..GanConfig::mlp(2, [1, 1, 2], 1) };
//! let gan = Gan::new(config, &mut rng).unwrap();
//! let training = GanTraining { batch_size: 32, ..Default::default() };
//! let mut step = GanStep::new(&gan, &data, training).unwrap();
//! let d = Adam::new(gan.discriminator_parameters(), 2e-4).betas(0.5, 0.999);
//! let g = Adam::new(gan.generator_parameters(), 2e-4).betas(0.5, 0.999);
//! let config = TrainConfig { epochs: 2, ..Default::default() };
//! let history = Trainer::new(Box::new(Shared::new(d)), config).and_optimizer(Box::new(g)).run(&mut step).unwrap();
//! assert_eq!(history[1].metrics.keys().collect::<Vec<_>>(),
//!            ["d_g_z", "d_x", "discriminator_loss", "generator_loss", "sample_diversity"]);
//! ```

mod config;
mod model;
mod score;
mod step;

pub use config::{GanArch, GanConfig};
pub use model::{Gan, GAN_KIND};
pub use score::{class_shares, features, frechet_distance, score, score_images, GanScore};
pub use step::{GanStep, GanTraining};

use crate::train::EpochRecord;
use crate::Tensor;

/// How varied generated images are, relative to real ones: the mean over
/// pixels of the samples' standard deviation, divided by the same of the
/// real images (`[N, D]` both). About 1 for a generator that draws as varied
/// images as the data; near 0 when its samples collapse onto a few images
/// (mode collapse, Goodfellow 2016, "NIPS tutorial", section 5.1.1).
///
/// ```
/// use backprop::{gan::sample_diversity, tensor::Rng, Tensor};
/// let real = Tensor::randn(&[500, 4], 0.0, 1.0, &mut Rng::new(0));
/// let same = Tensor::from_vec([0.5f32, -0.5, 0.2, 0.0].repeat(500), &[500, 4]);
/// assert!(sample_diversity(&real, &real) == 1.0 && sample_diversity(&same, &real) < 1e-3);
/// ```
pub fn sample_diversity(samples: &Tensor, real: &Tensor) -> f32 {
    let spread = |x: &Tensor| {
        let (n, d) = (x.dim(0), x.dim(1));
        let mut total = 0.0f64;
        for j in 0..d {
            let column = (0..n).map(|i| f64::from(x.data()[i * d + j]));
            let mean = column.clone().sum::<f64>() / n.max(1) as f64;
            total += (column.map(|v| (v - mean).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
        }
        total / d.max(1) as f64
    };
    (spread(samples) / spread(real).max(1e-12)) as f32
}

/// A sign that GAN training is failing, read from the epoch records.
#[derive(Clone, Debug, PartialEq)]
pub enum GanWarning {
    /// The discriminator's loss stayed below [`D_LOSS_NEAR_ZERO`] for the last
    /// two epochs: it wins outright and the generator learns nothing.
    DiscriminatorWins {
        /// The last epoch's discriminator loss.
        loss: f32,
    },
    /// The samples' diversity stayed below [`COLLAPSED_DIVERSITY`] of the data's for two epochs:
    /// the generator draws a few images whatever the noise (mode collapse).
    ModeCollapse {
        /// The last epoch's [`sample_diversity`].
        diversity: f32,
    },
}

/// A discriminator loss below this is "near 0" for [`GanWarning::DiscriminatorWins`].
pub const D_LOSS_NEAR_ZERO: f32 = 0.05;
/// A [`sample_diversity`] below this is a [`GanWarning::ModeCollapse`].
pub const COLLAPSED_DIVERSITY: f32 = 0.4;

impl std::fmt::Display for GanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GanWarning::DiscriminatorWins { loss } => write!(
                f,
                "the discriminator's loss stays near 0 ({loss:.4}): it rejects every sample and the generator \
                 gets no gradient (try label smoothing or a lower discriminator learning rate)"
            ),
            GanWarning::ModeCollapse { diversity } => write!(
                f,
                "mode collapse: the samples vary {:.0}% as much as the data (they collapse onto a few images)",
                100.0 * diversity
            ),
        }
    }
}

/// The warnings the records so far call for: each sign must hold in the
/// last two epochs (a first epoch's samples are still alike).
///
/// ```
/// use backprop::gan::{warnings, GanWarning};
/// use backprop::train::EpochRecord;
/// let epoch = |d: f32, div: f32| {
///     let mut r = EpochRecord::default();
///     r.metrics.insert("discriminator_loss".into(), d);
///     r.metrics.insert("sample_diversity".into(), div);
///     r
/// };
/// assert!(warnings(&[epoch(1.2, 0.9), epoch(1.1, 0.95)]).is_empty());
/// assert!(warnings(&[epoch(0.9, 0.1)]).is_empty());
/// assert_eq!(warnings(&[epoch(0.01, 0.2), epoch(0.02, 0.1)]),
///            [GanWarning::DiscriminatorWins { loss: 0.02 }, GanWarning::ModeCollapse { diversity: 0.1 }]);
/// ```
pub fn warnings(records: &[EpochRecord]) -> Vec<GanWarning> {
    let metric = |r: &EpochRecord, k: &str| r.metrics.get(k).copied();
    let mut out = Vec::new();
    let last_two = &records[records.len().saturating_sub(2)..];
    let d_losses: Vec<f32> = last_two.iter().filter_map(|r| metric(r, "discriminator_loss")).collect();
    if d_losses.len() == 2 && d_losses.iter().all(|&l| l < D_LOSS_NEAR_ZERO) {
        out.push(GanWarning::DiscriminatorWins { loss: d_losses[1] });
    }
    let diversity: Vec<f32> = last_two.iter().filter_map(|r| metric(r, "sample_diversity")).collect();
    if diversity.len() == 2 && diversity.iter().all(|&d| d < COLLAPSED_DIVERSITY) {
        out.push(GanWarning::ModeCollapse { diversity: diversity[1] });
    }
    out
}
