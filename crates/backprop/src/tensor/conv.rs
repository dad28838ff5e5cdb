//! 2-d convolution and transposed convolution on NCHW tensors, lowered to GEMM.
//!
//! Convolution (PyTorch's `conv2d`, cross-correlation as in every framework):
//! with `x` `[N, C, H, W]`, weight `w` `[O, C / groups, kh, kw]` and bias `b` `[O]`,
//!
//! `y[n, o, i, j] = b[o] + sum_{c in group(o), ki, kj} w[o, c, ki, kj] x[n, c, i sh + ki dh - ph, j sw + kj dw - pw]`
//!
//! (zero outside the input), of shape `[N, O, OH, OW]` with
//! `OH = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1` ([`conv2d_out_size`]).
//! Per sample and group this is one matrix product `y = W col` of the
//! weight `[O/g, C/g kh kw]` and the `im2col` matrix of the input (see
//! `tensor::im2col`). Its gradients are products too:
//! `dW = sum_n dy_n col_n^T`, `dcol = W^T dy` folded back with `col2im` into
//! `dx`, and `db = sum over n, i, j of dy`.
//!
//! A transposed convolution (PyTorch's `conv_transpose2d`, weight
//! `[C, O / groups, kh, kw]`) is the input-gradient of the convolution with the
//! same weight, stride, padding and dilation, so it runs through the same code:
//! its forward is [`conv2d_input_grad`], its input-gradient is [`conv2d`], and
//! its weight-gradient is [`conv2d_weight_grad`] with the roles of input and
//! output swapped.
//!
//! Samples run in chunks of a fixed size (chunks in parallel): a chunk's
//! `im2col` matrices sit side by side in one per-thread scratch buffer, so
//! each group needs one wide product per chunk. Weight gradients are summed
//! per chunk and the chunks added in order, so results do not depend on the
//! thread count.

use super::batch_norm::sum_channels;
use super::direct_conv;
use super::im2col::{col2im, im2col, ConvGeometry};
use super::matmul::{matmul_into, matmul_into_serial};
use super::parallel::{self, with_scratch, Rows};
use super::winograd;
use super::{output_buffer, Tensor};

/// Stride, padding, dilation and groups of a 2-d convolution (PyTorch's
/// `nn.Conv2d` arguments; `[height, width]` pairs).
///
/// ```
/// use backprop::tensor::Conv2dOptions;
/// let same = Conv2dOptions { padding: [2, 2], ..Conv2dOptions::default() };
/// assert_eq!((same.stride, same.dilation, same.groups), ([1, 1], [1, 1], 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2dOptions {
    /// Step between windows (>= 1).
    pub stride: [usize; 2],
    /// Implicit zeros added on each side of the input.
    pub padding: [usize; 2],
    /// Spacing between kernel taps (>= 1; 1 is a dense kernel).
    pub dilation: [usize; 2],
    /// Channel groups (>= 1): input and output channels split into this many
    /// blocks, output block g seeing only input block g.
    pub groups: usize,
}

