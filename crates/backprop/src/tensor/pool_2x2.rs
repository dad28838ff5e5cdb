//! The usual 2x2 max pooling with stride 2 and no padding, one plane at a
//! time: the same rule as the general loop of `pool.rs` (first maximum in
//! row-major order, a NaN wins), over each window's four inputs in turn.
//!
//! Rows of these planes are short (14 or 7 outputs in a LeNet), so a loop
//! along a row vectorizes poorly; the AVX-512 kernel takes up to 16 outputs
//! of a row at once, splitting each input row's even and odd columns with
//! one permute, and masks the rest.

/// One plane: `x` rows of `w` values, `y` and `arg` rows of `ow` (with
/// `2 ow <= w` and `2 * y.len() / ow` rows in `x`); `arg` gets the index
/// `row * w + column` of each output's input.
pub(super) fn max_pool_2x2(x: &[f32], w: usize, y: &mut [f32], arg: &mut [u32], ow: usize) {
    let oh = y.len() / ow;
    assert!(2 * ow <= w && x.len() >= 2 * oh * w && arg.len() == y.len(), "max_pool_2x2: plane sizes do not fit");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (checked just above), and the
        // sizes were checked against the slices above.
        return unsafe { avx512(x, w, y, arg, ow) };
    }
    portable(x, w, y, arg, ow);
}

/// [`max_pool_2x2`] in plain Rust.
fn portable(x: &[f32], w: usize, y: &mut [f32], arg: &mut [u32], ow: usize) {
    for (oy, (y, arg)) in y.chunks_exact_mut(ow).zip(arg.chunks_exact_mut(ow)).enumerate() {
        let (r0, r1) = (&x[2 * oy * w..][..2 * ow], &x[(2 * oy + 1) * w..][..2 * ow]);
        let row0 = (2 * oy * w) as u32;
        for (ox, ((y, arg), (p, q))) in
            y.iter_mut().zip(arg).zip(r0.chunks_exact(2).zip(r1.chunks_exact(2))).enumerate()
        {
            let at0 = row0 + 2 * ox as u32;
            let (mut best, mut at) = (p[0], at0);
            for (v, i) in [(p[1], at0 + 1), (q[0], at0 + w as u32), (q[1], at0 + w as u32 + 1)] {
                let take = (v > best) | v.is_nan();
                best = if take { v } else { best };
                at = if take { i } else { at };
            }
            (*y, *arg) = (best, at);
        }
    }
}

/// [`max_pool_2x2`] with AVX-512: 16 outputs of a row per step.
///
/// # Safety
/// The CPU must support AVX-512F, and the sizes must fit as
/// [`max_pool_2x2`] asserts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(x: &[f32], w: usize, y: &mut [f32], arg: &mut [u32], ow: usize) {
    use super::lane_mask as mask;
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let (one, below, below_right) =
        (_mm512_set1_epi32(1), _mm512_set1_epi32(w as i32), _mm512_set1_epi32(w as i32 + 1));
    for oy in 0..y.len() / ow {
        for ox in (0..ow).step_by(16) {
            let n = 16.min(ow - ox);
            let (lo, hi) = (mask(2 * n), mask((2 * n).saturating_sub(16)));
            let at0 = 2 * oy * w + 2 * ox;
            // SAFETY: `at0 + w + 2n <= x.len()` (2 ox + 2n <= 2 ow <= w, and
            // the plane holds 2 oh rows of w).
            let ((p0, p1), (q0, q1)) = unsafe { (split(x, at0, lo, hi), split(x, at0 + w, lo, hi)) };
            let first = _mm512_add_epi32(_mm512_set1_epi32(at0 as i32), even);
            let (mut best, mut at) = (p0, first);
            for (v, i) in [(p1, one), (q0, below), (q1, below_right)] {
                let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                best = _mm512_mask_mov_ps(best, take, v);
                at = _mm512_mask_mov_epi32(at, take, _mm512_add_epi32(first, i));
            }
            let out = oy * ow + ox;
            let store = mask(n);
            // SAFETY: `out + n <= y.len() == arg.len()`; masked-off lanes are not written.
            unsafe {
                _mm512_mask_storeu_ps(y.as_mut_ptr().add(out), store, best);
                _mm512_mask_storeu_epi32(arg.as_mut_ptr().add(out).cast(), store, at);
            }
        }
    }
}

/// The even and odd columns of the up to 32 inputs from `x[at]` that the
/// masks `lo` (first 16) and `hi` (next 16) select.
///
/// # Safety
/// The CPU must support AVX-512F, and the selected lanes must lie in `x`
/// (masked-off lanes are not read).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split(x: &[f32], at: usize, lo: u16, hi: u16) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    // SAFETY: as the caller promises.
    let (a, b) = unsafe {
        (_mm512_maskz_loadu_ps(lo, x.as_ptr().add(at)), _mm512_maskz_loadu_ps(hi, x.as_ptr().wrapping_add(at + 16)))
    };
    (_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 kernel (where the CPU has it) equals the portable loop,
    /// NaNs, ties and row widths that are not a multiple of 16 included.
    #[test]
    fn kernels_agree() {
        for (w, ow, oh) in [(28, 14, 14), (15, 7, 3), (40, 20, 2), (2, 1, 1), (66, 33, 2)] {
            let x: Vec<f32> = (0..2 * oh * w)
                .map(|i| match i % 13 {
                    5 => f32::NAN,
                    7 | 8 => 3.0,
                    k => (k as f32 * 0.7).sin(),
                })
                .collect();
            let (mut y, mut arg) = (vec![0.0; oh * ow], vec![0; oh * ow]);
            let (mut y_ref, mut arg_ref) = (vec![0.0; oh * ow], vec![0; oh * ow]);
            max_pool_2x2(&x, w, &mut y, &mut arg, ow);
            portable(&x, w, &mut y_ref, &mut arg_ref, ow);
            assert_eq!(arg, arg_ref, "w {w}");
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y_ref), "w {w}");
        }
    }
}
