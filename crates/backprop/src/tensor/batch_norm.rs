//! Batch normalisation over the channel axis of `[N, C, *]` tensors
//! (Ioffe & Szegedy, 2015; PyTorch's `batch_norm`), and per-channel sums.
//!
//! Forward, per channel c over its `M = N * S` values (`S` the product of the
//! dims after the channel axis; 1 for `[N, C]`):
//! `y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c`.
//! In training `mean_c` and the biased `var_c` are the batch statistics
//! ([`batch_norm_stats`]); in evaluation they are running estimates.
//!
//! Backward, with `rstd = 1 / sqrt(var + eps)`, `xhat = (x - mean) rstd`:
//! `dbeta = sum dy`, `dgamma = sum dy xhat`, and
//! - batch statistics: `dx = gamma rstd (dy - dbeta / M - xhat dgamma / M)`
//!   (the statistics depend on x);
//! - fixed statistics: `dx = gamma rstd dy`.
//!
//! Statistics are stable: the mean and the variance are two passes, each
//! accumulated in `f64`, so a channel whose mean is large against its spread
//! keeps its precision (a one-pass `E[x^2] - E[x]^2` in `f32` would not).

use super::parallel::{self, Rows, PARALLEL_MIN};
use super::Tensor;

/// `(N, C, S)` of an `[N, C, *]` shape; panics naming `op` when it has fewer than 2 dims.
fn layout(op: &str, shape: &[usize]) -> (usize, usize, usize) {
    assert!(shape.len() >= 2, "{op}: input must be [N, C] or [N, C, ...], got {shape:?}");
    (shape[0], shape[1], shape[2..].iter().product())
}

/// Samples per task: fixed by the shape (never by the thread count), so the
/// per-task partial sums and their order are too.
fn rows_per_task(row: usize) -> usize {
    (PARALLEL_MIN / row.max(1)).max(1)
}

/// Running sums per plane in [`channel_sums`].
const LANES: usize = 8;

/// For each channel, the sums over all its values of `f(channel, a, b)`
/// (two sums at once), where `a` and `b` are `[N, C, S]` buffers read in step.
fn channel_sums(
    a: &[f32],
    b: &[f32],
    c: usize,
    s: usize,
    f: impl Fn(usize, f32, f32) -> [f64; 2] + Sync,
) -> Vec<[f64; 2]> {
    let row = c * s;
    if row == 0 {
        return vec![[0.0; 2]; c];
    }
    let partials = parallel::map((Rows(a, row), Rows(b, row)), rows_per_task(row), |_, (Rows(a, _), Rows(b, _))| {
        let mut acc = vec![[0.0f64; 2]; c];
        for (ar, br) in a.chunks_exact(row).zip(b.chunks_exact(row)) {
            for ((ch, (ap, bp)), total) in ar.chunks_exact(s).zip(br.chunks_exact(s)).enumerate().zip(&mut acc) {
                // LANES running sums per plane, added up at its end: independent
                // additions the compiler can vectorize (one chain is latency-bound).
                let mut lanes = [[0.0f64; 2]; LANES];
                let (a_body, b_body) = (ap.chunks_exact(LANES), bp.chunks_exact(LANES));
                let tail = a_body.remainder().iter().zip(b_body.remainder());
                for (a, b) in a_body.zip(b_body) {
                    for (lane, (&x, &y)) in lanes.iter_mut().zip(a.iter().zip(b)) {
                        let [u, v] = f(ch, x, y);
                        lane[0] += u;
                        lane[1] += v;
                    }
                }
                for (lane, (&x, &y)) in lanes.iter_mut().zip(tail) {
                    let [u, v] = f(ch, x, y);
                    lane[0] += u;
                    lane[1] += v;
                }
                for lane in lanes {
                    total[0] += lane[0];
                    total[1] += lane[1];
                }
            }
        }
        acc
    });
    let mut sums = vec![[0.0f64; 2]; c];
    for p in &partials {
        for (t, v) in sums.iter_mut().zip(p) {
            t[0] += v[0];
            t[1] += v[1];
        }
    }
    sums
}

