//! Numerically stable softmax and log-softmax over the last axis.

use super::Tensor;

impl Tensor {
    /// Softmax over the last axis: exp(x - max) / sum(exp(x - max)), so large
    /// logits never overflow.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1000.0, 1000.0], &[1, 2]);
    /// assert_eq!(t.softmax().data(), &[0.5, 0.5]);
    /// ```
    pub fn softmax(&self) -> Tensor {
        let n = *self.shape.last().expect("softmax: needs at least one dimension");
        let mut out = self.clone();
        for row in out.data_mut().chunks_mut(n.max(1)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for x in row.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|x| *x *= inv);
        }
        out
    }

    /// Log-softmax over the last axis: (x - max) - log(sum(exp(x - max))),
    /// subtracting the max first as PyTorch does, so large logits keep their
    /// precision (`[1000, 1000]` gives ln 1/2 to the last digit, where
    /// `x - (max + log sum)` loses it to the rounding of 1000.69).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![0.0, 0.0], &[2]);
    /// assert!((t.log_softmax().data()[0] - (0.5f32).ln()).abs() < 1e-6);
    /// let t = backprop::Tensor::from_vec(vec![1000.0, 1000.0], &[2]);
    /// assert_eq!(t.log_softmax().data()[0], (0.5f32).ln());
    /// ```
    pub fn log_softmax(&self) -> Tensor {
        let n = *self.shape.last().expect("log_softmax: needs at least one dimension");
        let mut out = self.clone();
        for row in out.data_mut().chunks_mut(n.max(1)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
            row.iter_mut().for_each(|x| *x = (*x - max) - log_sum);
        }
        out
    }
}

/// Softmax's chain rule over the last axis: with `y = softmax(x)` and
/// `dy = dL/dy`, `dx = y * (dy - sum(dy * y))` per row.
///
/// ```
/// use backprop::{tensor::softmax_backward, Tensor};
/// let y = Tensor::from_vec(vec![0.5, 0.5], &[1, 2]);
/// // A gradient equal on every output does not change the softmax: dx = 0.
/// assert_eq!(softmax_backward(&y, &Tensor::ones(&[1, 2])).data(), &[0.0, 0.0]);
/// ```
pub fn softmax_backward(y: &Tensor, dy: &Tensor) -> Tensor {
    let n = *y.shape().last().unwrap_or(&1);
    let mut out = dy.clone();
    for (dx, y) in out.data_mut().chunks_mut(n.max(1)).zip(y.data().chunks(n.max(1))) {
        let dot: f32 = dx.iter().zip(y).map(|(g, y)| g * y).sum();
        for (d, &y) in dx.iter_mut().zip(y) {
            *d = y * (*d - dot);
        }
    }
    out
}

/// Log-softmax's chain rule over the last axis: with `y = log_softmax(x)`,
/// `dx = dy - softmax(x) * sum(dy)` per row, where `softmax(x) = e^y`.
///
/// ```
/// use backprop::{tensor::log_softmax_backward, Tensor};
/// let y = Tensor::from_vec(vec![0.5f32.ln(), 0.5f32.ln()], &[1, 2]);
/// let dx = log_softmax_backward(&y, &Tensor::from_vec(vec![1.0, 0.0], &[1, 2]));
/// assert!((dx.data()[0] - 0.5).abs() < 1e-6 && (dx.data()[1] + 0.5).abs() < 1e-6);
/// ```
pub fn log_softmax_backward(y: &Tensor, dy: &Tensor) -> Tensor {
    let n = *y.shape().last().unwrap_or(&1);
    let mut out = dy.clone();
    for (dx, y) in out.data_mut().chunks_mut(n.max(1)).zip(y.data().chunks(n.max(1))) {
        let sum: f32 = dx.iter().sum();
        for (d, &y) in dx.iter_mut().zip(y) {
            *d -= y.exp() * sum;
        }
    }
    out
}
