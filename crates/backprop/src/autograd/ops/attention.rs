//! Causal attention ops; the fused kernels and their formulas are in
//! `tensor::attention`.
//!
//! `causal_softmax`: p = softmax(s * a) over j <= i, so da = s * p * (g - sum(g p)).
//! `causal_attention`: Y = causal_softmax(Q K^T / sqrt(d)) V per head, one op,
//! so the per-head permutations and their gradients are never materialised.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{causal_attention, causal_attention_backward, causal_softmax, causal_softmax_backward};
use crate::Tensor;

struct CausalSoftmaxOp {
    scale: f32,
}

impl Backward for CausalSoftmaxOp {
    fn name(&self) -> &'static str {
        "causal_softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(causal_softmax_backward(c.output, c.grad, self.scale))]
    }
}

/// Fused multi-head causal self-attention; keeps the weights P for backward.
struct CausalAttentionOp {
    time: usize,
    heads: usize,
    /// The attention weights P, `[B, H, T, T]`.
    probs: Tensor,
}

impl Backward for CausalAttentionOp {
    fn name(&self) -> &'static str {
        "causal_attention"
    }
    // dV = P^T G, dS = softmax backward of G V^T, dQ = dS K, dK = dS^T Q
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(causal_attention_backward(c.inputs[0], &self.probs, c.grad, self.time, self.heads))]
    }
}

impl<'g> Var<'g> {
    /// Causal attention weights from raw scores `[.., T, T]`: row i is the
    /// softmax of `scale * scores[i, ..=i]`, and 0 for the future (j > i).
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let p = g.constant(Tensor::zeros(&[2, 2])).causal_softmax(1.0).value();
    /// assert_eq!(p.data(), &[1.0, 0.0, 0.5, 0.5]);
    /// ```
    pub fn causal_softmax(self, scale: f32) -> Var<'g> {
        let p = causal_softmax(&self.value(), scale);
        self.derive(p, &[], CausalSoftmaxOp { scale })
    }

    /// Multi-head causal self-attention on a fused Q/K/V projection:
    /// `self` is `[batch * time, 3C]` (rows batch-major, columns Q | K | V,
    /// each split into `heads` heads of C/heads); the result is `[batch * time, C]`
    /// with the heads side by side.
    ///
    /// # Panics
    /// When the shape does not fit `batch`, `time` and `heads`.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let qkv = g.constant(Tensor::ones(&[2 * 3, 3 * 4])); // batch 2, time 3, C = 4
    /// assert_eq!(qkv.causal_attention(2, 3, 2).shape(), vec![6, 4]);
    /// ```
    pub fn causal_attention(self, batch: usize, time: usize, heads: usize) -> Var<'g> {
        let (y, probs) = causal_attention(&self.value(), batch, time, heads);
        self.derive(y, &[], CausalAttentionOp { time, heads, probs })
    }
}