/// `out = f(channel, a, b)` elementwise over `[N, C, S]` buffers.
fn channel_map(a: &[f32], b: &[f32], c: usize, s: usize, out: &mut [f32], f: impl Fn(usize, f32, f32) -> f32 + Sync) {
    let row = c * s;
    if row == 0 {
        return;
    }
    let work = (Rows(out, row), Rows(a, row), Rows(b, row));
    parallel::for_each(work, rows_per_task(row), |_, (Rows(o, _), Rows(a, _), Rows(b, _))| {
        for (i, ((o, a), b)) in o.chunks_exact_mut(s).zip(a.chunks_exact(s)).zip(b.chunks_exact(s)).enumerate() {
            let ch = i % c;
            o.iter_mut().zip(a).zip(b).for_each(|((o, &x), &y)| *o = f(ch, x, y));
        }
    });
}

/// `t` (`[N, C, *]`) summed over everything but the channel axis: `[C]`.
/// The gradient of a per-channel bias (convolutions, batch norm).
///
/// ```
/// use backprop::{tensor::sum_channels, Tensor};
/// let t = Tensor::from_vec((0..8).map(|v| v as f32).collect(), &[2, 2, 2]);
/// assert_eq!(sum_channels(&t).data(), &[0.0 + 1.0 + 4.0 + 5.0, 2.0 + 3.0 + 6.0 + 7.0]);
/// ```
pub fn sum_channels(t: &Tensor) -> Tensor {
    let (_, c, s) = layout("sum_channels", t.shape());
    let sums = channel_sums(t.data(), t.data(), c, s, |_, x, _| [x as f64, 0.0]);
    Tensor::from_vec(sums.iter().map(|v| v[0] as f32).collect(), &[c])
}

/// Per-channel batch statistics of `x` `[N, C, *]`: the mean and the biased
/// variance (divided by `M = N * S`), each `[C]`, computed in two passes in `f64`.
///
/// # Panics
/// When `x` has fewer than 2 dims.
///
/// ```
/// use backprop::{tensor::batch_norm_stats, Tensor};
/// // one channel holding 1e4 + {-1, 1}: the variance survives the large mean
/// let x = Tensor::from_vec(vec![9999.0, 10001.0], &[2, 1]);
/// let (mean, var) = batch_norm_stats(&x);
/// assert_eq!((mean.data(), var.data()), (&[10000.0][..], &[1.0][..]));
/// ```
pub fn batch_norm_stats(x: &Tensor) -> (Tensor, Tensor) {
    let (n, c, s) = layout("batch_norm", x.shape());
    let m = (n * s).max(1) as f64;
    let sums = channel_sums(x.data(), x.data(), c, s, |_, x, _| [x as f64, 0.0]);
    let mean: Vec<f64> = sums.iter().map(|v| v[0] / m).collect();
    let sq = channel_sums(x.data(), x.data(), c, s, |ch, x, _| {
        let d = x as f64 - mean[ch];
        [d * d, 0.0]
    });
    let var = sq.iter().map(|v| (v[0] / m) as f32).collect();
    (Tensor::from_vec(mean.iter().map(|&v| v as f32).collect(), &[c]), Tensor::from_vec(var, &[c]))
}

/// Checks that each per-channel tensor is `[C]`; panics naming `op` otherwise.
fn check_channels(op: &str, x: &Tensor, c: usize, named: &[(&str, Option<&Tensor>)]) {
    for (name, t) in named {
        if let Some(t) = t {
            assert!(
                t.shape() == [c],
                "{op}: {name} has shape {:?}, expected [{c}] for input {:?}",
                t.shape(),
                x.shape()
            );
        }
    }
}

/// `rstd = 1 / sqrt(var + eps)` and `gamma rstd` per channel.
fn scales(var: &Tensor, weight: Option<&Tensor>, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let rstd: Vec<f32> = var.data().iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    let scale = match weight {
        Some(w) => rstd.iter().zip(w.data()).map(|(r, g)| r * g).collect(),
        None => rstd.clone(),
    };
    (rstd, scale)
}

