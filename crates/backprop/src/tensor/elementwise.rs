//! Elementwise kernels: unary maps, scalar ops and broadcasting binary ops.
//!
//! Large buffers are split across threads by [`parallel`](super::parallel);
//! small ones stay on the calling thread.

use super::parallel::{self, CHUNK};
use super::shape::{broadcast_shapes, broadcast_strides, numel};
use super::unary::{nan_max, nan_min, sigmoid_f32, unary, UnaryOp};
#[cfg(doc)]
use super::unary::{pow_grad_base, pow_grad_exponent};
use super::{output_buffer, Tensor};
use std::sync::Arc;

/// `dst[i] = f(src[i])`.
pub(crate) fn map_slice(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    parallel::for_each((dst, src), CHUNK, |_, (d, s)| {
        for (o, &x) in d.iter_mut().zip(s) {
            *o = f(x);
        }
    });
}

/// `dst[i] = f(a[i], b[i])`.
pub(crate) fn zip_slice(a: &[f32], b: &[f32], dst: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    parallel::for_each((dst, a, b), CHUNK, |_, (d, x, y)| {
        for ((o, &p), &q) in d.iter_mut().zip(x).zip(y) {
            *o = f(p, q);
        }
    });
}

impl Tensor {
    /// Applies `f` to every element.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, -2.0], &[2]);
    /// assert_eq!(t.map(|x| x * x).data(), &[1.0, 4.0]);
    /// ```
    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync) -> Tensor {
        // SAFETY: `map_slice` writes every value of `out`.
        let mut out = unsafe { output_buffer(self.numel()) };
        map_slice(self.data(), &mut out, f);
        Tensor { shape: self.shape.clone(), data: Arc::new(out) }
    }

    /// Applies `f` in place (copying first only if the buffer is shared).
    pub fn map_inplace(&mut self, f: impl Fn(f32) -> f32 + Sync) {
        parallel::for_each(self.data_mut(), CHUNK, |_, c| c.iter_mut().for_each(|x| *x = f(*x)));
    }

    /// Combines two tensors elementwise with NumPy broadcasting.
    ///
    /// # Panics
    /// When the shapes cannot be broadcast together; the message names `op` and both shapes.
    pub fn zip_broadcast(&self, other: &Tensor, op: &str, f: impl Fn(f32, f32) -> f32 + Sync) -> Tensor {
        if self.shape == other.shape {
            // SAFETY: `zip_slice` writes every value of `out`.
            let mut out = unsafe { output_buffer(self.numel()) };
            zip_slice(self.data(), other.data(), &mut out, f);
            return Tensor { shape: self.shape.clone(), data: Arc::new(out) };
        }
        let out_shape = broadcast_shapes(&self.shape, &other.shape).unwrap_or_else(|| {
            panic!("{op}: shapes {:?} and {:?} cannot be broadcast together", self.shape, other.shape)
        });
        let n = numel(&out_shape);
        // SAFETY: each branch below writes every one of the `n` output values
        // (the row loops cover all `n / m` rows of `m`).
        let mut out = unsafe { output_buffer(n) };
        let (a, b) = (self.data(), other.data());
        if other.numel() == 1 && self.numel() == n {
            let s = b[0];
            map_slice(a, &mut out, |x| f(x, s));
        } else if self.numel() == 1 && other.numel() == n {
            let s = a[0];
            map_slice(b, &mut out, |y| f(s, y));
        } else if self.numel() == n && is_suffix(&other.shape, &out_shape) {
            // [.., M] op [M]: repeat `other` along the leading dims.
            // (M is 0 only when the output is empty; chunks need a non-zero size.)
            let m = other.numel().max(1);
            for (orow, arow) in out.chunks_mut(m).zip(a.chunks(m)) {
                for ((o, &x), &y) in orow.iter_mut().zip(arow).zip(b) {
                    *o = f(x, y);
                }
            }
        } else if other.numel() == n && is_suffix(&self.shape, &out_shape) {
            let m = self.numel().max(1);
            for (orow, brow) in out.chunks_mut(m).zip(b.chunks(m)) {
                for ((o, &y), &x) in orow.iter_mut().zip(brow).zip(a) {
                    *o = f(x, y);
                }
            }
        } else {
            general_broadcast(a, &self.shape, b, &other.shape, &out_shape, &mut out, f);
        }
        Tensor { shape: out_shape, data: Arc::new(out) }
    }

    /// Elementwise sum with broadcasting.
    pub fn add(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "add", |a, b| a + b)
    }
    /// Elementwise difference with broadcasting.
    pub fn sub(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "sub", |a, b| a - b)
    }
    /// Elementwise product with broadcasting.
    pub fn mul(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "mul", |a, b| a * b)
    }
    /// Elementwise quotient with broadcasting.
    pub fn div(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "div", |a, b| a / b)
    }
    /// Elementwise maximum with broadcasting; a NaN in either wins (PyTorch's `maximum`).
    ///
    /// ```
    /// use backprop::Tensor;
    /// let m = Tensor::from_vec(vec![1.0, f32::NAN], &[2]).maximum(&Tensor::from_vec(vec![2.0, 0.0], &[2]));
    /// assert!(m.data()[0] == 2.0 && m.data()[1].is_nan());
    /// ```
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "maximum", nan_max)
    }
    /// Elementwise minimum with broadcasting; a NaN in either wins (PyTorch's `minimum`).
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "minimum", nan_min)
    }
    /// `self ^ exponent` elementwise with broadcasting, by `powf` (so a
    /// negative base with an integer exponent is defined: (-2)^2 = 4), as
    /// PyTorch's `pow`. Gradients: [`pow_grad_base`], [`pow_grad_exponent`].
    ///
    /// ```
    /// use backprop::Tensor;
    /// let x = Tensor::from_vec(vec![-2.0, 0.0, 4.0], &[3]);
    /// let y = x.pow(&Tensor::from_vec(vec![2.0, 0.0, 0.5], &[3]));
    /// assert_eq!(y.data(), &[4.0, 1.0, 2.0]);
    /// ```
    pub fn pow(&self, exponent: &Tensor) -> Tensor {
        self.zip_broadcast(exponent, "pow", f32::powf)
    }

    /// `self += other * alpha` in place (same shape), the optimizer's axpy.
    pub fn add_scaled_inplace(&mut self, other: &Tensor, alpha: f32) {
        assert_eq!(self.shape, other.shape, "add_scaled_inplace: shapes {:?} and {:?} differ", self.shape, other.shape);
        let dst = self.data_mut();
        for (d, &s) in dst.iter_mut().zip(other.data()) {
            *d += alpha * s;
        }
    }

    /// Negation.
    pub fn neg(&self) -> Tensor {
        self.map(|x| -x)
    }
    /// Natural exponential.
    pub fn exp(&self) -> Tensor {
        self.map(f32::exp)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Tensor {
        self.map(f32::ln)
    }
    /// Square root.
    pub fn sqrt(&self) -> Tensor {
        self.map(f32::sqrt)
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        self.map(f32::tanh)
    }
    /// Logistic sigmoid 1 / (1 + e^-x).
    pub fn sigmoid(&self) -> Tensor {
        self.map(sigmoid_f32)
    }
    /// max(x, 0), NaN kept.
    pub fn relu(&self) -> Tensor {
        unary(UnaryOp::Relu, self)
    }
    /// Absolute value.
    pub fn abs(&self) -> Tensor {
        self.map(f32::abs)
    }
    /// x^p for a scalar exponent.
    pub fn powf(&self, p: f32) -> Tensor {
        unary(UnaryOp::Pow(p), self)
    }
    /// x + s.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x + s)
    }
    /// x * s.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x * s)
    }
    /// max(x, s), NaN kept (PyTorch's `clamp_min`).
    pub fn max_scalar(&self, s: f32) -> Tensor {
        unary(UnaryOp::MaxScalar(s), self)
    }
    /// min(x, s), NaN kept (PyTorch's `clamp_max`).
    pub fn min_scalar(&self, s: f32) -> Tensor {
        unary(UnaryOp::MinScalar(s), self)
    }
    /// min(max(x, lo), hi), NaN kept; `hi` everywhere when `lo > hi`, as
    /// PyTorch's `clamp` (never panics, unlike `f32::clamp`).
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![-1.0, 0.5, 2.0, f32::NAN], &[4]);
    /// let c = t.clamp(0.0, 1.0);
    /// assert_eq!(&c.data()[..3], &[0.0, 0.5, 1.0]);
    /// assert!(c.data()[3].is_nan());
    /// assert_eq!(t.clamp(3.0, 1.0).data()[..3], [1.0, 1.0, 1.0]);
    /// ```
    pub fn clamp(&self, lo: f32, hi: f32) -> Tensor {
        self.map(|x| nan_min(nan_max(x, lo), hi))
    }
    /// 1.0 where x > s, else 0.0.
    pub fn gt_scalar(&self, s: f32) -> Tensor {
        self.map(|x| f32::from(x > s))
    }
    /// 1.0 where x < s, else 0.0.
    pub fn lt_scalar(&self, s: f32) -> Tensor {
        self.map(|x| f32::from(x < s))
    }
    /// 1.0 where x >= s, else 0.0.
    pub fn ge_scalar(&self, s: f32) -> Tensor {
        self.map(|x| f32::from(x >= s))
    }
    /// 1.0 where x <= s, else 0.0.
    pub fn le_scalar(&self, s: f32) -> Tensor {
        self.map(|x| f32::from(x <= s))
    }
    /// 1.0 where x == s, else 0.0.
    pub fn eq_scalar(&self, s: f32) -> Tensor {
        self.map(|x| f32::from(x == s))
    }
}

fn is_suffix(small: &[usize], out: &[usize]) -> bool {
    let skip = small.iter().take_while(|&&d| d == 1).count();
    let core = &small[skip..];
    core.len() <= out.len() && out[out.len() - core.len()..] == *core
}

fn general_broadcast(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out_shape: &[usize],
    out: &mut [f32],
    f: impl Fn(f32, f32) -> f32,
) {
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let nd = out_shape.len();
    let mut idx = vec![0usize; nd];
    let (mut ia, mut ib) = (0usize, 0usize);
    for o in out.iter_mut() {
        *o = f(a[ia], b[ib]);
        // Odometer increment, keeping both source offsets in step.
        for d in (0..nd).rev() {
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < out_shape[d] {
                break;
            }
            ia -= sa[d] * out_shape[d];
            ib -= sb[d] * out_shape[d];
            idx[d] = 0;
        }
    }
}
