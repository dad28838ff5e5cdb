//! im2col / col2im: the lowering of a 2-d convolution to one matrix product.
//!
//! For one sample `x` of shape `[C, H, W]`, `im2col` writes the matrix
//! `col` of shape `[C * kh * kw, OH * OW]` whose row `(c, ki, kj)` and column
//! `(oy, ox)` hold `x[c, oy * sh + ki * dh - ph, ox * sw + kj * dw - pw]`, or 0
//! where that index falls in the padding. A convolution is then
//! `y = W col` with `W` seen as `[O, C * kh * kw]` (Chellapilla, Puri &
//! Simard, 2006; Caffe's and PyTorch's `im2col`). `col2im` is its adjoint: it
//! adds each entry of a `col`-shaped matrix back onto the input position it
//! was read from, which turns `dcol = W^T dy` into the input gradient.

/// Geometry of one 2-d convolution, as seen from its input side: the input
/// planes, the output planes and the kernel window.
///
/// The output size is normally [`conv2d_out_size`](super::conv2d_out_size) of
/// the input size; a transposed convolution may ask for fewer output rows or
/// columns than that (when its `output_padding` reaches past the stride), and
/// the kernels then leave the positions beyond `out_hw` out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConvGeometry {
    /// Samples in the batch.
    pub batch: usize,
    /// Channels of the convolution's input (all groups).
    pub in_channels: usize,
    /// Channels of the convolution's output (all groups).
    pub out_channels: usize,
    /// Channel groups: output group g sees only input group g.
    pub groups: usize,
    /// Input plane `[H, W]`.
    pub in_hw: [usize; 2],
    /// Output plane `[OH, OW]`.
    pub out_hw: [usize; 2],
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit zeros on each side of the input.
    pub padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
}

impl ConvGeometry {
    /// Values in one input sample `[C, H, W]`.
    pub fn in_size(&self) -> usize {
        self.in_channels * self.in_hw[0] * self.in_hw[1]
    }

    /// Values in one output sample `[O, OH, OW]`.
    pub fn out_size(&self) -> usize {
        self.out_channels * self.out_plane()
    }