/// Normalises `x` `[N, C, *]` per channel with the given `mean` and `var`
/// (`[C]` each: batch statistics in training, running estimates in
/// evaluation), then scales by `weight` and shifts by `bias` (`[C]`, 1 and 0
/// when `None`). See the module docs for the formula.
///
/// # Panics
/// When a per-channel tensor is not `[C]`.
///
/// ```
/// use backprop::{tensor::batch_norm, Tensor};
/// let x = Tensor::from_vec(vec![1.0, 3.0], &[2, 1]);
/// let (mean, var) = (Tensor::from_vec(vec![2.0], &[1]), Tensor::from_vec(vec![1.0], &[1]));
/// assert_eq!(batch_norm(&x, &mean, &var, None, None, 0.0).data(), &[-1.0, 1.0]);
/// ```
pub fn batch_norm(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Tensor {
    let (_, c, s) = layout("batch_norm", x.shape());
    let named = [("mean", Some(mean)), ("var", Some(var)), ("weight", weight), ("bias", bias)];
    check_channels("batch_norm", x, c, &named);
    let (_, scale) = scales(var, weight, eps);
    let zeros = vec![0.0f32; c];
    let (mean, shift) = (mean.data(), bias.map_or(&zeros[..], Tensor::data));
    let mut y = vec![0.0f32; x.numel()];
    channel_map(x.data(), x.data(), c, s, &mut y, |ch, x, _| (x - mean[ch]) * scale[ch] + shift[ch]);
    Tensor::from_vec(y, x.shape())
}

/// Gradients of [`batch_norm`] from its input `x`, the `mean` and `var` it
/// used, its `weight` and `dy = dL/dy`: `(dx, dweight, dbias)`, shapes
/// `x.shape()`, `[C]`, `[C]`. With `batch_stats` the statistics are taken to
/// be those of `x` (training) and their dependence on `x` is included;
/// otherwise they are constants (evaluation). Formulas in the module docs.
///
/// # Panics
/// When a per-channel tensor is not `[C]` or `dy` differs from `x` in shape.
pub fn batch_norm_backward(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    weight: Option<&Tensor>,
    dy: &Tensor,
    eps: f32,
    batch_stats: bool,
) -> (Tensor, Tensor, Tensor) {
    let (n, c, s) = layout("batch_norm backward", x.shape());
    assert!(dy.shape() == x.shape(), "batch_norm backward: dy {:?} differs from input {:?}", dy.shape(), x.shape());
    check_channels("batch_norm backward", x, c, &[("mean", Some(mean)), ("var", Some(var)), ("weight", weight)]);
    let (rstd, scale) = scales(var, weight, eps);
    let mean = mean.data();
    let sums = channel_sums(x.data(), dy.data(), c, s, |ch, x, dy| {
        let xhat = (x - mean[ch]) * rstd[ch];
        [dy as f64, (dy * xhat) as f64]
    });
    let m = (n * s).max(1) as f64;
    let (mean_dy, mean_dy_xhat): (Vec<f32>, Vec<f32>) = if batch_stats {
        sums.iter().map(|v| ((v[0] / m) as f32, (v[1] / m) as f32)).unzip()
    } else {
        (vec![0.0; c], vec![0.0; c])
    };
    let mut dx = vec![0.0f32; x.numel()];
    channel_map(x.data(), dy.data(), c, s, &mut dx, |ch, x, dy| {
        let xhat = (x - mean[ch]) * rstd[ch];
        scale[ch] * (dy - mean_dy[ch] - xhat * mean_dy_xhat[ch])
    });
    let dweight = sums.iter().map(|v| v[1] as f32).collect();
    let dbias = sums.iter().map(|v| v[0] as f32).collect();
    (Tensor::from_vec(dx, x.shape()), Tensor::from_vec(dweight, &[c]), Tensor::from_vec(dbias, &[c]))
}
