//! Causal softmax over attention scores, fused: scale, mask the future and
//! normalise in one pass.
//!
//! For scores `[.., T, T]`, row i keeps columns j <= i: p_ij = softmax_j(s * a_ij).
//! Backward is softmax's, times the scale: da_ij = s * p_ij (g_ij - sum_k g_ik p_ik).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::matmul_into;
use crate::Tensor;
use rayon::prelude::*;

/// Writes the causal softmax of `scores` (`[.., t, t]` rows) into `out`.
fn causal_softmax_rows(scores: &[f32], t: usize, scale: f32, out: &mut [f32]) {
    let work = |(src, dst): (&[f32], &mut [f32])| {
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
        scores.par_chunks(t * t).zip(out.par_chunks_mut(t * t)).for_each(work);
    } else {
        matrices.for_each(work);
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

/// Multi-head causal self-attention from a fused `[B*T, 3C]` Q/K/V
/// projection to `[B*T, C]`, as one op: per batch and head,
/// P = causal_softmax(Q K^T / sqrt(d)), Y = P V. Backward, with G = dY:
/// dV = P^T G, dP = G V^T, dS = P * (dP - rowsum(dP * P)) / sqrt(d),
/// dQ = dS K, dK = dS^T Q. Fusing it avoids materialising the per-head
/// permutations and their gradients; batches run in parallel.
struct CausalAttentionOp {
    time: usize,
    heads: usize,
    /// The attention weights P, `[B, H, T, T]`, kept for backward.
    probs: Tensor,
}

/// Copies head `h`'s slice of Q, K or V (`which` = 0, 1, 2) of one sequence
/// (`rows`: that sequence's `[T, 3C]` rows) into a contiguous `[T, d]` buffer.
fn gather_head(rows: &[f32], t: usize, c: usize, h: usize, d: usize, which: usize, out: &mut [f32]) {
    for i in 0..t {
        let src = &rows[i * 3 * c + which * c + h * d..][..d];
        out[i * d..(i + 1) * d].copy_from_slice(src);
    }
}

/// Adds a contiguous `[T, d]` buffer into head `h`'s columns of `rows` (`[T, width]`).
fn scatter_head(buf: &[f32], t: usize, width: usize, offset: usize, d: usize, rows: &mut [f32]) {
    for i in 0..t {
        rows[i * width + offset..][..d].copy_from_slice(&buf[i * d..(i + 1) * d]);
    }
}

impl Backward for CausalAttentionOp {
    fn name(&self) -> &'static str {
        "causal_attention"
    }
    fn backward(&self, ctx: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (t, h) = (self.time, self.heads);
        let c = ctx.grad.dim(1);
        let d = c / h;
        let scale = 1.0 / (d as f32).sqrt();
        let qkv = ctx.inputs[0].data();
        let dy = ctx.grad.data();
        let probs = self.probs.data();
        let mut dqkv = vec![0.0f32; qkv.len()];
        let per_batch = |(b, out): (usize, &mut [f32])| {
            let rows = &qkv[b * t * 3 * c..(b + 1) * t * 3 * c];
            let (mut q, mut k, mut v, mut g) = (vec![0.0; t * d], vec![0.0; t * d], vec![0.0; t * d], vec![0.0; t * d]);
            let (mut dp, mut buf) = (vec![0.0f32; t * t], vec![0.0f32; t * d]);
            for head in 0..h {
                gather_head(rows, t, c, head, d, 0, &mut q);
                gather_head(rows, t, c, head, d, 1, &mut k);
                gather_head(rows, t, c, head, d, 2, &mut v);
                for i in 0..t {
                    g[i * d..(i + 1) * d].copy_from_slice(&dy[(b * t + i) * c + head * d..][..d]);
                }
                let p = &probs[(b * h + head) * t * t..][..t * t];
                // dV = P^T G
                matmul_into(&mut buf, p, true, &g, false, t, t, d, false);
                scatter_head(&buf, t, 3 * c, 2 * c + head * d, d, out);
                // dP = G V^T, then dS in place
                matmul_into(&mut dp, &g, false, &v, true, t, d, t, false);
                for i in 0..t {
                    let (pr, dr) = (&p[i * t..=i * t + i], &mut dp[i * t..(i + 1) * t]);
                    let dot: f32 = pr.iter().zip(dr.iter()).map(|(p, g)| p * g).sum();
                    for (dv, &pv) in dr[..=i].iter_mut().zip(pr) {
                        *dv = scale * pv * (*dv - dot);
                    }
                    dr[i + 1..].iter_mut().for_each(|x| *x = 0.0);
                }
                // dQ = dS K, dK = dS^T Q
                matmul_into(&mut buf, &dp, false, &k, false, t, t, d, false);
                scatter_head(&buf, t, 3 * c, head * d, d, out);
                matmul_into(&mut buf, &dp, true, &q, false, t, t, d, false);
                scatter_head(&buf, t, 3 * c, c + head * d, d, out);
            }
        };
        dqkv.par_chunks_mut(t * 3 * c).enumerate().for_each(per_batch);
        vec![Some(Tensor::from_vec(dqkv, ctx.inputs[0].shape()))]
    }
}

impl<'g> Var<'g> {
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
        let x = self.value();
        let shape = x.shape().to_vec();
        assert!(
            shape.len() == 2 && shape[0] == batch * time && heads > 0 && shape[1] % (3 * heads) == 0,
            "causal_attention: input {shape:?} is not [batch {batch} * time {time}, 3 * C] with C divisible by {heads} heads"
        );
        let (t, h, c) = (time, heads, shape[1] / 3);
        let d = c / h;
        let scale = 1.0 / (d as f32).sqrt();
        let mut y = vec![0.0f32; batch * t * c];
        let mut probs = vec![0.0f32; batch * h * t * t];
        let qkv = x.data();
        y.par_chunks_mut(t * c).zip(probs.par_chunks_mut(h * t * t)).enumerate().for_each(|(b, (out, pb))| {
            let rows = &qkv[b * t * 3 * c..(b + 1) * t * 3 * c];
            let (mut q, mut k, mut v) = (vec![0.0; t * d], vec![0.0; t * d], vec![0.0; t * d]);
            let (mut s, mut buf) = (vec![0.0f32; t * t], vec![0.0f32; t * d]);
            for head in 0..h {
                gather_head(rows, t, c, head, d, 0, &mut q);
                gather_head(rows, t, c, head, d, 1, &mut k);
                gather_head(rows, t, c, head, d, 2, &mut v);
                matmul_into(&mut s, &q, false, &k, true, t, d, t, false);
                let p = &mut pb[head * t * t..(head + 1) * t * t];
                causal_softmax_rows(&s, t, scale, p);
                matmul_into(&mut buf, p, false, &v, false, t, t, d, false);
                scatter_head(&buf, t, c, head * d, d, out);
            }
        });
        let op = CausalAttentionOp { time, heads, probs: Tensor::from_vec(probs, &[batch, h, t, t]) };
        self.derive(Tensor::from_vec(y, &[batch * t, c]), &[], op)
    }
}
