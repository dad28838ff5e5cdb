//! Loss kernels: softmax cross-entropy against class labels and binary
//! cross-entropy on logits, each with its gradient with respect to the logits.
//!
//! Computing both from logits in one step is numerically stable (log-sum-exp
//! with the row maximum subtracted; `log(1 + e^-|z|)`), and their gradients
//! are simple: `softmax(z) - onehot(y)` and `sigmoid(z) - y`.

use super::unary::sigmoid_f32;
use super::Tensor;

/// Mean softmax cross-entropy of `logits` `[N, C]` against `labels` (N of
/// them, each below C): mean_i( logsumexp(z_i) - z_i[y_i] ), summed in f64.
///
/// # Panics
/// When a label is >= C.
///
/// ```
/// use backprop::{tensor::cross_entropy, Tensor};
/// let z = Tensor::from_vec(vec![0.0, 0.0], &[1, 2]);
/// assert!((cross_entropy(&z, &[1]) - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> f32 {
    let (n, classes) = (logits.dim(0), logits.dim(1));
    let mut total = 0.0f64;
    for (row, &y) in logits.data().chunks(classes).zip(labels) {
        assert!(y < classes, "cross_entropy: label {y} out of range for {classes} classes");
        // logsumexp(z) - z_y = log sum exp(z - max) - (z_y - max), as log_softmax.
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = row.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
        total += (log_sum - (row[y] - max)) as f64;
    }
    (total / n.max(1) as f64) as f32
}

/// Gradient of `scale * sum_i CE(z_i, y_i)` with respect to the logits:
/// `scale * (softmax(z) - onehot(y))`, `[N, C]`. The mean loss's gradient
/// is `scale = dL / N`.
///
/// ```
/// use backprop::{tensor::cross_entropy_backward, Tensor};
/// let z = Tensor::from_vec(vec![0.0, 0.0], &[1, 2]);
/// assert_eq!(cross_entropy_backward(&z, &[1], 1.0).data(), &[0.5, -0.5]);
/// ```
pub fn cross_entropy_backward(logits: &Tensor, labels: &[usize], scale: f32) -> Tensor {
    let classes = logits.dim(1);
    let mut probs = logits.softmax();
    for (row, &y) in probs.data_mut().chunks_mut(classes).zip(labels) {
        row[y] -= 1.0;
        row.iter_mut().for_each(|v| *v *= scale);
    }
    probs
}

/// Mean binary cross-entropy of logits `z` against targets `y` (same shape):
/// mean( max(z, 0) - z y + log(1 + e^-|z|) ), the stable form of
/// -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], summed in f64.
///
/// ```
/// use backprop::{tensor::bce_with_logits, Tensor};
/// let (z, y) = (Tensor::zeros(&[1]), Tensor::ones(&[1]));
/// assert!((bce_with_logits(&z, &y) - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> f32 {
    let total: f64 =
        z.data().iter().zip(y.data()).map(|(&z, &y)| (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) as f64).sum();
    (total / z.numel().max(1) as f64) as f32
}

/// Gradient of `scale * sum BCE(z, y)` with respect to the logits:
/// `scale * (sigmoid(z) - y)`, the shape of `z`. (With respect to the targets
/// it is `-scale * z`.)
pub fn bce_with_logits_backward(z: &Tensor, y: &Tensor, scale: f32) -> Tensor {
    z.zip_broadcast(y, "bce_with_logits", |z, y| (sigmoid_f32(z) - y) * scale)
}

/// One-hot encoding of labels: `[N, classes]` with a 1 at each label.
///
/// # Panics
/// When a label is >= `classes`.
///
/// ```
/// let t = backprop::loss::one_hot(&[2, 0], 3);
/// assert_eq!(t.data(), &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// ```
pub fn one_hot(labels: &[usize], classes: usize) -> Tensor {
    let mut out = vec![0.0f32; labels.len() * classes];
    for (row, &y) in labels.iter().enumerate() {
        assert!(y < classes, "one_hot: label {y} out of range for {classes} classes");
        out[row * classes + y] = 1.0;
    }
    Tensor::from_vec(out, &[labels.len(), classes])
}
