//! Reductions along an axis or over everything, and undoing broadcasts.

use super::shape::{numel, split_at_axis};
use super::unary::nan_max;
use super::Tensor;

/// The sum of `x[i]^2` (or of `(x[i] - y[i])^2` when `DIFF`) in 4 x 16 f32
/// lanes (term `i` into lane `i % 64`; the last `len % 64` terms summed
/// apart), the lanes then added in a fixed order. It vectorises into four
/// AVX-512 registers (or eight AVX ones), so that consecutive chunks add into
/// different registers instead of each waiting for the one before it. (16
/// lanes in one array made a 23,520-value gradient a chain of 1,470
/// dependent adds; 64 in one array were kept on the stack.) A generic x86-64
/// build would compile it for SSE2, whose 16 registers cannot hold the 64
/// lanes: CPUs with AVX-512 or AVX2 run a copy compiled for them, the same
/// operations in the same order, so the same bits.
fn lane_sum<const DIFF: bool>(x: &[f32], y: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { lane_sum_avx512::<DIFF>(x, y) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { lane_sum_avx2::<DIFF>(x, y) };
        }
    }
    lane_sum_loop::<DIFF>(x, y)
}

/// [`lane_sum_loop`] compiled for CPUs with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn lane_sum_avx512<const DIFF: bool>(x: &[f32], y: &[f32]) -> f32 {
    lane_sum_loop::<DIFF>(x, y)
}

/// [`lane_sum_loop`] compiled for CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lane_sum_avx2<const DIFF: bool>(x: &[f32], y: &[f32]) -> f32 {
    lane_sum_loop::<DIFF>(x, y)
}

/// The loops of [`lane_sum`], inlined into each CPU-specific copy.
#[inline(always)]
fn lane_sum_loop<const DIFF: bool>(x: &[f32], y: &[f32]) -> f32 {
    #[inline(always)]
    fn term<const DIFF: bool>(x: f32, y: f32) -> f32 {
        if DIFF {
            (x - y) * (x - y)
        } else {
            x * x
        }
    }
    #[inline(always)]
    fn add<const DIFF: bool>(acc: &mut [f32; 16], x: &[f32], y: &[f32]) {
        for ((l, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *l += term::<DIFF>(x, y);
        }
    }
    let (xs, ys) = (x.chunks_exact(64), y.chunks_exact(64));
    let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(&x, &y)| term::<DIFF>(x, y)).sum();
    let (mut a, mut b, mut c, mut d) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
    for (x, y) in xs.zip(ys) {
        add::<DIFF>(&mut a, &x[..16], &y[..16]);
        add::<DIFF>(&mut b, &x[16..32], &y[16..32]);
        add::<DIFF>(&mut c, &x[32..48], &y[32..48]);
        add::<DIFF>(&mut d, &x[48..], &y[48..]);
    }
    (0..16).map(|l| (a[l] + b[l]) + (c[l] + d[l])).sum::<f32>() + tail
}

impl Tensor {
    fn reduced_shape(&self, axis: usize, keepdim: bool) -> Vec<usize> {
        let mut s = self.shape.clone();
        if keepdim {
            s[axis] = 1;
        } else {
            s.remove(axis);
        }
        s
    }

    fn check_axis(&self, op: &str, axis: usize) {
        assert!(axis < self.ndim(), "{op}: axis {axis} out of range for shape {:?}", self.shape);
    }

