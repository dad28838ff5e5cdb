//! "I don't know": out-of-distribution (OOD) detection.
//!
//! A classifier trained on digits still names a digit for a picture of a
//! shoe. Each score here gives every input a number, higher for inputs more
//! like the training data; a threshold then turns it into "unknown".
//!
//! - From the logits ([`logits`]): the maximum softmax probability ([`msp`],
//!   Hendrycks & Gimpel 2017), the maximum logit ([`max_logit`]) and the
//!   negative energy ([`neg_energy`], Liu et al. 2020).
//! - [`Odin`]: temperature scaling and a small input perturbation (Liang et al. 2018).
//! - From the penultimate features ([`outputs`]): [`Mahalanobis`] distance to
//!   the closest class mean under a shared covariance (Lee et al. 2018), and
//!   the distance to the k-th nearest normalised training feature ([`Knn`],
//!   Sun et al. 2022).
//! - [`Detector`] picks one by [`Method`], fits it on in-distribution data
//!   and [`StoredDetector`] keeps it, with its threshold, in the checkpoint.
//! - [`auroc`], [`average_precision`], [`fpr_at_tpr`] ([`Separation`] has
//!   them all): how well scores separate in- from out-of-distribution
//!   examples; [`calibrate_threshold`] picks the score that keeps a given
//!   fraction (the true-positive rate) of in-distribution examples.
//! - [`load_test_split`] loads the test split (`t10k-*` files) of any
//!   MNIST-style IDX folder, train files or not.
//!
//! ```
//! use backprop::ood::{auroc, calibrate_threshold, fpr_at_tpr};
//! let digits = [0.99, 0.97, 0.95, 0.90, 0.60];
//! let shoes = [0.93, 0.70, 0.55, 0.40];
//! assert_eq!(auroc(&digits, &shoes)?, 17.0 / 20.0); // 17 of the 20 pairs ordered right
//! assert_eq!(calibrate_threshold(&digits, 0.8)?, 0.90); // keeps 4 of the 5 digits
//! assert_eq!(fpr_at_tpr(&digits, &shoes, 0.8)?, 0.25); // lets 1 of the 4 shoes through
//! # Ok::<(), backprop::Error>(())
//! ```

mod detector;
mod knn;
pub mod logits;
mod mahalanobis;
mod metrics;
mod odin;

pub use detector::{Detector, FitData, FitOptions, Method, StoredDetector, OOD_KEY, OOD_TENSOR_PREFIX};
pub use knn::{normalize_rows, Knn};
pub use logits::{max_logit, msp, msp_scores, neg_energy, outputs, Outputs};
pub use mahalanobis::{Mahalanobis, RIDGE};
pub use metrics::{
    auroc, average_precision, calibrate_threshold, check_tpr, fpr_at_tpr, fraction_at_or_above, max_per_row, Separation,
};
pub use odin::{Odin, DEFAULT_TEMPERATURE, EPSILONS};

/// Checkpoint metadata key holding the maximum-softmax-probability threshold
/// that `backprop calibrate --method msp` stores and `backprop predict` applies.
pub const REJECT_KEY: &str = "backprop.reject_below";

/// Loads the test split (`t10k-*` files) of an MNIST-style folder, train
/// files or not: [`load_mnist_test`](crate::data::load_mnist_test).
pub use crate::data::load_mnist_test as load_test_split;

#[cfg(test)]
mod tests {
    use crate::models::load;
    use crate::nn::{Activation, Mlp, MlpConfig, Module};
    use crate::tensor::Rng;
    use crate::Tensor;

    #[test]
    fn odin_at_temperature_one_without_perturbation_is_msp() {
        let dir = std::env::temp_dir().join(format!("bp-ood-odin-{}", std::process::id()));
        let path = dir.join("m.safetensors");
        let mlp = Mlp::new(MlpConfig::classifier(6, &[5], 3, Activation::Relu), &mut Rng::new(2));
        mlp.save(&path, &Default::default()).unwrap();
        let loaded = load(&path).unwrap();
        let model = loaded.classifier("test").unwrap();
        let x = Tensor::from_vec((0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect(), &[4, 6]);
        let odin = super::Odin { temperature: 1.0, epsilon: 0.0 }.scores(&model, &x, 3);
        let g = crate::autograd::Graph::no_grad();
        let msp = super::msp(&mlp.forward(&g, g.constant(x.clone())).value());
        assert_eq!(odin, msp);
        // A perturbation raises the score it follows the gradient of (at T = 1, the MSP itself).
        let nudged = super::Odin { temperature: 1.0, epsilon: 0.01 }.scores(&model, &x, 3);
        assert!(nudged.iter().zip(&msp).all(|(a, b)| a >= b), "{nudged:?} {msp:?}");
        // The penultimate features are the hidden layer's 5 activations.
        let out = super::outputs(&model, &x, 3);
        assert_eq!((out.features.shape(), out.logits.shape()), (&[4, 5][..], &[4, 3][..]));
        assert!(out.features.data().iter().all(|&v| v >= 0.0));
        std::fs::remove_dir_all(&dir).ok();
    }
}