impl Default for Conv2dOptions {
    /// Stride 1, padding 0, dilation 1, one group.
    fn default() -> Self {
        Conv2dOptions { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

/// Options of a 2-d transposed convolution (PyTorch's `nn.ConvTranspose2d`):
/// `output_padding` adds rows/columns at the bottom/right of the output, to
/// pick among the output sizes that a strided convolution maps to one size;
/// it must be smaller than the stride or the dilation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvTranspose2dOptions {
    /// Step between windows of the matching convolution (>= 1).
    pub stride: [usize; 2],
    /// Padding of the matching convolution: removed from each side of the output.
    pub padding: [usize; 2],
    /// Extra size on one side of the output.
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps (>= 1).
    pub dilation: [usize; 2],
    /// Channel groups (>= 1).
    pub groups: usize,
}

impl Default for ConvTranspose2dOptions {
    /// Stride 1, padding 0, output padding 0, dilation 1, one group.
    fn default() -> Self {
        ConvTranspose2dOptions { stride: [1, 1], padding: [0, 0], output_padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

/// Output size of a convolution along one axis (PyTorch's formula):
/// `floor((input + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
/// `None` when the (dilated) kernel does not fit the padded input, or when
/// `kernel`, `stride` or `dilation` is 0.
///
/// ```
/// use backprop::tensor::conv2d_out_size;
/// assert_eq!(conv2d_out_size(28, 5, 1, 2, 1), Some(28));
/// assert_eq!(conv2d_out_size(7, 3, 2, 0, 2), Some(2));
/// assert_eq!(conv2d_out_size(4, 5, 1, 0, 1), None);
/// ```
pub fn conv2d_out_size(input: usize, kernel: usize, stride: usize, padding: usize, dilation: usize) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let padded = input.checked_add(padding.checked_mul(2)?)?;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

/// Output size of a transposed convolution along one axis (PyTorch's formula):
/// `(input - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1`.
/// `None` when that is not positive, when `input`, `kernel`, `stride` or
/// `dilation` is 0, or when `output_padding` is not smaller than the stride
/// or the dilation (PyTorch rejects it).
///
/// ```
/// use backprop::tensor::conv_transpose2d_out_size;
/// assert_eq!(conv_transpose2d_out_size(7, 4, 2, 1, 0, 1), Some(14));
/// assert_eq!(conv_transpose2d_out_size(7, 3, 2, 1, 1, 1), Some(14));
/// assert_eq!(conv_transpose2d_out_size(1, 1, 1, 1, 0, 1), None);
/// ```
pub fn conv_transpose2d_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    dilation: usize,
) -> Option<usize> {
    if input == 0 || kernel == 0 || stride == 0 || dilation == 0 || output_padding >= stride.max(dilation) {
        return None;
    }
    let full = (input - 1)
        .checked_mul(stride)?
        .checked_add(dilation.checked_mul(kernel - 1)?)?
        .checked_add(output_padding + 1)?;
    let cut = padding.checked_mul(2)?;
    (full > cut).then(|| full - cut)
}

/// Checks `x` `[N, C, H, W]` and `w` `[O, C / groups, kh, kw]` for a
/// convolution with `opts`; panics naming `op` and both shapes otherwise.
pub(crate) fn conv2d_geometry(op: &str, x: &[usize], w: &[usize], opts: &Conv2dOptions) -> ConvGeometry {
    let fail = |why: String| -> ! { panic!("{op}: {why}: input {x:?}, weight {w:?}, {opts:?}") };
    if x.len() != 4 || w.len() != 4 {
        fail("input must be [N, C, H, W] and weight [O, C/groups, kh, kw]".into());
    }
    let g = opts.groups;
    if g == 0 || !x[1].is_multiple_of(g) || !w[0].is_multiple_of(g) || w[1].checked_mul(g) != Some(x[1]) {
        let wants = w[1].saturating_mul(g);
        fail(format!("weight for {wants} input channels in {g} groups does not fit {} input channels", x[1]));
    }
    let out = |a: usize| {
        conv2d_out_size(x[2 + a], w[2 + a], opts.stride[a], opts.padding[a], opts.dilation[a])
            .unwrap_or_else(|| fail(format!("the kernel does not fit the input along axis {}", 2 + a)))
    };
    let g = ConvGeometry {
        batch: x[0],
        in_channels: x[1],
        out_channels: w[0],
        groups: g,
        in_hw: [x[2], x[3]],
        out_hw: [out(0), out(1)],
        kernel: [w[2], w[3]],
        stride: opts.stride,
        padding: opts.padding,
        dilation: opts.dilation,
    };
    if !g.sizes_fit() {
        fail("the output is too large to exist".into());
    }
    g
}

/// Checks `x` `[N, C, H, W]` and `w` `[C, O / groups, kh, kw]` for a
/// transposed convolution and returns the geometry of the matching
/// convolution (whose input is the transposed convolution's output).
pub(crate) fn conv_transpose2d_geometry(
    op: &str,
    x: &[usize],
    w: &[usize],
    o: &ConvTranspose2dOptions,
) -> ConvGeometry {
    let fail = |why: String| -> ! { panic!("{op}: {why}: input {x:?}, weight {w:?}, {o:?}") };
    if x.len() != 4 || w.len() != 4 {
        fail("input must be [N, C, H, W] and weight [C, O/groups, kh, kw]".into());
    }
    let g = o.groups;
    if g == 0 || w[0] != x[1] || !x[1].is_multiple_of(g) || w[1].checked_mul(g).is_none() {
        fail(format!("weight for {} input channels in {g} groups does not fit {} input channels", w[0], x[1]));
    }
    let out = |a: usize| {
        conv_transpose2d_out_size(x[2 + a], w[2 + a], o.stride[a], o.padding[a], o.output_padding[a], o.dilation[a])
            .unwrap_or_else(|| fail(format!("no valid output size along axis {}", 2 + a)))
    };
    let g = ConvGeometry {
        batch: x[0],
        in_channels: w[1] * g,
        out_channels: w[0],
        groups: g,
        in_hw: [out(0), out(1)],
        out_hw: [x[2], x[3]],
        kernel: [w[2], w[3]],
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
    };
    if !g.sizes_fit() {
        fail("the output is too large to exist".into());
    }
    g
}

/// Panics naming `op` unless `t` has `shape`.
fn expect_shape(op: &str, what: &str, t: &Tensor, shape: &[usize]) {
    assert!(t.shape() == shape, "{op}: {what} has shape {:?}, expected {shape:?}", t.shape());
}

/// Scratch values one chunk of samples may take (the `col` matrices of its
/// samples side by side, and the outputs in the same layout): sized so the
/// chunk stays in the last-level cache.
const CHUNK_SCRATCH: usize = 1 << 20;

/// The most samples in one chunk.
const MAX_CHUNK: usize = 16;

/// Samples per chunk: each chunk is lowered to one matrix product per group
/// whose columns are the output positions of all its samples, so the weight
/// is packed once per chunk instead of once per sample, and the products
/// are wide. It depends on the geometry only, never on the thread count, so
/// the sums (and the results) are the same on any number of threads.
fn chunk_len(g: &ConvGeometry) -> usize {
    let per_sample = (g.col_size() + g.out_size()).max(1);
    (CHUNK_SCRATCH / per_sample).clamp(1, MAX_CHUNK)
}

/// A matrix product as [`matmul_into`] takes it.
pub(crate) type Product = fn(&mut [f32], &[f32], bool, &[f32], bool, usize, usize, usize, bool);

/// The product for one chunk of `chunk` samples out of `batch`: on the
/// calling thread when the chunks alone keep every thread busy, else free to
/// split across threads itself.
pub(crate) fn product_for(batch: usize, chunk: usize) -> Product {
    if batch.div_ceil(chunk) >= rayon::current_num_threads() {
        matmul_into_serial
    } else {
        matmul_into
    }
}

/// For a chunk of `b` samples: the scratch `[col | out]`, with `col`
/// `[C kh kw, b OH OW]` (sample `i`'s `im2col` matrix in columns
/// `i OH OW ..`) and `out` `[O, b OH OW]` in the same column layout.
fn with_chunk_scratch<R>(g: &ConvGeometry, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    let cols = g.col_size() * b;
    with_scratch(cols + g.out_size() * b, |buf| {
        let (col, out) = buf.split_at_mut(cols);
        f(col, out)
    })
}

/// Copies `out` (`[O, b OH OW]`, sample `i` in columns `i OH OW ..`) to or
/// from the samples' `[O, OH, OW]` blocks of `ys`.
fn for_each_block(ys_len: usize, g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let (l, out_size) = (g.out_plane(), g.out_size());
    let b = ys_len / out_size;
    for i in 0..b {
        for o in 0..g.out_channels {
            // (offset in ys, offset in out, channel)
            f(i * out_size + o * l, o * b * l + i * l, o);
        }
    }
}

/// `y = conv(x, w)` (+ `bias` per output channel) for every sample, a chunk
/// of samples at a time: their `im2col` matrices side by side, one product
/// per group, then each output plane copied (bias added) to its sample.
/// `x`: `[N, C, H, W]` data, `y`: `[N, O, OH, OW]`.
fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry, y: &mut [f32]) {
    if winograd::applies(g) {
        return winograd::forward(x, w, bias, g, y);
    }
    if direct_conv::applies(g) {
        return direct_conv::forward(x, w, bias, g, y);
    }
    let (k, og, l) = (g.group_rows(), g.group_out(), g.out_plane());
    let (in_size, out_size) = (g.in_size(), g.out_size());
    let product = product_for(g.batch, chunk_len(g));
    let work = (Rows(y, out_size), Rows(x, in_size));
    parallel::for_each(work, chunk_len(g), |_, (Rows(ys, _), Rows(xs, _))| {
        let b = xs.len() / in_size;
        with_chunk_scratch(g, b, |col, out| {
            for (i, xn) in xs.chunks_exact(in_size).enumerate() {
                im2col(xn, g, &mut col[i * l..], b * l);
            }
            for grp in 0..g.groups {
                let (wg, cg) = (&w[grp * og * k..][..og * k], &col[grp * k * b * l..][..k * b * l]);
                product(&mut out[grp * og * b * l..][..og * b * l], wg, false, cg, false, og, k, b * l, false);
            }
            for_each_block(ys.len(), g, |at_y, at_out, o| {
                let (dst, src) = (&mut ys[at_y..][..l], &out[at_out..][..l]);
                match bias {
                    Some(bias) => dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s + bias[o]),
                    None => dst.copy_from_slice(src),
                }
            });
        });
    });
}

/// Copies the samples' `dy` blocks into `out`'s column layout (see [`for_each_block`]).
fn gather_dy(dys: &[f32], g: &ConvGeometry, out: &mut [f32]) {
    let l = g.out_plane();
    for_each_block(dys.len(), g, |at_y, at_out, _| out[at_out..][..l].copy_from_slice(&dys[at_y..][..l]));
}

/// `dx = col2im(W^T dy)` for every sample, a chunk at a time: the
/// input-gradient of [`forward`].
fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    if winograd::applies(g) {
        return winograd::input_grad(dy, w, g, dx);
    }
    let (k, og, l) = (g.group_rows(), g.group_out(), g.out_plane());
    let (in_size, out_size) = (g.in_size(), g.out_size());
    let product = product_for(g.batch, chunk_len(g));
    let work = (Rows(dx, in_size), Rows(dy, out_size));
    parallel::for_each(work, chunk_len(g), |_, (Rows(dxs, _), Rows(dys, _))| {
        let b = dys.len() / out_size;
        with_chunk_scratch(g, b, |dcol, dy_cols| {
            gather_dy(dys, g, dy_cols);
            for grp in 0..g.groups {
                let (wg, dyg) = (&w[grp * og * k..][..og * k], &dy_cols[grp * og * b * l..][..og * b * l]);
                product(&mut dcol[grp * k * b * l..][..k * b * l], wg, true, dyg, false, k, og, b * l, false);
            }
            for (i, dxn) in dxs.chunks_exact_mut(in_size).enumerate() {
                col2im(&dcol[i * l..], g, dxn, b * l);
            }
        });
    });
}

/// `dW = sum_n dy_n col_n^T` per group: the weight-gradient of [`forward`],
/// `[O, C/g, kh, kw]` flattened. One partial sum per chunk, added in chunk order.
fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    if winograd::applies(g) {
        return winograd::weight_grad(x, dy, g);
    }
    if direct_conv::applies(g) {
        return direct_conv::weight_grad(x, dy, g);
    }
    let (k, og, l) = (g.group_rows(), g.group_out(), g.out_plane());
    let (in_size, out_size) = (g.in_size(), g.out_size());
    let w_size = g.out_channels * k;
    let work = (Rows(x, in_size), Rows(dy, out_size));
    let product = product_for(g.batch, chunk_len(g));
    let partials = parallel::map(work, chunk_len(g), |_, (Rows(xs, _), Rows(dys, _))| {
        let b = xs.len() / in_size;
        let mut dw = vec![0.0f32; w_size];
        with_chunk_scratch(g, b, |col, dy_cols| {
            for (i, xn) in xs.chunks_exact(in_size).enumerate() {
                im2col(xn, g, &mut col[i * l..], b * l);
            }
            gather_dy(dys, g, dy_cols);
            for grp in 0..g.groups {
                let (dyg, cg) = (&dy_cols[grp * og * b * l..][..og * b * l], &col[grp * k * b * l..][..k * b * l]);
                product(&mut dw[grp * og * k..][..og * k], dyg, false, cg, true, og, b * l, k, false);
            }
        });
        dw
    });
    sum_in_order(partials, w_size)
}

