//! Elementwise kernels: unary maps, scalar ops and broadcasting binary ops.
//!
//! Large buffers are split across rayon threads; small ones stay on the
//! calling thread, where thread hand-off would cost more than the work.

use super::shape::{broadcast_shapes, broadcast_strides, numel};
use super::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// Below this many elements an elementwise kernel runs on one thread.
const PARALLEL_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 13;

pub(crate) fn map_slice(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if src.len() >= PARALLEL_MIN {
        dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| {
            for (o, &x) in d.iter_mut().zip(s) {
                *o = f(x);
            }
        });
    } else {
        for (o, &x) in dst.iter_mut().zip(src) {
            *o = f(x);
        }
    }
}

pub(crate) fn zip_slice(a: &[f32], b: &[f32], dst: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    if a.len() >= PARALLEL_MIN {
        dst.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(d, (x, y))| {
            for ((o, &p), &q) in d.iter_mut().zip(x).zip(y) {
                *o = f(p, q);
            }
        });
    } else {
        for ((o, &p), &q) in dst.iter_mut().zip(a).zip(b) {
            *o = f(p, q);
        }
    }
}

/// Logistic sigmoid, computed without overflow for large |x|.
#[inline]
pub fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)

/// tanh by a rational approximation (Eigen's `ptanh` for floats, within a few
/// ulps of the exact value): branch-free, so loops over it vectorise, unlike libm's.
///
/// ```
/// for x in [-10.0f32, -1.5, -0.3, 0.0, 1e-4, 0.7, 4.0, 20.0] {
///     assert!((backprop::tensor::fast_tanh(x) - x.tanh()).abs() < 2e-6);
/// }
/// ```
#[inline]
pub fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    p = x2 * p + -8.604_672e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = x2 * q + 2.268_434_6e-3;
    q = x2 * q + 4.893_525e-3;
    p / q
}

/// GELU, tanh approximation (as in GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#[inline]
pub fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_tanh(GELU_C * (x + 0.044715 * x * x * x)))
}

/// Derivative of [`gelu_f32`].
#[inline]
pub fn gelu_deriv_f32(x: f32) -> f32 {
    let t = fast_tanh(GELU_C * (x + 0.044715 * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
}

impl Tensor {
    /// Applies `f` to every element.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, -2.0], &[2]);
    /// assert_eq!(t.map(|x| x * x).data(), &[1.0, 4.0]);
    /// ```
    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync) -> Tensor {
        let mut out = vec![0.0; self.numel()];
        map_slice(self.data(), &mut out, f);
        Tensor { shape: self.shape.clone(), data: Arc::new(out) }
    }

    /// Applies `f` in place (copying first only if the buffer is shared).
    pub fn map_inplace(&mut self, f: impl Fn(f32) -> f32 + Sync) {
        let d = self.data_mut();
        if d.len() >= PARALLEL_MIN {
            d.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|x| *x = f(*x)));
        } else {
            d.iter_mut().for_each(|x| *x = f(*x));
        }
    }

    /// Combines two tensors elementwise with NumPy broadcasting.
    ///
    /// # Panics
    /// When the shapes cannot be broadcast together; the message names `op` and both shapes.
    pub fn zip_broadcast(&self, other: &Tensor, op: &str, f: impl Fn(f32, f32) -> f32 + Sync) -> Tensor {
        if self.shape == other.shape {
            let mut out = vec![0.0; self.numel()];
            zip_slice(self.data(), other.data(), &mut out, f);
            return Tensor { shape: self.shape.clone(), data: Arc::new(out) };
        }
        let out_shape = broadcast_shapes(&self.shape, &other.shape).unwrap_or_else(|| {
            panic!("{op}: shapes {:?} and {:?} cannot be broadcast together", self.shape, other.shape)
        });
        let n = numel(&out_shape);
        let mut out = vec![0.0; n];
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
    /// Elementwise maximum with broadcasting.
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "maximum", f32::max)
    }
    /// Elementwise minimum with broadcasting.
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.zip_broadcast(other, "minimum", f32::min)
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
    /// max(x, 0).
    pub fn relu(&self) -> Tensor {
        self.map(|x| x.max(0.0))
    }
    /// Absolute value.
    pub fn abs(&self) -> Tensor {
        self.map(f32::abs)
    }
    /// x^p for a scalar exponent.
    pub fn powf(&self, p: f32) -> Tensor {
        self.map(|x| x.powf(p))
    }
    /// x + s.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x + s)
    }
    /// x * s.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x * s)
    }
    /// max(x, s).
    pub fn max_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x.max(s))
    }
    /// min(x, s).
    pub fn min_scalar(&self, s: f32) -> Tensor {
        self.map(|x| x.min(s))
    }
    /// min(max(x, lo), hi).
    pub fn clamp(&self, lo: f32, hi: f32) -> Tensor {
        self.map(|x| x.clamp(lo, hi))
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
