//! Dense, row-major, contiguous `f32` tensors with no autodiff.
//!
//! A [`Tensor`] is a shape plus a reference-counted buffer: cloning is cheap
//! and shares the buffer; writing through [`Tensor::data_mut`] copies only
//! when the buffer is shared. Every operation here is a plain kernel; the
//! autodiff tape in [`crate::autograd`] builds on them.
//!
//! Besides elementwise maps, reductions, softmax and matrix products (the
//! `gemm` crate through [`matmul_into`]), the kernels include layer norm,
//! causal attention, and for convolutional networks on NCHW tensors:
//! [`conv2d`] and [`conv_transpose2d`] with their gradients (im2col + GEMM,
//! samples in parallel; one transposed convolution is the other's gradient),
//! [`max_pool2d`], [`avg_pool2d`], and batch normalisation ([`batch_norm`],
//! with statistics from [`batch_norm_stats`] accumulated in two passes in f64).
//! Each public kernel's docs give its shapes, formula and source.
//!
//! ```
//! use backprop::Tensor;
//! let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! let b = Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]);
//! let c = a.add(&b); // broadcast over rows
//! assert_eq!(c.data(), &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
//! assert_eq!(c.sum_axis(1, false).data(), &[66.0, 75.0]);
//! ```

mod adam;
mod attention;
mod batch_norm;
mod conv;
mod direct_conv;
mod elementwise;
mod im2col;
mod loss;
mod manipulate;
mod matmul;
mod norm;
pub mod parallel;
mod pool;
mod pool_2x2;
mod random;
mod reduce;
mod shape;
mod small_matmul;
mod softmax;
mod transpose;
mod unary;
mod winograd;

pub(crate) use adam::{adam_update, AdamStep};
pub use attention::{causal_attention, causal_attention_backward, causal_softmax, causal_softmax_backward};
pub use batch_norm::{batch_norm, batch_norm_backward, batch_norm_stats, sum_channels};
pub use conv::{
    conv2d, conv2d_input_grad, conv2d_out_size, conv2d_weight_grad, conv_bias_grad, conv_transpose2d,
    conv_transpose2d_input_grad, conv_transpose2d_out_size, conv_transpose2d_weight_grad, Conv2dOptions,
    ConvTranspose2dOptions,
};
pub use loss::{bce_with_logits, bce_with_logits_backward, cross_entropy, cross_entropy_backward, one_hot};
pub use matmul::matmul_into;
pub use norm::{layer_norm, layer_norm_backward, layer_norm_rows};
pub use pool::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, pool2d_out_size};
pub use random::Rng;
pub use shape::{broadcast_shapes, numel};
pub use softmax::{log_softmax_backward, softmax_backward};
pub use unary::{
    cmp_nan_greatest, fast_tanh, gelu_deriv_f32, gelu_f32, nan_max, nan_min, pow_grad_base, pow_grad_exponent,
    sigmoid_f32, unary, unary_backward, UnaryOp,
};

use std::fmt;
use std::sync::Arc;

/// The AVX-512 mask of the first `n` of 16 lanes (all 16 for `n >= 16`),
/// for the kernels' masked loads and stores of a row's last values.
#[cfg(target_arch = "x86_64")]
pub(crate) fn lane_mask(n: usize) -> u16 {
    ((1u32 << n.min(16)) - 1) as u16
}

/// A buffer of `len` values, not zeroed, for a kernel that writes every value
/// before anything reads one (a product's output, an elementwise map's).
/// Zeroing first costs one more pass over memory per op: for the weight
/// gradients of a GAN step alone, 6% of its time (benchmark W6).
///
/// # Safety
/// The caller must write all `len` values before reading any of them or
/// handing the buffer on. Every bit pattern is a valid `f32`; what this rules
/// out is reading memory that was never written.
///
/// (Candle's backends offer the same, `alloc_uninit`. Clippy's
/// `uninit_vec` flags every `set_len` on fresh capacity; the contract above
/// is what makes this one sound.)
#[allow(clippy::uninit_vec)]
pub(crate) unsafe fn output_buffer(len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    // SAFETY: the capacity is `len`; the values are the caller's to write (above).
    unsafe { out.set_len(len) };
    out
}

/// A dense `f32` tensor: row-major, contiguous, shared storage.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<Vec<f32>>,
}

impl Tensor {
    /// Builds a tensor from a flat row-major buffer.
    ///
    /// # Panics
    /// When `data.len()` differs from the product of `shape`; use
    /// [`Tensor::try_from_vec`] for data that comes from outside the program.
    ///
    /// ```
    /// let t = backprop::Tensor::from_vec(vec![1.0, 2.0], &[2, 1]);
    /// assert_eq!(t.shape(), &[2, 1]);
    /// ```
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Tensor {
        match Self::try_from_vec(data, shape) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Tensor::from_vec`] but returns an error instead of panicking.
    pub fn try_from_vec(data: Vec<f32>, shape: &[usize]) -> crate::Result<Tensor> {
        let n = numel(shape);
        if n != data.len() {
            return Err(crate::Error::Shape {
                op: "from_vec".into(),
                message: format!("shape {shape:?} holds {n} values but {} were given", data.len()),
            });
        }
        Ok(Tensor { shape: shape.to_vec(), data: Arc::new(data) })
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor { shape: shape.to_vec(), data: Arc::new(vec![value; numel(shape)]) }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Self::full(shape, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Self::full(shape, 1.0)
    }

    /// A zero-dimensional tensor holding one value.
    pub fn scalar(value: f32) -> Tensor {
        Tensor { shape: vec![], data: Arc::new(vec![value]) }
    }

    /// A tensor of zeros with the same shape as `self`.
    pub fn zeros_like(&self) -> Tensor {
        Self::zeros(&self.shape)
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Size of dimension `axis`.
    ///
    /// # Panics
    /// When `axis` is out of range.
    pub fn dim(&self, axis: usize) -> usize {
        assert!(axis < self.ndim(), "dim: axis {axis} out of range for shape {:?}", self.shape);
        self.shape[axis]
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable access to the values; copies the buffer first if it is shared.
    pub fn data_mut(&mut self) -> &mut [f32] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// The values as an owned vector (no copy when the buffer is not shared).
    pub fn into_vec(self) -> Vec<f32> {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
    }

    /// The single value of a one-element tensor.
    ///
    /// # Panics
    /// When the tensor has more or fewer than one element.
    pub fn item(&self) -> f32 {
        assert_eq!(self.numel(), 1, "item: tensor of shape {:?} has {} elements, not 1", self.shape, self.numel());
        self.data[0]
    }

    /// The same values under another shape with the same element count (no copy).
    ///
    /// # Panics
    /// When the element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(
            numel(shape),
            self.numel(),
            "reshape: cannot view shape {:?} ({} values) as {:?} ({} values)",
            self.shape,
            self.numel(),
            shape,
            numel(shape)
        );
        Tensor { shape: shape.to_vec(), data: self.data.clone() }
    }

    /// Whether every value is finite (no NaN, no infinity).
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }

    /// Largest absolute difference to `other` (same shape required).
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        assert_eq!(self.shape, other.shape, "max_abs_diff: shapes {:?} and {:?} differ", self.shape, other.shape);
        self.data.iter().zip(other.data.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} [", self.shape)?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v:.4}")?;
        }
        if self.numel() > SHOWN {
            write!(f, ", ... ({} values)", self.numel())?;
        }
        write!(f, "]")
    }
}