/// Images per partial sum of a weight gradient on the Winograd and direct
/// paths (a fixed number, so that the order of the sums does not depend on
/// the thread count).
pub(crate) const WEIGHT_GRAD_IMAGES: usize = 8;

/// The element-wise sum of per-chunk partial weight gradients, added in
/// chunk order (so the result does not depend on the thread count); `len`
/// zeros when there are none.
pub(crate) fn sum_in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut parts = partials.into_iter();
    let mut sum = parts.next().unwrap_or_else(|| vec![0.0; len]);
    for part in parts {
        sum.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    sum
}

/// 2-d convolution of `x` `[N, C, H, W]` with `w` `[O, C / groups, kh, kw]`
/// and optional `bias` `[O]`; the result is `[N, O, OH, OW]` (formula in the
/// module docs; PyTorch's `torch.nn.functional.conv2d`).
///
/// # Panics
/// When the shapes do not fit each other or the options; the message names
/// the op and both shapes.
///
/// ```
/// use backprop::{tensor::{conv2d, Conv2dOptions}, Tensor};
/// let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]);
/// let w = Tensor::ones(&[1, 1, 2, 2]);
/// let y = conv2d(&x, &w, None, Conv2dOptions::default());
/// assert_eq!(y.shape(), &[1, 1, 2, 2]);
/// assert_eq!(y.data(), &[12.0, 16.0, 24.0, 28.0]);
/// ```
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, opts: Conv2dOptions) -> Tensor {
    let g = conv2d_geometry("conv2d", x.shape(), w.shape(), &opts);
    if let Some(b) = bias {
        expect_shape("conv2d", "bias", b, &[g.out_channels]);
    }
    // SAFETY: `forward` writes every output value, on both of its paths
    // (Winograd's `to_nchw` and `im2col`'s `for_each_block` copy each
    // sample's output planes whole) before anything reads one.
    let mut y = unsafe { output_buffer(g.batch * g.out_size()) };
    forward(x.data(), w.data(), bias.map(Tensor::data), &g, &mut y);
    Tensor::from_vec(y, &[g.batch, g.out_channels, g.out_hw[0], g.out_hw[1]])
}

