//! Direct convolution for layers with few inputs per output (a network's
//! first layer: one or three image channels), forward and weight gradient.
//!
//! `im2col` lowers such a layer to a product with a tiny inner dimension
//! (`C kh kw = 25` for a 5x5 kernel on one channel): the matrix it builds is
//! as large as the product's work, and `gemm` spends its time loading and
//! storing accumulators. Here each output is summed in registers instead,
//! 16 columns of an output row at a time (one AVX-512 register), straight
//! from a zero-padded copy of the image:
//!
//! - forward: for a block of 16 output channels, every tap `(c, ki, kj)`
//!   adds `w[o, c, ki, kj] x[c, i + ki, j + kj]` to 16 accumulators;
//! - weight gradient: for every output channel and tap, the sum over the
//!   plane of `dy[o, i, j] x[c, i + ki, j + kj]`, one register per tap.
//!
//! Stride 1, no dilation, one group, a 3x3 or 5x5 kernel, `C kh kw <= 32`,
//! AVX-512 only; other layers and CPUs take `im2col`. Sums run in a fixed
//! order, so results do not depend on the thread count.

use super::conv::{sum_in_order, WEIGHT_GRAD_IMAGES};
use super::im2col::ConvGeometry;
use super::parallel::{self, with_scratch, Rows};

/// Inputs per output (`C kh kw`) up to which the direct kernels are used.
const MAX_TAPS: usize = 32;

/// True when `g` is a convolution these kernels compute, on this CPU.
pub(crate) fn applies(g: &ConvGeometry) -> bool {
    let fits = g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1
        && g.kernel[0] == g.kernel[1]
        && (g.kernel[0] == 3 || g.kernel[0] == 5)
        && g.in_channels * g.kernel[0] * g.kernel[1] <= MAX_TAPS
        && g.out_hw[1] >= 8;
    #[cfg(target_arch = "x86_64")]
    return fits && std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The zero-padded planes of one image: `rows x cols` per channel, with
/// `cols` long enough that a 16-wide load at any output column block and tap
/// stays inside the row (the columns past the image are zeros).
#[derive(Clone, Copy)]
struct Padded {
    rows: usize,
    cols: usize,
}

impl Padded {
    fn new(g: &ConvGeometry) -> Self {
        let [kh, kw] = g.kernel;
        Padded { rows: g.out_hw[0] + kh - 1, cols: g.out_hw[1].next_multiple_of(16) + kw - 1 }
    }
    fn len(&self, g: &ConvGeometry) -> usize {
        g.in_channels * self.rows * self.cols
    }
    /// Asserts what the kernels' unchecked loads rely on: `xp` holds the
    /// planes, and a 16-wide load at any output block `(i, j0)` and tap
    /// `(ki, kj)` ends inside its row (`rows = OH + kh - 1`, `cols >= the
    /// output width rounded up to 16, + kw - 1`).
    #[cfg(target_arch = "x86_64")]
    fn check(&self, g: &ConvGeometry, xp: &[f32]) {
        let [kh, kw] = g.kernel;
        let fits = self.rows == g.out_hw[0] + kh - 1 && self.cols >= g.out_hw[1].next_multiple_of(16) + kw - 1;
        assert!(fits && xp.len() >= self.len(g), "direct_conv: padded planes do not fit the geometry");
    }
    /// Copies the image `x` `[C, H, W]` into `xp`, shifted by the padding.
    fn fill(&self, x: &[f32], g: &ConvGeometry, xp: &mut [f32]) {
        let ([h, w], [top, left]) = (g.in_hw, g.padding);
        xp.fill(0.0);
        for (xc, pc) in x.chunks_exact(h * w).zip(xp.chunks_exact_mut(self.rows * self.cols)) {
            for (y, row) in xc.chunks_exact(w).enumerate() {
                pc[(y + top) * self.cols + left..][..w].copy_from_slice(row);
            }
        }
    }
}

/// `y = conv(x, w) (+ bias)` for a geometry where [`applies`] holds;
/// `x` `[N, C, H, W]`, `w` `[O, C, kh, kw]`, `y` `[N, O, OH, OW]`.
pub(crate) fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry, y: &mut [f32]) {
    let (o, taps) = (g.out_channels, g.in_channels * g.kernel[0] * g.kernel[1]);
    // The weight tap-major, `[C kh kw, O]`: a block's 16 weights of one tap side by side.
    let mut wt = vec![0.0f32; taps * o];
    for (oc, row) in w.chunks_exact(taps).enumerate() {
        row.iter().enumerate().for_each(|(t, &v)| wt[t * o + oc] = v);
    }
    let p = Padded::new(g);
    parallel::for_each((Rows(y, g.out_size()), Rows(x, g.in_size())), 1, |_, (Rows(ys, _), Rows(xs, _))| {
        with_scratch(p.len(g), |xp| {
            for (yn, xn) in ys.chunks_exact_mut(g.out_size()).zip(xs.chunks_exact(g.in_size())) {
                p.fill(xn, g, xp);
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `applies` checked that the CPU has AVX-512F; the
                // sizes are this geometry's.
                unsafe {
                    avx512::forward(xp, p, &wt, bias, g, yn)
                };
            }
        });
    });
}

