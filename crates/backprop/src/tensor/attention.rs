//! Causal attention kernels: the causal softmax of scores and fused
//! multi-head causal self-attention, each with its backward.
//!
//! Causal softmax of scores `[.., T, T]`: row i keeps columns j <= i,
//! p_ij = softmax_j(s * a_ij); its backward is softmax's times the scale,
//! da_ij = s * p_ij (g_ij - sum_k g_ik p_ik).
//!
//! Fused attention, per batch and head (Vaswani et al., 2017, with a causal
//! mask): P = causal_softmax(Q K^T / sqrt(d)), Y = P V. Backward, with G = dY:
//! dV = P^T G, dP = G V^T, dS = P * (dP - rowsum(dP * P)) / sqrt(d),
//! dQ = dS K, dK = dS^T Q.

use super::matmul::matmul_into;
use super::parallel::{self, Rows};
use super::Tensor;

/// Writes the causal softmax of `scores` (`[.., t, t]` rows) into `out`.
fn causal_softmax_rows(scores: &[f32], t: usize, scale: f32, out: &mut [f32]) {
    parallel::for_each((Rows(scores, t * t), Rows(out, t * t)), 1, |_, (Rows(src, _), Rows(dst, _))| {
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
    });
}

/// Causal attention weights from raw scores `[.., T, T]`: row i is the
/// softmax of `scale * scores[i, ..=i]`, and 0 for the future (j > i).
///
/// # Panics
/// When the last two dimensions are missing or differ.
///
/// ```
/// use backprop::{tensor::causal_softmax, Tensor};
/// assert_eq!(causal_softmax(&Tensor::zeros(&[2, 2]), 1.0).data(), &[1.0, 0.0, 0.5, 0.5]);
/// ```
pub fn causal_softmax(scores: &Tensor, scale: f32) -> Tensor {
    let shape = scores.shape();
    assert!(
        shape.len() >= 2 && shape[shape.len() - 1] == shape[shape.len() - 2],
        "causal_softmax: scores must be [.., T, T], got {shape:?}"
    );
    let t = shape[shape.len() - 1];
    let mut out = vec![0.0f32; scores.numel()];
    causal_softmax_rows(scores.data(), t, scale, &mut out);
    Tensor::from_vec(out, shape)
}

/// The chain rule through [`causal_softmax`]: from its output `p` and
/// `dp = dL/dp` (both `[.., T, T]`), `ds_ij = scale * p_ij (dp_ij - sum_k dp_ik p_ik)`
/// for j <= i, 0 above the diagonal.
pub fn causal_softmax_backward(p: &Tensor, dp: &Tensor, scale: f32) -> Tensor {
    let t = *p.shape().last().expect("scores have a last axis");
    let mut dx = vec![0.0f32; p.numel()];
    let work = (Rows(&mut dx[..], t * t), Rows(p.data(), t * t), Rows(dp.data(), t * t));
    parallel::for_each(work, 1, |_, (Rows(dx, _), Rows(p, _), Rows(g, _))| {
        for i in 0..t {
            let (p, g, d) = (&p[i * t..=i * t + i], &g[i * t..=i * t + i], &mut dx[i * t..=i * t + i]);
            let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
            for ((d, &p), &g) in d.iter_mut().zip(p).zip(g) {
                *d = scale * p * (g - dot);
            }
        }
    });
    Tensor::from_vec(dx, p.shape())
}

/// Copies head `h`'s slice of Q, K or V (`which` = 0, 1, 2) of one sequence
/// (`rows`: that sequence's `[T, 3C]` rows) into a contiguous `[T, d]` buffer.
fn gather_head(rows: &[f32], t: usize, c: usize, h: usize, d: usize, which: usize, out: &mut [f32]) {
    for i in 0..t {
        let src = &rows[i * 3 * c + which * c + h * d..][..d];
        out[i * d..(i + 1) * d].copy_from_slice(src);
    }
}

/// Copies a contiguous `[T, d]` buffer into head `h`'s columns of `rows` (`[T, width]`).
fn scatter_head(buf: &[f32], t: usize, width: usize, offset: usize, d: usize, rows: &mut [f32]) {
    for i in 0..t {
        rows[i * width + offset..][..d].copy_from_slice(&buf[i * d..(i + 1) * d]);
    }
}

/// Checks that `qkv` is `[batch * time, 3C]` with C divisible by `heads`;
/// returns C.
fn check_qkv(qkv: &Tensor, batch: usize, time: usize, heads: usize) -> usize {
    let shape = qkv.shape();
    assert!(
        shape.len() == 2 && shape[0] == batch * time && heads > 0 && shape[1].is_multiple_of(3 * heads),
        "causal_attention: input {shape:?} is not [batch {batch} * time {time}, 3 * C] with C divisible by {heads} heads"
    );
    shape[1] / 3
}

/// Multi-head causal self-attention on a fused Q/K/V projection `qkv`
/// `[batch * time, 3C]` (rows batch-major, columns Q | K | V, each split into
/// `heads` heads of C/heads). Returns `(y, p)`: the output `[batch * time, C]`
/// with the heads side by side, and the attention weights `[batch, heads, T, T]`
/// that [`causal_attention_backward`] needs. Batches run in parallel.
///
/// # Panics
/// When the shape does not fit `batch`, `time` and `heads`.
///
/// ```
/// use backprop::{tensor::causal_attention, Tensor};
/// let (y, p) = causal_attention(&Tensor::ones(&[2 * 3, 3 * 4]), 2, 3, 2);
/// assert_eq!((y.shape(), p.shape()), (&[6, 4][..], &[2, 2, 3, 3][..]));
/// ```
pub fn causal_attention(qkv: &Tensor, batch: usize, time: usize, heads: usize) -> (Tensor, Tensor) {
    let c = check_qkv(qkv, batch, time, heads);
    let (t, h) = (time, heads);
    let d = c / h;
    let scale = 1.0 / (d as f32).sqrt();
    let mut y = vec![0.0f32; batch * t * c];
    let mut probs = vec![0.0f32; batch * h * t * t];
    let qkv = qkv.data();
    let work = (Rows(&mut y[..], t * c), Rows(&mut probs[..], h * t * t));
    parallel::for_each(work, 1, |b, (Rows(out, _), Rows(pb, _))| {
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
    (Tensor::from_vec(y, &[batch * t, c]), Tensor::from_vec(probs, &[batch, h, t, t]))
}

/// The gradient of [`causal_attention`] with respect to `qkv`
/// (`[batch * time, 3C]`), from the weights `probs` it returned and
/// `dy = dL/dy` (`[batch * time, C]`); formulas in the module docs.
pub fn causal_attention_backward(qkv: &Tensor, probs: &Tensor, dy: &Tensor, time: usize, heads: usize) -> Tensor {
    let (t, h) = (time, heads);
    let c = dy.dim(1);
    let batch = dy.dim(0) / t.max(1);
    check_qkv(qkv, batch, time, heads);
    let d = c / h;
    let scale = 1.0 / (d as f32).sqrt();
    let (dy, probs) = (dy.data(), probs.data());
    let qkv_data = qkv.data();
    let mut dqkv = vec![0.0f32; qkv_data.len()];
    parallel::for_each(Rows(&mut dqkv[..], t * 3 * c), 1, |b, Rows(out, _)| {
        let rows = &qkv_data[b * t * 3 * c..(b + 1) * t * 3 * c];
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
    });
    Tensor::from_vec(dqkv, qkv.shape())
}
