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

    /// Log-softmax over the last axis: x - max - log(sum(exp(x - max))).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![0.0, 0.0], &[2]);
    /// assert!((t.log_softmax().data()[0] - (0.5f32).ln()).abs() < 1e-6);
    /// ```
    pub fn log_softmax(&self) -> Tensor {
        let n = *self.shape.last().expect("log_softmax: needs at least one dimension");
        let mut out = self.clone();
        for row in out.data_mut().chunks_mut(n.max(1)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
            row.iter_mut().for_each(|x| *x -= lse);
        }
        out
    }
}
