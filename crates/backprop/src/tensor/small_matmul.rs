//! `a b^T` for a few rows of `a`: a small batch through a layer's weight
//! (`x W^T`, `F.linear`), as dot products summed in registers.
//!
//! Both operands are read along their rows (`a` is `m x k`, `b` is `n x k`,
//! `k` contiguous in both), so nothing is packed: a block of up to 4 rows of
//! `a` by 4 rows of `b` keeps 16 AVX-512 accumulators, each 16-wide step of
//! `k` loads 8 vectors for 16 multiply-adds, and each accumulator is summed
//! across its lanes at the end. `gemm` instead packs `a` and runs a
//! microkernel built for many rows: for W1's 10x784 batch against its 30x784
//! weight, 16-row registers with 10 rows filled, and a third of a training
//! step in the forward product.
//!
//! Used when `a` has at most [`MAX_ROWS`] rows, `k` is at least 16 and `b`
//! fits in a core's L2 cache ([`MAX_B`] values: `b` is read once per block of
//! 4 rows of `a`), on AVX-512 CPUs; other products go to `gemm`. Each output
//! is one sum in a fixed order (16 lane sums over `k`, then the lanes added
//! pairwise), independent of the thread count.

use super::transpose::Write;

/// Rows of `a` up to which this kernel is used.
pub(crate) const MAX_ROWS: usize = 16;

/// Values of `b` (`n k`) up to which this kernel is used: 512 KiB of `f32`.
pub(crate) const MAX_B: usize = 1 << 17;

