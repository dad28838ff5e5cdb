//! The last step of a product computed column-major: copying the `m x n`
//! column-major result into the row-major destination, plain, added to what
//! is there, or plus a bias per column (a linear layer's).

/// What the copy does with the destination.
#[derive(Clone, Copy)]
pub(crate) enum Write<'a> {
    /// `dst = t`.
    Overwrite,
    /// `dst += t`.
    Accumulate,
    /// `dst = t + bias[column]` (`bias` holds `n` values).
    Bias(&'a [f32]),
}

impl From<bool> for Write<'_> {
    /// `Accumulate` when `accumulate`, else `Overwrite`.
    fn from(accumulate: bool) -> Self {
        if accumulate {
            Write::Accumulate
        } else {
            Write::Overwrite
        }
    }
}

impl Write<'_> {
    #[inline(always)]
    fn apply(self, d: &mut f32, v: f32, column: usize) {
        match self {
            Write::Overwrite => *d = v,
            Write::Accumulate => *d += v,
            Write::Bias(b) => *d = v + b[column],
        }
    }
}

/// Writes the column-major `t` (`t[j * m + i]` is row `i`, column `j`) into
/// the row-major `dst` (`dst[i * n + j]`) as `how` says.
///
/// # Panics
/// When `t` or `dst` holds fewer than `m * n` values, or a bias fewer than `n`.
pub(crate) fn transpose_into(t: &[f32], dst: &mut [f32], m: usize, n: usize, how: Write<'_>) {
    assert!(t.len() >= m * n && dst.len() >= m * n, "transpose_into: buffers too small for {m}x{n}");
    if let Write::Bias(b) = how {
        assert!(b.len() >= n, "transpose_into: {} bias values for {n} columns", b.len());
    }
    let (rows, cols) = (m / TILE * TILE, n / TILE * TILE);
    #[cfg(target_arch = "x86_64")]
    if rows > 0 && cols > 0 && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above), and every 8x8
        // tile read and written lies inside the `m x n` buffers (asserted above).
        unsafe { avx::tiles(t, dst, m, n, (rows, cols), how) };
        // The rows below the last full tile, then the columns right of it.
        copy_block(t, dst, m, n, rows..m, 0..n, how);
        copy_block(t, dst, m, n, 0..rows, cols..n, how);
        return;
    }
    copy_block(t, dst, m, n, 0..m, 0..n, how);
}

/// Side of the square tiles the vector copy transposes in registers.
const TILE: usize = 8;