/// The gradient of [`conv2d`] with respect to its input, of shape `x_shape`,
/// from `dy = dL/dy` and the weight.
///
/// # Panics
/// When `dy` does not have the convolution's output shape, or as [`conv2d`].
pub fn conv2d_input_grad(dy: &Tensor, w: &Tensor, x_shape: &[usize], opts: Conv2dOptions) -> Tensor {
    let g = conv2d_geometry("conv2d backward", x_shape, w.shape(), &opts);
    expect_shape("conv2d backward", "dy", dy, &[g.batch, g.out_channels, g.out_hw[0], g.out_hw[1]]);
    let mut dx = vec![0.0f32; g.batch * g.in_size()];
    input_grad(dy.data(), w.data(), &g, &mut dx);
    Tensor::from_vec(dx, x_shape)
}

/// The gradient of [`conv2d`] with respect to its weight, of shape `w_shape`,
/// from the input `x` and `dy = dL/dy`.
///
/// # Panics
/// When `dy` does not have the convolution's output shape, or as [`conv2d`].
pub fn conv2d_weight_grad(x: &Tensor, dy: &Tensor, w_shape: &[usize], opts: Conv2dOptions) -> Tensor {
    let g = conv2d_geometry("conv2d backward", x.shape(), w_shape, &opts);
    expect_shape("conv2d backward", "dy", dy, &[g.batch, g.out_channels, g.out_hw[0], g.out_hw[1]]);
    Tensor::from_vec(weight_grad(x.data(), dy.data(), &g), w_shape)
}