/// `dW` `[O, C, kh, kw]`, the weight-gradient of [`forward`], from `x` and `dy`.
pub(crate) fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let size = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
    let p = Padded::new(g);
    let work = (Rows(x, g.in_size()), Rows(dy, g.out_size()));
    let partials = parallel::map(work, WEIGHT_GRAD_IMAGES, |_, (Rows(xs, _), Rows(dys, _))| {
        let mut dw = vec![0.0f32; size];
        with_scratch(p.len(g), |xp| {
            for (xn, dyn_) in xs.chunks_exact(g.in_size()).zip(dys.chunks_exact(g.out_size())) {
                p.fill(xn, g, xp);
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `forward`.
                unsafe {
                    avx512::weight_grad(xp, p, dyn_, g, &mut dw)
                };
            }
        });
        dw
    });
    sum_in_order(partials, size)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{ConvGeometry, Padded};
    use crate::tensor::lane_mask as lanes;
    use std::arch::x86_64::*;

    /// One image of [`super::forward`]: `xp` its padded planes, `wt` the
    /// weight `[C kh kw, O]`, `y` `[O, OH, OW]`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward(
        xp: &[f32],
        p: Padded,
        wt: &[f32],
        bias: Option<&[f32]>,
        g: &ConvGeometry,
        y: &mut [f32],
    ) {
        let o = g.out_channels;
        let mut ob = 0;
        while ob < o {
            if o - ob >= 16 {
                block::<16>(xp, p, wt, bias, g, y, ob);
                ob += 16;
            } else {
                block::<1>(xp, p, wt, bias, g, y, ob);
                ob += 1;
            }
        }
    }

    /// Output channels `ob .. ob + B` of [`forward`].
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    fn block<const B: usize>(
        xp: &[f32],
        p: Padded,
        wt: &[f32],
        bias: Option<&[f32]>,
        g: &ConvGeometry,
        y: &mut [f32],
        ob: usize,
    ) {
        let (o, c, [kh, kw], [oh, ow]) = (g.out_channels, g.in_channels, g.kernel, g.out_hw);
        p.check(g, xp);
        assert!(ob + B <= o && wt.len() >= c * kh * kw * o, "direct_conv: weight block out of range");
        for i in 0..oh {
            for j0 in (0..ow).step_by(16) {
                let mut acc = [_mm512_setzero_ps(); B];
                let (x, w) = (xp[i * p.cols + j0..].as_ptr(), wt[ob..].as_ptr());
                let mut t = 0;
                for ch in 0..c {
                    for ki in 0..kh {
                        for kj in 0..kw {
                            // SAFETY: inside `xp` (`Padded::check`) and `wt` (asserted above).
                            let (xv, ws) =
                                unsafe { (_mm512_loadu_ps(x.add((ch * p.rows + ki) * p.cols + kj)), w.add(t * o)) };
                            for (q, a) in acc.iter_mut().enumerate() {
                                // SAFETY: as above.
                                *a = _mm512_fmadd_ps(_mm512_set1_ps(unsafe { *ws.add(q) }), xv, *a);
                            }
                            t += 1;
                        }
                    }
                }
                let mask = lanes(ow - j0);
                for (q, &a) in acc.iter().enumerate() {
                    let v = match bias {
                        Some(b) => _mm512_add_ps(a, _mm512_set1_ps(b[ob + q])),
                        None => a,
                    };
                    let out = &mut y[((ob + q) * oh + i) * ow + j0..][..(ow - j0).min(16)];
                    // SAFETY: the mask selects `out.len()` lanes, all inside `out`.
                    unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), mask, v) };
                }
            }
        }
    }

    /// One image of [`super::weight_grad`], added onto `dw` `[O, C, kh, kw]`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_grad(xp: &[f32], p: Padded, dy: &[f32], g: &ConvGeometry, dw: &mut [f32]) {
        match g.kernel[0] {
            3 => weight_grad_k::<3>(xp, p, dy, g, dw),
            _ => weight_grad_k::<5>(xp, p, dy, g, dw),
        }
    }

    /// [`weight_grad`] for a `K x K` kernel: for each output plane and input
    /// channel, one accumulator per tap (at most 25 registers), each 16
    /// output columns' `dy` loaded once for all of them.
    #[target_feature(enable = "avx512f")]
    fn weight_grad_k<const K: usize>(xp: &[f32], p: Padded, dy: &[f32], g: &ConvGeometry, dw: &mut [f32]) {
        let (c, [oh, ow]) = (g.in_channels, g.out_hw);
        p.check(g, xp);
        for (o, dyo) in dy.chunks_exact(oh * ow).enumerate() {
            for ch in 0..c {
                let mut acc = [[_mm512_setzero_ps(); K]; K];
                for i in 0..oh {
                    for j0 in (0..ow).step_by(16) {
                        let d = &dyo[i * ow + j0..][..(ow - j0).min(16)];
                        // SAFETY: the mask selects the values of `d`; the rest read as 0.
                        let dv = unsafe { _mm512_maskz_loadu_ps(lanes(d.len()), d.as_ptr()) };
                        // The K rows of K + 15 inputs these outputs read.
                        let x = xp[(ch * p.rows + i) * p.cols + j0..].as_ptr();
                        for (ki, row) in acc.iter_mut().enumerate() {
                            for (kj, a) in row.iter_mut().enumerate() {
                                // SAFETY: inside `xp` (`Padded::check`, above).
                                let xv = unsafe { _mm512_loadu_ps(x.add(ki * p.cols + kj)) };
                                *a = _mm512_fmadd_ps(dv, xv, *a);
                            }
                        }
                    }
                }
                let dw = &mut dw[(o * c + ch) * K * K..][..K * K];
                for (drow, arow) in dw.chunks_exact_mut(K).zip(acc) {
                    for (d, a) in drow.iter_mut().zip(arow) {
                        *d += _mm512_reduce_add_ps(a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::im2col::ConvGeometry;

    fn geometry(batch: usize, c: usize, o: usize, hw: [usize; 2], k: usize, pad: usize) -> ConvGeometry {
        let out = [hw[0] + 2 * pad + 1 - k, hw[1] + 2 * pad + 1 - k];
        ConvGeometry {
            batch,
            in_channels: c,
            out_channels: o,
            groups: 1,
            in_hw: hw,
            out_hw: out,
            kernel: [k, k],
            stride: [1, 1],
            padding: [pad, pad],
            dilation: [1, 1],
        }
    }

    /// Forward and weight gradient against the definition, in f64, for
    /// 16 + 1 output channels and rows that are not a multiple of 16.
    #[test]
    fn kernels_match_the_definition() {
        for g in
            [geometry(3, 1, 17, [28, 28], 5, 2), geometry(2, 3, 5, [9, 19], 3, 1), geometry(1, 2, 16, [8, 12], 3, 0)]
        {
            if !applies(&g) {
                continue; // no AVX-512 on this CPU: `im2col` computes these layers (tests/conv_ops.rs)
            }
            let (c, o, [h, w], [oh, ow], [k, _]) = (g.in_channels, g.out_channels, g.in_hw, g.out_hw, g.kernel);
            let x: Vec<f32> = (0..g.batch * g.in_size()).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
            let wv: Vec<f32> = (0..o * c * k * k).map(|i| ((i * 13 % 29) as f32 - 14.0) / 10.0).collect();
            let dy: Vec<f32> = (0..g.batch * g.out_size()).map(|i| ((i * 7 % 31) as f32 - 15.0) / 8.0).collect();
            let bias: Vec<f32> = (0..o).map(|i| i as f32 * 0.5).collect();
            let mut y = vec![f32::NAN; g.batch * g.out_size()];
            forward(&x, &wv, Some(&bias), &g, &mut y);
            let dw = weight_grad(&x, &dy, &g);
            let mut dw_ref = vec![0.0f64; dw.len()];
            for n in 0..g.batch {
                for (oc, i, j) in (0..o).flat_map(|oc| (0..oh).flat_map(move |i| (0..ow).map(move |j| (oc, i, j)))) {
                    let mut sum = bias[oc] as f64;
                    let d = dy[((n * o + oc) * oh + i) * ow + j] as f64;
                    for (ch, ki, kj) in
                        (0..c).flat_map(|ch| (0..k).flat_map(move |ki| (0..k).map(move |kj| (ch, ki, kj))))
                    {
                        let (yy, xx) = ((i + ki).checked_sub(g.padding[0]), (j + kj).checked_sub(g.padding[1]));
                        let v = match (yy, xx) {
                            (Some(yy), Some(xx)) if yy < h && xx < w => x[((n * c + ch) * h + yy) * w + xx] as f64,
                            _ => 0.0,
                        };
                        let t = ((oc * c + ch) * k + ki) * k + kj;
                        sum += wv[t] as f64 * v;
                        dw_ref[t] += d * v;
                    }
                    let got = y[((n * o + oc) * oh + i) * ow + j] as f64;
                    assert!((got - sum).abs() < 1e-4 * (1.0 + sum.abs()), "y[{n}, {oc}, {i}, {j}]: {got} vs {sum}");
                }
            }
            for (t, (&got, &want)) in dw.iter().zip(&dw_ref).enumerate() {
                assert!((got as f64 - want).abs() < 1e-3 * (1.0 + want.abs()), "dw[{t}]: {got} vs {want}");
            }
        }
    }
}