/// The copy of rows `rows` and columns `columns`, value by value, in blocks
/// of 16 columns: a block's scratch values stay in L1 while every row takes
/// its slice (a row at a time would read each from a different cache line).
fn copy_block(
    t: &[f32],
    dst: &mut [f32],
    m: usize,
    n: usize,
    rows: std::ops::Range<usize>,
    columns: std::ops::Range<usize>,
    how: Write<'_>,
) {
    const COLUMNS: usize = 16;
    for j0 in columns.clone().step_by(COLUMNS) {
        let j1 = (j0 + COLUMNS).min(columns.end);
        for i in rows.clone() {
            let row = &mut dst[i * n + j0..i * n + j1];
            row.iter_mut().enumerate().for_each(|(dj, d)| how.apply(d, t[(j0 + dj) * m + i], j0 + dj));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Write, TILE};
    use std::arch::x86_64::*;

    /// The full 8x8 tiles of rows `0..rows` and columns `0..cols`, each
    /// loaded as eight column vectors and transposed in registers (the
    /// unpack / shuffle / lane-permute sequence of Intel's optimisation
    /// manual, 24 shuffles per 64 values).
    ///
    /// # Safety
    /// The CPU must support AVX; `t` and `dst` must hold `m * n` values, and
    /// `rows <= m`, `cols <= n`, both multiples of 8.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn tiles(
        t: &[f32],
        dst: &mut [f32],
        m: usize,
        n: usize,
        (rows, cols): (usize, usize),
        how: Write,
    ) {
        for i0 in (0..rows).step_by(TILE) {
            for j0 in (0..cols).step_by(TILE) {
                // SAFETY: column j0 + c of rows i0..i0 + 8 lies in t (rows <= m, cols <= n).
                let c = |c: usize| unsafe { _mm256_loadu_ps(t.as_ptr().add((j0 + c) * m + i0)) };
                let (a0, a1, a2, a3) = (
                    _mm256_unpacklo_ps(c(0), c(1)),
                    _mm256_unpackhi_ps(c(0), c(1)),
                    _mm256_unpacklo_ps(c(2), c(3)),
                    _mm256_unpackhi_ps(c(2), c(3)),
                );
                let (a4, a5, a6, a7) = (
                    _mm256_unpacklo_ps(c(4), c(5)),
                    _mm256_unpackhi_ps(c(4), c(5)),
                    _mm256_unpacklo_ps(c(6), c(7)),
                    _mm256_unpackhi_ps(c(6), c(7)),
                );
                let (b0, b1) = (_mm256_shuffle_ps::<0x44>(a0, a2), _mm256_shuffle_ps::<0xEE>(a0, a2));
                let (b2, b3) = (_mm256_shuffle_ps::<0x44>(a1, a3), _mm256_shuffle_ps::<0xEE>(a1, a3));
                let (b4, b5) = (_mm256_shuffle_ps::<0x44>(a4, a6), _mm256_shuffle_ps::<0xEE>(a4, a6));
                let (b6, b7) = (_mm256_shuffle_ps::<0x44>(a5, a7), _mm256_shuffle_ps::<0xEE>(a5, a7));
                let rows_of_tile = [
                    _mm256_permute2f128_ps::<0x20>(b0, b4),
                    _mm256_permute2f128_ps::<0x20>(b1, b5),
                    _mm256_permute2f128_ps::<0x20>(b2, b6),
                    _mm256_permute2f128_ps::<0x20>(b3, b7),
                    _mm256_permute2f128_ps::<0x31>(b0, b4),
                    _mm256_permute2f128_ps::<0x31>(b1, b5),
                    _mm256_permute2f128_ps::<0x31>(b2, b6),
                    _mm256_permute2f128_ps::<0x31>(b3, b7),
                ];
                for (r, &v) in rows_of_tile.iter().enumerate() {
                    // SAFETY: row i0 + r, columns j0..j0 + 8 lie in dst; the
                    // bias holds n >= cols values (asserted by the caller).
                    unsafe {
                        let d = dst.as_mut_ptr().add((i0 + r) * n + j0);
                        let v = match how {
                            Write::Overwrite => v,
                            Write::Accumulate => _mm256_add_ps(_mm256_loadu_ps(d), v),
                            Write::Bias(b) => _mm256_add_ps(_mm256_loadu_ps(b.as_ptr().add(j0)), v),
                        };
                        _mm256_storeu_ps(d, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_and_mode_matches_the_definition() {
        for (m, n) in [(1, 1), (3, 5), (8, 8), (9, 17), (16, 8), (64, 30), (10, 784), (23, 40)] {
            let t: Vec<f32> = (0..m * n).map(|v| v as f32 * 0.5 - 7.0).collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 3.0).collect();
            let start: Vec<f32> = (0..m * n).map(|v| (v % 7) as f32).collect();
            for how in [Write::Overwrite, Write::Accumulate, Write::Bias(&bias)] {
                let mut dst = start.clone();
                transpose_into(&t, &mut dst, m, n, how);
                for i in 0..m {
                    for j in 0..n {
                        let v = t[j * m + i];
                        let want = match how {
                            Write::Overwrite => v,
                            Write::Accumulate => start[i * n + j] + v,
                            Write::Bias(b) => v + b[j],
                        };
                        assert_eq!(dst[i * n + j], want, "{m}x{n}, row {i}, column {j}");
                    }
                }
            }
        }
    }
}