/// The gradient of a per-channel bias added to an `[N, C, ...]` output:
/// `dy` summed over everything but the channel axis, `[C]`.
pub fn conv_bias_grad(dy: &Tensor) -> Tensor {
    sum_channels(dy)
}

/// 2-d transposed convolution of `x` `[N, C, H, W]` with `w`
/// `[C, O / groups, kh, kw]` and optional `bias` `[O]`: the result is
/// `[N, O, OH, OW]` with `OH` from [`conv_transpose2d_out_size`] (PyTorch's
/// `torch.nn.functional.conv_transpose2d`). Each input value scatters a copy
/// of its kernel, scaled, onto the output; computed as the input-gradient of
/// [`conv2d`].
///
/// # Panics
/// When the shapes do not fit each other or the options; the message names
/// the op and both shapes.
///
/// ```
/// use backprop::{tensor::{conv_transpose2d, ConvTranspose2dOptions}, Tensor};
/// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 1, 1, 2]);
/// let w = Tensor::ones(&[1, 1, 2, 2]);
/// let opts = ConvTranspose2dOptions { stride: [2, 2], ..Default::default() };
/// let y = conv_transpose2d(&x, &w, None, opts);
/// assert_eq!(y.shape(), &[1, 1, 2, 4]);
/// assert_eq!(y.data(), &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// ```
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, opts: ConvTranspose2dOptions) -> Tensor {
    let g = conv_transpose2d_geometry("conv_transpose2d", x.shape(), w.shape(), &opts);
    let mut y = vec![0.0f32; g.batch * g.in_size()];
    input_grad(x.data(), w.data(), &g, &mut y);
    let (o, plane) = (g.in_channels, g.in_hw[0] * g.in_hw[1]);
    if let Some(b) = bias {
        expect_shape("conv_transpose2d", "bias", b, &[o]);
        parallel::for_each(Rows(&mut y[..], plane), o, |_, Rows(planes, _)| {
            planes.chunks_exact_mut(plane).zip(b.data()).for_each(|(p, &b)| p.iter_mut().for_each(|v| *v += b));
        });
    }
    Tensor::from_vec(y, &[g.batch, o, g.in_hw[0], g.in_hw[1]])
}

