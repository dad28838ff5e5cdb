//! Layer normalisation over the last axis, fused: one pass forward, one back.
//! Each row's mean and variance are taken in f64, in two passes, so rows with
//! a large mean against a small spread keep their precision (a float64
//! reference is matched to f32 rounding, tighter than PyTorch's float32 kernel).
//!
//! y = (x - mean) / sqrt(var + eps) * gamma + beta (Ba, Kiros & Hinton, 2016).
//! With xhat the normalised input and g = dy * gamma, the input gradient is
//! dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps),
//! and dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy.

use super::parallel::{self, Rows};
use super::Tensor;

/// Rows per task in backward (each task sums its own dgamma/dbeta; the
/// partial sums are added in task order, so results do not depend on threads).
const ROWS_PER_TASK: usize = 64;

/// Normalises each row of `x` (`[rows, n]` flattened) into `out`, returning
/// each row's 1/sqrt(var + eps). `gamma`/`beta` (`[n]`) are applied when given.
///
/// ```
/// let mut out = [0.0f32; 2];
/// let rstd = backprop::tensor::layer_norm_rows(&[1.0, 3.0], 2, None, None, 0.0, &mut out);
/// assert_eq!(out, [-1.0, 1.0]);
/// assert_eq!(rstd, vec![1.0]);
/// ```
pub fn layer_norm_rows(
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
    parallel::for_each((Rows(x, n), Rows(out, n), &mut rstd[..]), 1, |_, (Rows(row, _), Rows(o, _), r)| {
        // Two passes in f64: a row whose mean is large against its spread
        // (100.0189, 100.0034, ...) loses its digits to a running f32 sum.
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64;
        let inv = 1.0 / (var + f64::from(eps)).sqrt();
        r[0] = inv as f32;
        for (((o, &v), &g), &b) in o.iter_mut().zip(row).zip(gamma).zip(beta) {
            *o = ((f64::from(v) - mean) * inv) as f32 * g + b;
        }
    });
    rstd
}

/// Layer normalisation of `x` (`[.., n]`) over its last axis, with optional
/// scale `gamma` and shift `beta` (both `[n]`).
///
/// ```
/// use backprop::{tensor::layer_norm, Tensor};
/// let y = layer_norm(&Tensor::from_vec(vec![1.0, 3.0], &[1, 2]), None, None, 0.0);
/// assert_eq!(y.data(), &[-1.0, 1.0]);
/// ```
pub fn layer_norm(x: &Tensor, gamma: Option<&Tensor>, beta: Option<&Tensor>, eps: f32) -> Tensor {
    let n = *x.shape().last().expect("layer_norm: needs at least one dimension");
    let mut out = vec![0.0f32; x.numel()];
    layer_norm_rows(x.data(), n, gamma.map(Tensor::data), beta.map(Tensor::data), eps, &mut out);
    Tensor::from_vec(out, x.shape())
}

/// Gradients of [`layer_norm`]: given the input `x` (`[.., n]`), `gamma`
/// (`[n]`, or `None` for 1) and `dy = dL/dy`, returns `(dx, dgamma, dbeta)`
/// with shapes `x.shape()`, `[n]`, `[n]` (see the module docs for the formulas).
pub fn layer_norm_backward(x: &Tensor, gamma: Option<&Tensor>, dy: &Tensor, eps: f32) -> (Tensor, Tensor, Tensor) {
    let n = *x.shape().last().expect("layer_norm input has a last axis");
    let ones = vec![1.0f32; n];
    let gamma = gamma.map_or(&ones[..], Tensor::data);
    let mut xhat = vec![0.0f32; x.numel()];
    let rstd = layer_norm_rows(x.data(), n, None, None, eps, &mut xhat);
    let mut dx = vec![0.0f32; x.numel()];
    let work = (Rows(&mut dx[..], n), Rows(dy.data(), n), Rows(&xhat[..], n), &rstd[..]);
    let partials = parallel::map(work, ROWS_PER_TASK, |_, (Rows(dx, _), Rows(dy, _), Rows(xhat, _), rstd)| {
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
    });
    let (mut dgamma, mut dbeta) = (vec![0.0f32; n], vec![0.0f32; n]);
    for (pg, pb) in &partials {
        dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (Tensor::from_vec(dx, x.shape()), Tensor::from_vec(dgamma, &[n]), Tensor::from_vec(dbeta, &[n]))
}
