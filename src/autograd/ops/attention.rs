//! Causal softmax over attention scores, fused: scale, mask the future and
//! normalise in one pass.
//!
//! For scores `[.., T, T]`, row i keeps columns j <= i: p_ij = softmax_j(s * a_ij).
//! Backward is softmax's, times the scale: da_ij = s * p_ij (g_ij - sum_k g_ik p_ik).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;
use rayon::prelude::*;

/// Writes the causal softmax of `scores` (`[.., t, t]` rows) into `out`.
fn causal_softmax_rows(scores: &[f32], t: usize, scale: f32, out: &mut [f32]) {
    let work = |(m, (src, dst)): (usize, (&[f32], &mut [f32]))| {
        let _ = m;
        for i in 0..t {
            let row = &src[i * t..(i + 1) * t];
            let o = &mut dst[i * t..(i + 1) * t];
            let max = row[..=i].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b * scale));
            let mut sum = 0.0;
            for j in 0..=i {
                o[j] = (row[j] * scale - max).exp();
                sum += o[j];
            }
            let inv = 1.0 / sum;
            o[..=i].iter_mut().for_each(|v| *v *= inv);
            o[i + 1..].iter_mut().for_each(|v| *v = 0.0);
        }
    };
    let matrices = scores.chunks(t * t).zip(out.chunks_mut(t * t));
    if scores.len() >= 1 << 15 {
        scores.par_chunks(t * t).zip(out.par_chunks_mut(t * t)).enumerate().for_each(work);
    } else {
        matrices.enumerate().for_each(work);
    }
}

struct CausalSoftmaxOp {
    scale: f32,
}

impl Backward for CausalSoftmaxOp {
    fn name(&self) -> &'static str {
        "causal_softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let t = *c.output.shape().last().expect("scores have a last axis");
        let scale = self.scale;
        let mut dx = vec![0.0f32; c.output.numel()];
        let rows = |(dx, (p, g)): (&mut [f32], (&[f32], &[f32]))| {
            for i in 0..t {
                let (p, g, d) = (&p[i * t..=i * t + i], &g[i * t..=i * t + i], &mut dx[i * t..=i * t + i]);
                let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                for ((d, &p), &g) in d.iter_mut().zip(p).zip(g) {
                    *d = scale * p * (g - dot);
                }
            }
        };
        let (p, g) = (c.output.data(), c.grad.data());
        if dx.len() >= 1 << 15 {
            dx.par_chunks_mut(t * t).zip(p.par_chunks(t * t).zip(g.par_chunks(t * t))).for_each(rows);
        } else {
            dx.chunks_mut(t * t).zip(p.chunks(t * t).zip(g.chunks(t * t))).for_each(rows);
        }
        vec![Some(Tensor::from_vec(dx, c.output.shape()))]
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
        let s = self.value();
        let shape = s.shape().to_vec();
        assert!(
            shape.len() >= 2 && shape[shape.len() - 1] == shape[shape.len() - 2],
            "causal_softmax: scores must be [.., T, T], got {shape:?}"
        );
        let t = shape[shape.len() - 1];
        let mut out = vec![0.0f32; s.numel()];
        causal_softmax_rows(s.data(), t, scale, &mut out);
        self.derive(Tensor::from_vec(out, &shape), &[], CausalSoftmaxOp { scale })
    }
}
