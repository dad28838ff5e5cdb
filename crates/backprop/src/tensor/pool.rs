//! 2-d max and average pooling on NCHW tensors, with their backward passes.
//!
//! Both slide a `kh x kw` window with stride `[sh, sw]` over each plane of
//! `x` `[N, C, H, W]`, padded by `[ph, pw]` on each side, giving
//! `[N, C, OH, OW]` with `OH = floor((H + 2 ph - kh) / sh) + 1` (floor mode,
//! [`pool2d_out_size`]); as in PyTorch the padding is at most half the kernel.
//!
//! - Max pooling (PyTorch's `max_pool2d`): padding counts as -inf; the output
//!   is the window's largest value and the gradient goes to that one input
//!   (the first in row-major order when several tie, as PyTorch; a NaN wins).
//! - Average pooling (PyTorch's `avg_pool2d`, `count_include_pad=True`): the
//!   window's sum divided by `kh kw`, padding counting as zeros; the gradient
//!   spreads `dy / (kh kw)` over the window.
//!
//! Planes run in parallel.

use super::parallel::{self, Rows};
use super::pool_2x2::max_pool_2x2;
use super::Tensor;
use std::ops::Range;

/// Output size of a pooling window along one axis, floor mode (PyTorch's
/// formula): `floor((input + 2 padding - kernel) / stride) + 1`. `None` when
/// the window does not fit the padded input, when `kernel` or `stride` is 0,
/// or when `padding` exceeds half the kernel (PyTorch rejects that).
///
/// ```
/// use backprop::tensor::pool2d_out_size;
/// assert_eq!(pool2d_out_size(28, 2, 2, 0), Some(14));
/// assert_eq!(pool2d_out_size(7, 3, 2, 1), Some(4));
/// assert_eq!(pool2d_out_size(1, 2, 2, 0), None);
/// assert_eq!(pool2d_out_size(8, 2, 2, 2), None); // padding > kernel / 2
/// ```
pub fn pool2d_out_size(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    if kernel == 0 || stride == 0 || padding > kernel / 2 {
        return None;
    }
    let padded = input.checked_add(padding.checked_mul(2)?)?;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

/// The window of one pooling op over planes of one tensor.
#[derive(Clone, Copy, Debug)]
struct PoolGeometry {
    planes: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
}

impl PoolGeometry {
    /// Checks `x` `[N, C, H, W]` against the window; panics naming `op` and the shapes otherwise.
    fn new(op: &str, x: &[usize], kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> PoolGeometry {
        let fail = |why: &str| -> ! {
            panic!("{op}: {why}: input {x:?}, kernel {kernel:?}, stride {stride:?}, padding {padding:?}")
        };
        if x.len() != 4 {
            fail("input must be [N, C, H, W]");
        }
        let out = |a: usize| {
            pool2d_out_size(x[2 + a], kernel[a], stride[a], padding[a])
                .unwrap_or_else(|| fail("the window does not fit (or padding exceeds half the kernel)"))
        };
        PoolGeometry { planes: x[0] * x[1], in_hw: [x[2], x[3]], out_hw: [out(0), out(1)], kernel, stride, padding }
    }

    fn in_plane(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }

    fn out_plane(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// The input rows (`axis` 0) or columns (1) covered by output position
    /// `o`, clipped to the input.
    fn window(&self, axis: usize, o: usize) -> Range<usize> {
        let start = o * self.stride[axis];
        let lo = start.saturating_sub(self.padding[axis]);
        let hi = (start + self.kernel[axis]).saturating_sub(self.padding[axis]).min(self.in_hw[axis]);
        lo..hi
    }

    /// Calls `f(output index, input rows, input columns)` for every window
    /// of one plane, in row-major order.
    fn for_each_window(&self, mut f: impl FnMut(usize, Range<usize>, Range<usize>)) {
        let ow = self.out_hw[1];
        for oy in 0..self.out_hw[0] {
            let rows = self.window(0, oy);
            for ox in 0..ow {
                f(oy * ow + ox, rows.clone(), self.window(1, ox));
            }
        }
    }

    /// Calls `f(output index, input index)` for every input inside every
    /// window of one plane.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize)) {
        let w = self.in_hw[1];
        self.for_each_window(|o, rows, cols| {
            for iy in rows {
                for ix in cols.clone() {
                    f(o, iy * w + ix);
                }
            }
        });
    }
}

/// Marks an output whose window has not been visited yet (every window holds
/// at least one input, since the padding is at most half the kernel).
const UNSET: u32 = u32::MAX;

/// Max pooling of `x` `[N, C, H, W]` (see the module docs). Returns the
/// output `[N, C, OH, OW]` and, for each output value, the index within its
/// input plane (`row * W + column`) of the input it came from, as PyTorch's
/// `return_indices`: what [`max_pool2d_backward`] needs.
///
/// # Panics
/// When `x` is not 4-d or the window does not fit; the message names the shapes.
///
/// ```
/// use backprop::{tensor::max_pool2d, Tensor};
/// let x = Tensor::from_vec(vec![1.0, 5.0, 2.0, 3.0, 4.0, 0.0, 7.0, 7.0], &[1, 1, 2, 4]);
/// let (y, arg) = max_pool2d(&x, [2, 2], [2, 2], [0, 0]);
/// assert_eq!(y.data(), &[5.0, 7.0]);
/// assert_eq!(arg, vec![1, 6]); // the first of the tied 7s
/// ```
pub fn max_pool2d(x: &Tensor, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> (Tensor, Vec<u32>) {
    let g = PoolGeometry::new("max_pool2d", x.shape(), kernel, stride, padding);
    assert!(g.in_plane() < UNSET as usize, "max_pool2d: planes of {:?} are too large", g.in_hw);
    let mut y = vec![f32::NEG_INFINITY; g.planes * g.out_plane()];
    let mut arg = vec![UNSET; y.len()];
    let work = (Rows(&mut y[..], g.out_plane()), Rows(&mut arg[..], g.out_plane()), Rows(x.data(), g.in_plane()));
    let w = g.in_hw[1];
    let windows: Vec<_> = (0..g.out_hw[1]).map(|ox| g.window(1, ox)).collect();
    parallel::for_each(work, 1, |_, (Rows(y, _), Rows(arg, _), Rows(x, _))| {
        if kernel == [2, 2] && stride == [2, 2] && padding == [0, 0] {
            return max_pool_2x2(x, w, y, arg, g.out_hw[1]);
        }
        for (oy, (y, arg)) in y.chunks_exact_mut(g.out_hw[1]).zip(arg.chunks_exact_mut(g.out_hw[1])).enumerate() {
            let rows = g.window(0, oy);
            for ((y, arg), cols) in y.iter_mut().zip(arg.iter_mut()).zip(&windows) {
                // Taps in row-major order; `>` keeps the first of tied
                // maxima, a NaN wins. The winner is chosen with bit masks,
                // not branches: which input wins is data, and mispredicted
                // branches cost more than the arithmetic.
                let (mut best, mut at) = (f32::NEG_INFINITY, UNSET);
                for iy in rows.clone() {
                    for (ix, &v) in cols.clone().zip(&x[iy * w + cols.start..iy * w + cols.end]) {
                        let take = (at == UNSET) | (v > best) | v.is_nan();
                        let keep = u32::from(take).wrapping_sub(1); // all ones when not taken
                        best = f32::from_bits((best.to_bits() & keep) | (v.to_bits() & !keep));
                        at = (at & keep) | ((iy * w + ix) as u32 & !keep);
                    }
                }
                (*y, *arg) = (best, at);
            }
        }
    });
    (Tensor::from_vec(y, &[x.dim(0), x.dim(1), g.out_hw[0], g.out_hw[1]]), arg)
}

/// The gradient of [`max_pool2d`] with respect to its input (shape `x_shape`):
/// each `dy` value is added to the input its output came from (`argmax`).
///
/// # Panics
/// When `dy` or `argmax` do not fit `x_shape` and the window.
pub fn max_pool2d_backward(
    dy: &Tensor,
    argmax: &[u32],
    x_shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor {
    let g = PoolGeometry::new("max_pool2d backward", x_shape, kernel, stride, padding);
    check_dy("max_pool2d backward", dy, &g, x_shape);
    assert_eq!(argmax.len(), dy.numel(), "max_pool2d backward: {} indices for dy {:?}", argmax.len(), dy.shape());
    let mut dx = vec![0.0f32; g.planes * g.in_plane()];
    let work = (Rows(&mut dx[..], g.in_plane()), Rows(dy.data(), g.out_plane()), Rows(argmax, g.out_plane()));
    parallel::for_each(work, 1, |_, (Rows(dx, _), Rows(dy, _), Rows(arg, _))| {
        dy.iter().zip(arg).for_each(|(&d, &i)| dx[i as usize] += d);
    });
    Tensor::from_vec(dx, x_shape)
}

/// Average pooling of `x` `[N, C, H, W]`, padding counted as zeros in the
/// average (`count_include_pad=True`, PyTorch's default); see the module docs.
///
/// # Panics
/// When `x` is not 4-d or the window does not fit; the message names the shapes.
///
/// ```
/// use backprop::{tensor::avg_pool2d, Tensor};
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
/// assert_eq!(avg_pool2d(&x, [2, 2], [2, 2], [0, 0]).data(), &[2.5]);
/// // padded by 1: the corner window holds one input and three zeros
/// assert_eq!(avg_pool2d(&x, [2, 2], [2, 2], [1, 1]).data(), &[0.25, 0.5, 0.75, 1.0]);
/// ```
pub fn avg_pool2d(x: &Tensor, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Tensor {
    let g = PoolGeometry::new("avg_pool2d", x.shape(), kernel, stride, padding);
    let scale = 1.0 / (kernel[0] * kernel[1]) as f32;
    let mut y = vec![0.0f32; g.planes * g.out_plane()];
    let work = (Rows(&mut y[..], g.out_plane()), Rows(x.data(), g.in_plane()));
    parallel::for_each(work, 1, |_, (Rows(y, _), Rows(x, _))| {
        g.for_each_window(|o, rows, cols| {
            let sum = rows.fold(0.0, |acc, iy| x[iy * g.in_hw[1]..][cols.clone()].iter().fold(acc, |a, &v| a + v));
            y[o] = sum * scale;
        });
    });
    Tensor::from_vec(y, &[x.dim(0), x.dim(1), g.out_hw[0], g.out_hw[1]])
}

/// The gradient of [`avg_pool2d`] with respect to its input (shape `x_shape`):
/// each `dy` value, divided by `kh kw`, is added to every input of its window.
///
/// # Panics
/// When `dy` does not fit `x_shape` and the window.
pub fn avg_pool2d_backward(
    dy: &Tensor,
    x_shape: &[usize],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor {
    let g = PoolGeometry::new("avg_pool2d backward", x_shape, kernel, stride, padding);
    check_dy("avg_pool2d backward", dy, &g, x_shape);
    let scale = 1.0 / (kernel[0] * kernel[1]) as f32;
    let mut dx = vec![0.0f32; g.planes * g.in_plane()];
    let work = (Rows(&mut dx[..], g.in_plane()), Rows(dy.data(), g.out_plane()));
    parallel::for_each(work, 1, |_, (Rows(dx, _), Rows(dy, _))| {
        g.for_each_tap(|o, i| dx[i] += dy[o] * scale);
    });
    Tensor::from_vec(dx, x_shape)
}

/// Panics naming `op` unless `dy` is the pooled shape of `x_shape`.
fn check_dy(op: &str, dy: &Tensor, g: &PoolGeometry, x_shape: &[usize]) {
    let want = [x_shape[0], x_shape[1], g.out_hw[0], g.out_hw[1]];
    assert!(dy.shape() == want, "{op}: dy has shape {:?}, expected {want:?} for input {x_shape:?}", dy.shape());
}
