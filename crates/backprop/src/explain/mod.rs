//! Explaining and attacking classifiers with input gradients.
//!
//! The same tape that trains a network also differentiates its output with
//! respect to its *input*: mark the input a leaf ([`Graph::leaf`](crate::autograd::Graph::leaf)), run the
//! forward pass, backpropagate a class score or the loss, and read the
//! gradient with [`Gradients::wrt`](crate::autograd::Gradients::wrt).
//!
//! - [`saliency`]: the gradient of one class score (logit) with respect to the
//!   pixels: which pixels would change the score most.
//! - [`integrated_gradients`]: the gradient averaged along the straight path
//!   from a baseline (black image) to the input, times (input - baseline); the
//!   attributions add up to score(input) - score(baseline).
//! - [`grad_cam`]: for a convolutional network, the last convolution block's
//!   feature maps weighed by the class score's average gradient on each
//!   (Selvaraju et al., 2017): where in the image the evidence is.
//! - [`fgsm`] and [`pgd`]: adversarial examples, the fast gradient sign method
//!   and projected gradient descent in the L-inf ball of radius `eps`.
//!
//! None of these change the model: they run on a [`Graph::inputs_only`](crate::autograd::Graph::inputs_only)
//! graph (evaluation behaviour, parameters are constants), so parameter
//! gradients are never computed and are left as they were.
//!
//! ```
//! use backprop::explain::{integrated_gradients, saliency};
//! use backprop::nn::{Activation, Mlp, MlpConfig};
//! use backprop::{tensor::Rng, Tensor};
//! let model = Mlp::new(MlpConfig::classifier(4, &[8], 3, Activation::Tanh), &mut Rng::new(0));
//! let x = Tensor::from_vec(vec![0.1, 0.5, 0.9, 0.3], &[1, 4]);
//! let s = saliency(&model, &x, 2)?;
//! assert_eq!(s.shape(), &[4]);
//! let ig = integrated_gradients(&model, &x, 2, 64)?;
//! assert_eq!(ig.shape(), &[4]);
//! # Ok::<(), backprop::Error>(())
//! ```

mod adversarial;
mod attribution;
mod gradcam;
mod render;

pub use adversarial::{fgsm, pgd};
pub use attribution::{class_scores, integrated_gradients, integrated_gradients_from, saliency};
pub use gradcam::{grad_cam, GradCam};
pub use render::{heat_color, normalized_magnitude};

/// `-1`, `0` or `1` (unlike `f32::signum`, zero stays zero).
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}