/// The gradient of [`conv_transpose2d`] with respect to its input `[N, C, H, W]`
/// (shape `x_shape`), from `dy = dL/dy` and the weight: the convolution of `dy`
/// with the same weight and options.
pub fn conv_transpose2d_input_grad(dy: &Tensor, w: &Tensor, x_shape: &[usize], opts: ConvTranspose2dOptions) -> Tensor {
    let g = conv_transpose2d_geometry("conv_transpose2d backward", x_shape, w.shape(), &opts);
    expect_shape("conv_transpose2d backward", "dy", dy, &[g.batch, g.in_channels, g.in_hw[0], g.in_hw[1]]);
    let mut dx = vec![0.0f32; g.batch * g.out_size()];
    forward(dy.data(), w.data(), None, &g, &mut dx);
    Tensor::from_vec(dx, x_shape)
}

/// The gradient of [`conv_transpose2d`] with respect to its weight (shape
/// `w_shape`, `[C, O / groups, kh, kw]`), from its input `x` and `dy = dL/dy`:
/// the convolution's weight-gradient with `dy` as input and `x` as output.
pub fn conv_transpose2d_weight_grad(
    x: &Tensor,
    dy: &Tensor,
    w_shape: &[usize],
    opts: ConvTranspose2dOptions,
) -> Tensor {
    let g = conv_transpose2d_geometry("conv_transpose2d backward", x.shape(), w_shape, &opts);
    expect_shape("conv_transpose2d backward", "dy", dy, &[g.batch, g.in_channels, g.in_hw[0], g.in_hw[1]]);
    Tensor::from_vec(weight_grad(dy.data(), x.data(), &g), w_shape)
}