    /// Values in one output plane, `OH * OW`: the columns of `col`.
    pub fn out_plane(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// Rows of `col` per group: `C / groups * kh * kw`, the inner dimension of the product.
    pub fn group_rows(&self) -> usize {
        self.in_channels / self.groups * self.kernel[0] * self.kernel[1]
    }

    /// Output channels per group.
    pub fn group_out(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Whether every buffer the kernels allocate (inputs, outputs and one
    /// `col` matrix, over the whole batch) has a size that fits in `usize`:
    /// sizes derived from hostile options must not wrap around.
    pub fn sizes_fit(&self) -> bool {
        let total = |dims: &[usize]| dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let [h, w] = self.in_hw;
        let [oh, ow] = self.out_hw;
        let [kh, kw] = self.kernel;
        total(&[self.batch, self.in_channels, h, w]).is_some()
            && total(&[self.batch, self.out_channels, oh, ow]).is_some()
            && total(&[self.in_channels, kh, kw, oh, ow]).is_some()
    }

    /// Values in the `col` matrix of one sample.
    pub fn col_size(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1] * self.out_plane()
    }

    /// Along `axis` and for kernel tap `k`: the output positions `lo..hi`
    /// whose input position `o * stride + k * dilation - padding` lies inside
    /// the input, and the input position of `lo`.
    fn valid(&self, axis: usize, k: usize) -> (usize, usize, usize) {
        let (n_in, n_out) = (self.in_hw[axis], self.out_hw[axis]);
        let (s, p) = (self.stride[axis], self.padding[axis]);
        let offset = k * self.dilation[axis];
        // o * s + offset >= p  and  o * s + offset <= n_in - 1 + p
        let lo = p.saturating_sub(offset).div_ceil(s);
        let hi = if n_in + p > offset { ((n_in + p - 1 - offset) / s + 1).min(n_out) } else { 0 };
        let lo = lo.min(hi);
        (lo, hi, (lo * s + offset).saturating_sub(p))
    }
}

/// Writes the `col` matrix (`[C * kh * kw, OH * OW]`) of one sample `x`
/// (`[C, H, W]`); see the module docs. Row `r` starts at `col[r * ld]`
/// (`ld >= OH * OW`), so the matrices of several samples can sit side by side
/// in the rows of one wider matrix.
pub(crate) fn im2col(x: &[f32], g: &ConvGeometry, col: &mut [f32], ld: usize) {
    let ([h, w], [oh, ow], [kh, kw]) = (g.in_hw, g.out_hw, g.kernel);
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let mut r = 0;
    for plane in x.chunks_exact(h * w).take(g.in_channels) {
        for ki in 0..kh {
            let (y_lo, y_hi, y0) = g.valid(0, ki);
            for kj in 0..kw {
                let (x_lo, x_hi, x0) = g.valid(1, kj);
                let row = &mut col[r * ld..][..oh * ow];
                r += 1;
                row[..y_lo * ow].fill(0.0);
                row[y_hi * ow..].fill(0.0);
                for (i, dst) in row[y_lo * ow..y_hi * ow].chunks_exact_mut(ow).enumerate() {
                    let src = &plane[(y0 + i * sh) * w..][..w];
                    dst[..x_lo].fill(0.0);
                    dst[x_hi..].fill(0.0);
                    let dst = &mut dst[x_lo..x_hi];
                    if sw == 1 {
                        dst.copy_from_slice(&src[x0..x0 + dst.len()]);
                    } else {
                        dst.iter_mut().zip(src[x0..].iter().step_by(sw)).for_each(|(d, &s)| *d = s);
                    }
                }
            }
        }
    }
}

/// Adds every entry of `col` (`[C * kh * kw, OH * OW]`, row `r` at
/// `col[r * ld]`) onto the position of `x` (`[C, H, W]`) that [`im2col`]
/// read it from; entries that came from the padding are dropped. `x` is
/// accumulated into, not overwritten.
pub(crate) fn col2im(col: &[f32], g: &ConvGeometry, x: &mut [f32], ld: usize) {
    let ([h, w], [oh, ow], [kh, kw]) = (g.in_hw, g.out_hw, g.kernel);
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let mut r = 0;
    for plane in x.chunks_exact_mut(h * w).take(g.in_channels) {
        for ki in 0..kh {
            let (y_lo, y_hi, y0) = g.valid(0, ki);
            for kj in 0..kw {
                let (x_lo, x_hi, x0) = g.valid(1, kj);
                let row = &col[r * ld..][..oh * ow];
                r += 1;
                for (i, src) in row[y_lo * ow..y_hi * ow].chunks_exact(ow).enumerate() {
                    let dst = &mut plane[(y0 + i * sh) * w..][..w];
                    let src = &src[x_lo..x_hi];
                    if sw == 1 {
                        dst[x0..x0 + src.len()].iter_mut().zip(src).for_each(|(d, &s)| *d += s);
                    } else {
                        dst[x0..].iter_mut().step_by(sw).zip(src).for_each(|(d, &s)| *d += s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(
        in_hw: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> ConvGeometry {
        let out = |a: usize| (in_hw[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) / stride[a] + 1;
        ConvGeometry {
            batch: 1,
            in_channels: 2,
            out_channels: 1,
            groups: 1,
            in_hw,
            out_hw: [out(0), out(1)],
            kernel,
            stride,
            padding,
            dilation,
        }
    }

    /// The defining formula, one entry at a time.
    fn naive_im2col(x: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let ([h, w], [oh, ow], [kh, kw]) = (g.in_hw, g.out_hw, g.kernel);
        let mut col = Vec::new();
        for c in 0..g.in_channels {
            for ki in 0..kh {
                for kj in 0..kw {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
                            let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize - g.padding[1] as isize;
                            let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                            col.push(if inside { x[c * h * w + iy as usize * w + ix as usize] } else { 0.0 });
                        }
                    }
                }
            }
        }
        col
    }

    /// (input plane, kernel, stride, padding, dilation)
    type Case = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 2]);

    const CASES: &[Case] = &[
        ([5, 6], [3, 3], [1, 1], [1, 1], [1, 1]),
        ([7, 5], [3, 2], [2, 3], [2, 1], [1, 2]),
        ([4, 4], [1, 1], [2, 2], [0, 0], [1, 1]),
        ([3, 8], [2, 3], [1, 2], [0, 3], [2, 1]),
        ([6, 6], [5, 5], [3, 1], [2, 4], [1, 1]),
    ];

    #[test]
    fn im2col_matches_the_formula() {
        for &(in_hw, k, s, p, d) in CASES {
            let g = geometry(in_hw, k, s, p, d);
            let x: Vec<f32> = (0..g.in_size()).map(|i| i as f32 + 1.0).collect();
            let mut col = vec![f32::NAN; g.col_size()];
            im2col(&x, &g, &mut col, g.out_plane());
            assert_eq!(col, naive_im2col(&x, &g), "{g:?}");
        }
    }

    #[test]
    fn samples_side_by_side_keep_their_own_columns() {
        // Two samples' matrices in one [K, 2 L] matrix (row stride 2 L):
        // each sample's columns equal its own im2col, and col2im of that
        // wide matrix gives back each sample's fold.
        let g = geometry([5, 6], [3, 3], [1, 1], [1, 1], [1, 1]);
        let (l, rows) = (g.out_plane(), g.col_size() / g.out_plane());
        let xs: Vec<Vec<f32>> = (0..2).map(|s| (0..g.in_size()).map(|i| (i * (s + 2)) as f32).collect()).collect();
        let mut wide = vec![f32::NAN; rows * 2 * l];
        for (s, x) in xs.iter().enumerate() {
            im2col(x, &g, &mut wide[s * l..], 2 * l);
        }
        for (s, x) in xs.iter().enumerate() {
            let alone = naive_im2col(x, &g);
            for r in 0..rows {
                assert_eq!(&wide[r * 2 * l + s * l..][..l], &alone[r * l..][..l], "sample {s} row {r}");
            }
            let (mut from_wide, mut from_alone) = (vec![0.0; g.in_size()], vec![0.0; g.in_size()]);
            col2im(&wide[s * l..], &g, &mut from_wide, 2 * l);
            col2im(&alone, &g, &mut from_alone, l);
            assert_eq!(from_wide, from_alone, "sample {s}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for all x, c.
        for &(in_hw, k, s, p, d) in CASES {
            let g = geometry(in_hw, k, s, p, d);
            let x: Vec<f32> = (0..g.in_size()).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let c: Vec<f32> = (0..g.col_size()).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
            let mut col = vec![0.0; g.col_size()];
            im2col(&x, &g, &mut col, g.out_plane());
            let mut back = vec![0.0; g.in_size()];
            col2im(&c, &g, &mut back, g.out_plane());
            let lhs: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{g:?}");
        }
    }
}
