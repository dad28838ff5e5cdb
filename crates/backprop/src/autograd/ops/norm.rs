//! Layer normalisation over the last axis, fused: one pass forward, one back.
//!
//! y = (x - mean) / sqrt(var + eps) * gamma + beta. With xhat the normalised
//! input and g = dy * gamma, the input gradient is
//! dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;
use rayon::prelude::*;

/// Normalises each row of `x` (`[rows, n]` flattened) into `out`, returning
/// each row's 1/sqrt(var + eps). `gamma`/`beta` are applied when given.
pub(crate) fn layer_norm_rows(
    x: &[f32],
    n: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    out: &mut [f32],
) -> Vec<f32> {
    let (ones, zeros) = (vec![1.0f32; n], vec![0.0f32; n]);
    let gamma = gamma.unwrap_or(&ones);
    let beta = beta.unwrap_or(&zeros);
    let rows = x.len() / n.max(1);
    let mut rstd = vec![0.0f32; rows];
    let one_row = |((row, o), r): ((&[f32], &mut [f32]), &mut f32)| {
        let mean = row.iter().sum::<f32>() / n as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        *r = 1.0 / (var + eps).sqrt();
        for (((o, &v), &g), &b) in o.iter_mut().zip(row).zip(gamma).zip(beta) {
            *o = (v - mean) * *r * g + b;
        }
    };
    if x.len() >= PARALLEL_MIN {
        x.par_chunks(n).zip(out.par_chunks_mut(n)).zip(rstd.par_iter_mut()).for_each(one_row);
    } else {
        x.chunks(n).zip(out.chunks_mut(n)).zip(rstd.iter_mut()).for_each(one_row);
    }
    rstd
}

/// A block of rows for one backward task: (dx, dy), (xhat, 1/std).
type RowBlock<'a> = ((&'a mut [f32], &'a [f32]), (&'a [f32], &'a [f32]));

/// Below this many values, normalisation stays on one thread.
const PARALLEL_MIN: usize = 1 << 15;

/// Rows per parallel task in backward (each task sums its own dgamma/dbeta).
const ROWS_PER_TASK: usize = 64;

struct LayerNormOp {
    eps: f32,
    has_gamma: bool,
    has_beta: bool,
}

impl Backward for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer_norm"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let x = c.inputs[0];
        let n = *x.shape().last().expect("layer_norm input has a last axis");
        let ones = vec![1.0f32; n];
        let gamma = if self.has_gamma { c.inputs[1].data() } else { &ones };
        let mut xhat = vec![0.0f32; x.numel()];
        let rstd = layer_norm_rows(x.data(), n, None, None, self.eps, &mut xhat);
        let dy = c.grad.data();
        let mut dx = vec![0.0f32; x.numel()];
        // Rows are independent except for dgamma/dbeta, which each task sums
        // over its rows; the partial sums are added at the end.
        let task = |((dx, dy), (xhat, rstd)): RowBlock<'_>| {
            let (mut dgamma, mut dbeta, mut g) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
            for ((dx_row, (dy_row, xh_row)), &r) in dx.chunks_mut(n).zip(dy.chunks(n).zip(xhat.chunks(n))).zip(rstd) {
                let (mut mean_g, mut mean_gx) = (0.0f32, 0.0f32);
                for j in 0..n {
                    g[j] = dy_row[j] * gamma[j];
                    mean_g += g[j];
                    mean_gx += g[j] * xh_row[j];
                    dgamma[j] += dy_row[j] * xh_row[j];
                    dbeta[j] += dy_row[j];
                }
                mean_g /= n as f32;
                mean_gx /= n as f32;
                for ((d, &g), &xh) in dx_row.iter_mut().zip(&g).zip(xh_row) {
                    *d = (g - mean_g - xh * mean_gx) * r;
                }
            }
            (dgamma, dbeta)
        };
        let chunk = ROWS_PER_TASK * n;
        let partials: Vec<(Vec<f32>, Vec<f32>)> = if x.numel() >= PARALLEL_MIN {
            dx.par_chunks_mut(chunk)
                .zip(dy.par_chunks(chunk))
                .zip(xhat.par_chunks(chunk).zip(rstd.par_chunks(ROWS_PER_TASK)))
                .map(task)
                .collect()
        } else {
            dx.chunks_mut(chunk)
                .zip(dy.chunks(chunk))
                .zip(xhat.chunks(chunk).zip(rstd.chunks(ROWS_PER_TASK)))
                .map(task)
                .collect()
        };
        let (mut dgamma, mut dbeta) = (vec![0.0f32; n], vec![0.0f32; n]);
        for (pg, pb) in &partials {
            dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
            dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        let mut grads = vec![c.needs[0].then(|| Tensor::from_vec(dx, x.shape()))];
        if self.has_gamma {
            grads.push(c.needs[1].then(|| Tensor::from_vec(dgamma, &[n])));
        }
        if self.has_beta {
            grads.push(c.needs[grads.len()].then(|| Tensor::from_vec(dbeta, &[n])));
        }
        grads
    }
}

impl<'g> Var<'g> {
    /// Layer normalisation over the last axis with optional scale `gamma` and
    /// shift `beta` (both `[n]`).
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]));
    /// let y = x.layer_norm(None, None, 1e-5).value();
    /// assert!(y.data().iter().sum::<f32>().abs() < 1e-5); // zero mean
    /// ```
    pub fn layer_norm(self, gamma: Option<Var<'g>>, beta: Option<Var<'g>>, eps: f32) -> Var<'g> {
        let x = self.value();
        let n = *x.shape().last().expect("layer_norm: needs at least one dimension");
        let gv = gamma.map(|g| g.value());
        let bv = beta.map(|b| b.value());
        for (name, p) in [("gamma", &gv), ("beta", &bv)] {
            if let Some(p) = p {
                assert_eq!(p.shape(), &[n], "layer_norm: {name} has shape {:?}, expected [{n}]", p.shape());
            }
        }
        let mut out = vec![0.0f32; x.numel()];
        layer_norm_rows(x.data(), n, gv.as_ref().map(|t| t.data()), bv.as_ref().map(|t| t.data()), eps, &mut out);
        let others: Vec<Var<'g>> = gamma.into_iter().chain(beta).collect();
        let op = LayerNormOp { eps, has_gamma: gv.is_some(), has_beta: bv.is_some() };
        self.derive(Tensor::from_vec(out, x.shape()), &others, op)
    }
}