    /// Sum along `axis` (accumulated in f64); `keepdim` keeps it as a dimension of size 1.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(t.sum_axis(0, false).data(), &[4.0, 6.0]);
    /// assert_eq!(t.sum_axis(1, true).shape(), &[2, 1]);
    /// ```
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        self.check_axis("sum_axis", axis);
        self.fold_axis(axis, keepdim, 0.0f64, |acc, x| acc + f64::from(x), |s| s as f32)
    }

    /// Folds the values along `axis` into `init` with `f`, one output per
    /// position of the other axes, finished by `finish` (a kernel shared by
    /// the reductions; sums accumulate in f64).
    fn fold_axis<A: Copy>(
        &self,
        axis: usize,
        keepdim: bool,
        init: A,
        f: impl Fn(A, f32) -> A,
        finish: impl Fn(A) -> f32,
    ) -> Tensor {
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        let src = self.data();
        let mut acc = vec![init; outer * inner];
        for o in 0..outer {
            let dst = &mut acc[o * inner..(o + 1) * inner];
            for k in 0..len {
                let row = &src[(o * len + k) * inner..(o * len + k + 1) * inner];
                for (d, &x) in dst.iter_mut().zip(row) {
                    *d = f(*d, x);
                }
            }
        }
        Tensor::from_vec(acc.into_iter().map(finish).collect(), &self.reduced_shape(axis, keepdim))
    }

    /// Mean along `axis` (accumulated and divided in f64, so a mean of
    /// values near f32's limit does not overflow).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![3e38, 3e38], &[2, 1]);
    /// assert_eq!(t.mean_axis(0, false).data(), &[3e38]);
    /// ```
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        self.check_axis("mean_axis", axis);
        let n = self.dim(axis) as f64;
        self.fold_axis(axis, keepdim, 0.0f64, |acc, x| acc + f64::from(x), |s| (s / n) as f32)
    }

    /// Maximum along `axis`; a NaN is the maximum of its slice, as in PyTorch's
    /// `max(dim)` and `amax`.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, f32::NAN, 2.0, 3.0], &[2, 2]);
    /// let m = t.max_axis(1, false);
    /// assert!(m.data()[0].is_nan() && m.data()[1] == 3.0);
    /// ```
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        self.check_axis("max_axis", axis);
        assert!(self.shape[axis] > 0, "max_axis: axis {axis} of shape {:?} is empty", self.shape);
        self.fold_axis(axis, keepdim, f32::NEG_INFINITY, nan_max, |m| m)
    }

    /// Index of the maximum along `axis` (first one on ties; the first NaN, if
    /// any, as PyTorch's `argmax`), as `usize`s in row-major order of the
    /// reduced shape.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![0.1, 0.7, 0.2, 0.9, 0.05, 0.05], &[2, 3]);
    /// assert_eq!(t.argmax_axis(1), vec![1, 0]);
    /// let t = backprop::Tensor::from_vec(vec![0.1, 0.7, f32::NAN, f32::NAN], &[1, 4]);
    /// assert_eq!(t.argmax_axis(1), vec![2]);
    /// ```
    pub fn argmax_axis(&self, axis: usize) -> Vec<usize> {
        self.check_axis("argmax_axis", axis);
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        let src = self.data();
        let mut out = vec![0usize; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                let mut best = f32::NEG_INFINITY;
                let mut arg = 0;
                for k in 0..len {
                    let v = src[(o * len + k) * inner + i];
                    if v > best || k == 0 || (v.is_nan() && !best.is_nan()) {
                        best = v;
                        arg = k;
                    }
                }
                out[o * inner + i] = arg;
            }
        }
        out
    }

    /// The adjoint of [`Tensor::max_axis`]: `self` is the gradient of the
    /// maximum (the reduced shape, with or without the kept dim), spread to a
    /// tensor shaped like `x` with each value at the (first) maximal element
    /// of its slice along `axis`, zeros elsewhere.
    ///
    /// ```
    /// let x = backprop::Tensor::from_vec(vec![1.0, 5.0, 7.0, 2.0], &[2, 2]);
    /// let g = backprop::Tensor::from_vec(vec![10.0, 20.0], &[2]);
    /// assert_eq!(g.scatter_to_argmax(&x, 1).data(), &[0.0, 10.0, 20.0, 0.0]);
    /// ```
    pub fn scatter_to_argmax(&self, x: &Tensor, axis: usize) -> Tensor {
        let (outer, len, inner) = split_at_axis(x.shape(), axis);
        let winners = x.argmax_axis(axis);
        let g = self.data();
        let mut out = vec![0.0f32; x.numel()];
        for o in 0..outer {
            for i in 0..inner {
                let k = winners[o * inner + i];
                out[(o * len + k) * inner + i] = g[o * inner + i];
            }
        }
        Tensor::from_vec(out, x.shape())
    }

    /// Sum of all elements (accumulated in f64 for accuracy).
    pub fn sum_all(&self) -> f32 {
        self.data().iter().map(|&x| x as f64).sum::<f64>() as f32
    }

    /// Sum of the squared elements (the squared L2 norm), accumulated in
    /// 64 f32 lanes so that it vectorises: one cheap pass, used to check a step's
    /// gradients and to measure their norm. NaN or infinite when an element
    /// is, or when the sum overflows f32 (elements above about 1.8e19).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![3.0, 4.0], &[2]);
    /// assert_eq!(t.sum_squares(), 25.0);
    /// assert!(backprop::Tensor::from_vec(vec![1.0, f32::NAN], &[2]).sum_squares().is_nan());
    /// ```
    pub fn sum_squares(&self) -> f32 {
        lane_sum::<false>(self.data(), self.data())
    }

    /// Sum of the squared differences to `other` (the squared L2 distance),
    /// vectorised as [`Tensor::sum_squares`]: the size of an update.
    ///
    /// ```
    /// let a = backprop::Tensor::from_vec(vec![1.0, 2.0], &[2]);
    /// let b = backprop::Tensor::from_vec(vec![4.0, -2.0], &[2]);
    /// assert_eq!(a.squared_distance(&b), 25.0);
    /// ```
    ///
    /// # Panics
    /// When the shapes differ.
    pub fn squared_distance(&self, other: &Tensor) -> f32 {
        assert_eq!(
            self.shape(),
            other.shape(),
            "squared_distance: shapes {:?} and {:?} differ",
            self.shape(),
            other.shape()
        );
        lane_sum::<true>(self.data(), other.data())
    }

    /// Mean of all elements (accumulated and divided in f64).
    pub fn mean_all(&self) -> f32 {
        (self.data().iter().map(|&x| f64::from(x)).sum::<f64>() / self.numel().max(1) as f64) as f32
    }

    /// Sums a broadcast result back down to `shape`: the adjoint of broadcasting,
    /// used by backward passes of broadcasting ops.
    ///
    /// ```
    /// let g = backprop::Tensor::ones(&[4, 3]);
    /// assert_eq!(g.sum_to_shape(&[3]).data(), &[4.0, 4.0, 4.0]);
    /// assert_eq!(g.sum_to_shape(&[4, 1]).data(), &[3.0, 3.0, 3.0, 3.0]);
    /// ```
    pub fn sum_to_shape(&self, shape: &[usize]) -> Tensor {
        if self.shape == shape {
            return self.clone();
        }
        assert!(
            shape.len() <= self.ndim(),
            "sum_to_shape: cannot reduce {:?} to a shape with more dims {:?}",
            self.shape,
            shape
        );
        // Fast path: leading dims collapse onto a trailing block ([N, M] -> [M]).
        let lead = self.ndim() - shape.len();
        let trailing = numel(shape);
        if self.shape[lead..] == *shape {
            let mut out = vec![0.0f32; trailing];
            for row in self.data().chunks(trailing.max(1)) {
                for (o, &x) in out.iter_mut().zip(row) {
                    *o += x;
                }
            }
            return Tensor::from_vec(out, shape);
        }
        let mut t = self.clone();
        for _ in 0..lead {
            t = t.sum_axis(0, false);
        }
        for (axis, &d) in shape.iter().enumerate() {
            if d == 1 && t.shape[axis] != 1 {
                t = t.sum_axis(axis, true);
            }
        }
        assert_eq!(t.shape(), shape, "sum_to_shape: {:?} does not broadcast to {:?}", shape, self.shape);
        t
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn squared_sums_match_f64_at_every_length_around_the_lanes() {
        for n in [0, 1, 15, 16, 63, 64, 65, 127, 1000, 23_520] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let y: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32) / 3.0).collect();
            let squares: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
            let distance: f64 = x.iter().zip(&y).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            let (tx, ty) = (Tensor::from_vec(x, &[n]), Tensor::from_vec(y, &[n]));
            assert!((tx.sum_squares() as f64 - squares).abs() <= 1e-5 * squares.max(1.0), "n = {n}");
            assert!((tx.squared_distance(&ty) as f64 - distance).abs() <= 1e-5 * distance.max(1.0), "n = {n}");
        }
    }
}