/// True when `a b^T` (`a` `m x k`, `b` `n x k`) is computed here on this CPU.
pub(crate) fn applies(m: usize, k: usize, n: usize) -> bool {
    let fits = m <= MAX_ROWS && k >= 16 && n * k <= MAX_B;
    #[cfg(target_arch = "x86_64")]
    return fits && std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `dst (m x n) = a (m x k) b^T` (`b` stored `n x k`), written as `how` says.
///
/// # Panics
/// When the buffers are shorter than the shapes, or [`applies`] is false.
pub(crate) fn product_nt(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, how: Write<'_>) {
    assert!(applies(m, k, n), "small_matmul: product {m}x{k}x{n} not for this kernel");
    assert!(a.len() >= m * k && b.len() >= n * k && dst.len() >= m * n, "small_matmul: buffers too small");
    if let Write::Bias(bias) = how {
        assert!(bias.len() >= n, "small_matmul: bias shorter than {n}");
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `applies` checked that the CPU has AVX-512F; the lengths are asserted above.
    unsafe {
        avx512::product_nt(dst, a, b, m, k, n, how)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Write;
    use crate::tensor::lane_mask;
    use std::arch::x86_64::*;

    /// [`super::product_nt`] in blocks of up to 4 x 4 outputs.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `a`, `b` and `dst` hold `m k`, `n k`
    /// and `m n` values, and a `Bias` holds `n`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn product_nt(
        dst: &mut [f32],
        a: &[f32],
        b: &[f32],
        m: usize,
        k: usize,
        n: usize,
        how: Write<'_>,
    ) {
        let mut i = 0;
        while i < m {
            let rows = match m - i {
                1 => rows_of::<1>(dst, a, b, i, k, n, how),
                2 => rows_of::<2>(dst, a, b, i, k, n, how),
                3 => rows_of::<3>(dst, a, b, i, k, n, how),
                _ => rows_of::<4>(dst, a, b, i, k, n, how),
            };
            i += rows;
        }
    }

    /// Rows `i .. i + R` of the output; returns `R`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    fn rows_of<const R: usize>(
        dst: &mut [f32],
        a: &[f32],
        b: &[f32],
        i: usize,
        k: usize,
        n: usize,
        how: Write<'_>,
    ) -> usize {
        let mut j = 0;
        while n - j >= 4 {
            store(block::<R, 4>(a, b, i, j, k), dst, i, j, n, how);
            j += 4;
        }
        while j < n {
            store(block::<R, 1>(a, b, i, j, k), dst, i, j, n, how);
            j += 1;
        }
        R
    }

    /// Adds the products of columns `p .. p + 16` (the lanes `mask` selects)
    /// of rows `a[r k ..]` and `b[c k ..]` to `acc[c][r]`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; the selected lanes of every row lie
    /// inside the buffers behind `a` and `b`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn add_products<const R: usize, const C: usize>(
        acc: &mut [[__m512; R]; C],
        a: *const f32,
        b: *const f32,
        k: usize,
        p: usize,
        mask: u16,
    ) {
        let mut av = [_mm512_setzero_ps(); R];
        for (r, v) in av.iter_mut().enumerate() {
            // SAFETY: the caller keeps the selected lanes inside the buffers.
            *v = unsafe { _mm512_maskz_loadu_ps(mask, a.add(r * k + p)) };
        }
        for (c, col) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let bv = unsafe { _mm512_maskz_loadu_ps(mask, b.add(c * k + p)) };
            for (sum, &x) in col.iter_mut().zip(&av) {
                *sum = _mm512_fmadd_ps(x, bv, *sum);
            }
        }
    }

    /// Writes the `R x C` outputs at `(i, j)` as `how` says (`sums[c][r]`
    /// is output `(i + r, j + c)`).
    fn store<const R: usize, const C: usize>(
        sums: [[f32; R]; C],
        dst: &mut [f32],
        i: usize,
        j: usize,
        n: usize,
        how: Write<'_>,
    ) {
        for (c, col) in sums.iter().enumerate() {
            for (r, &s) in col.iter().enumerate() {
                let o = &mut dst[(i + r) * n + j + c];
                *o = match how {
                    Write::Overwrite => s,
                    Write::Accumulate => *o + s,
                    Write::Bias(bias) => s + bias[j + c],
                };
            }
        }
    }

    /// The dot products of rows `i .. i + R` of `a` with rows `j .. j + C`
    /// of `b`, by row of `b` (`[c][r]`).
    #[target_feature(enable = "avx512f")]
    fn block<const R: usize, const C: usize>(a: &[f32], b: &[f32], i: usize, j: usize, k: usize) -> [[f32; R]; C] {
        assert!((i + R) * k <= a.len() && (j + C) * k <= b.len(), "small_matmul: block out of range");
        let (a, b) = (a[i * k..].as_ptr(), b[j * k..].as_ptr());
        let mut acc = [[_mm512_setzero_ps(); R]; C];
        let mut p = 0;
        while p + 16 <= k {
            // SAFETY: rows `i .. i + R` of `a` and `j .. j + C` of `b` lie in
            // the slices (asserted above), and `p + 16 <= k`.
            unsafe { add_products(&mut acc, a, b, k, p, 0xffff) };
            p += 16;
        }
        if p < k {
            // SAFETY: as above, the mask reading the `k - p` values left.
            unsafe { add_products(&mut acc, a, b, k, p, lane_mask(k - p)) };
        }
        let mut sums = [[0.0f32; R]; C];
        for (col, sum) in acc.iter().zip(sums.iter_mut()) {
            for (&v, s) in col.iter().zip(sum.iter_mut()) {
                *s = _mm512_reduce_add_ps(v);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a b^T` summed in f64, the definition.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[j * k + p] as f64).sum();
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_every_block_shape_and_write() {
        let mut rng = crate::tensor::Rng::new(7);
        for (m, k, n) in
            [(1, 16, 1), (2, 17, 3), (3, 31, 4), (4, 32, 5), (5, 47, 9), (10, 784, 30), (16, 64, 64), (7, 100, 2)]
        {
            if !applies(m, k, n) {
                return; // no AVX-512 on this CPU: the kernel is never used
            }
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..n * k).map(|_| rng.normal()).collect();
            let bias: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let want = reference(&a, &b, m, k, n);
            let tol = |w: f64| 1e-5 * (k as f64).sqrt() * (1.0 + w.abs());
            let mut dst = vec![f32::NAN; m * n];
            product_nt(&mut dst, &a, &b, m, k, n, Write::Overwrite);
            for (d, w) in dst.iter().zip(&want) {
                assert!((*d as f64 - w).abs() <= tol(*w), "{m}x{k}x{n} overwrite: {d} vs {w}");
            }
            let mut acc = vec![1.0f32; m * n];
            product_nt(&mut acc, &a, &b, m, k, n, Write::Accumulate);
            for (d, w) in acc.iter().zip(&want) {
                assert!((*d as f64 - (w + 1.0)).abs() <= tol(*w), "{m}x{k}x{n} accumulate: {d} vs {}", w + 1.0);
            }
            let mut biased = vec![f32::NAN; m * n];
            product_nt(&mut biased, &a, &b, m, k, n, Write::Bias(&bias));
            for (idx, (d, w)) in biased.iter().zip(&want).enumerate() {
                let w = w + bias[idx % n] as f64;
                assert!((*d as f64 - w).abs() <= tol(w), "{m}x{k}x{n} bias: {d} vs {w}");
            }
        }
    }

    #[test]
    fn refuses_what_it_is_not_for() {
        assert!(!applies(MAX_ROWS + 1, 64, 8));
        assert!(!applies(4, 15, 8));
        assert!(!applies(4, 1024, MAX_B / 1024 + 1));
    }
}
