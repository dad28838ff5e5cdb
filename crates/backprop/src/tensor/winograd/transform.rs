//! The transform matrices of F(4x4, 3x3) on 6x6 tiles and F(4x4, 5x5) on
//! 8x8 tiles, built at compile time, and the kernel that applies one to a
//! tile of channel vectors.
//!
//! The matrices come from the Toom-Cook construction on the points
//! `0, 1, -1, 1/2, -1/2` (and `2, -2` for 8x8 tiles) and infinity: for the
//! `k`-th finite point `p_k`, `A^T[i][k] = p_k^i`,
//! `G[k][j] = p_k^j / prod_{l != k} (p_k - p_l)`, row `k` of `B^T` holds the
//! coefficients of `prod_{l != k} (x - p_l)`; the point at infinity adds a
//! last column `e_{m-1}` to `A^T`, a last row `e_{r-1}` to `G` and the
//! coefficients of `prod_l (x - p_l)` as the last row of `B^T` (the
//! construction of Lavin's `wincnn`). The points `±1/2` before `±2` keep the
//! f32 error lower (Barabasz et al., "Error Analysis and Improving the
//! Accuracy of Winograd Convolution", 2020).
//!
//! Each matrix is a constant of the kernel that applies it ([`sandwich`] is
//! compiled once per kernel size and matrix), so the compiler drops the
//! zero coefficients and turns the ones into additions: many of the
//! coefficients of these matrices are 0 or ±1.

/// Largest tile side of any transform here.
pub(super) const MAX_TILE: usize = 8;

/// The interpolation points, in the order they are taken: a tile of side
/// `a` uses the first `a - 1` (the last point is infinity).
const POINTS: [f64; MAX_TILE - 1] = [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0];

/// Tile side for an `r x r` kernel: F(4x4, r x r), `4 + r - 1`.
pub(super) const fn tile_side(r: usize) -> usize {
    4 + r - 1
}

/// Channels transformed together: one AVX-512 register.
const LANES: usize = 16;

/// Which matrix of F(m x m, r x r) a [`sandwich`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Which {
    /// `A^T` `[m, a]`: products to outputs.
    At,
    /// `A` `[a, m]`: output gradients to product gradients.
    A,
    /// `G` `[a, r]`: kernel to transformed kernel.
    G,
    /// `G^T` `[r, a]`: transformed-kernel gradient to kernel gradient.
    Gt,
    /// `B^T` `[a, a]`: input tile to transformed tile.
    Bt,
    /// `B` `[a, a]`: transformed-tile gradient to input-tile gradient.
    B,
}

/// A matrix of at most `MAX_TILE x MAX_TILE` coefficients (row-major, the unused
/// part zero).
#[derive(Clone, Copy)]
pub(super) struct Mat {
    pub(super) v: [[f32; MAX_TILE]; MAX_TILE],
    pub(super) rows: usize,
    pub(super) cols: usize,
}

/// `p^i` (with `0^0 = 1`).
const fn pow(p: f64, i: usize) -> f64 {
    let (mut v, mut k) = (1.0, 0);
    while k < i {
        v *= p;
        k += 1;
    }
    v
}

/// Coefficients (lowest power first) of `prod (x - p_l)` over the first
/// `n` points but the `skip`-th (none skipped when `skip >= n`).
const fn poly_without(n: usize, skip: usize) -> [f64; MAX_TILE] {
    let mut c = [0.0; MAX_TILE];
    c[0] = 1.0;
    let (mut deg, mut l) = (0, 0);
    while l < n {
        if l != skip {
            // c *= (x - root): new c[i] = c[i - 1] - root c[i].
            let mut i = deg + 1;
            while i > 0 {
                c[i] = c[i - 1] - POINTS[l] * c[i];
                i -= 1;
            }
            c[0] *= -POINTS[l];
            deg += 1;
        }
        l += 1;
    }
    c
}

/// `prod_{l != k} (p_k - p_l)` over the first `n` points.
const fn denominator(n: usize, k: usize) -> f64 {
    let (mut f, mut l) = (1.0, 0);
    while l < n {
        if l != k {
            f *= POINTS[k] - POINTS[l];
        }
        l += 1;
    }
    f
}

const fn transposed(a: Mat) -> Mat {
    let mut t = Mat { v: [[0.0; MAX_TILE]; MAX_TILE], rows: a.cols, cols: a.rows };
    let mut i = 0;
    while i < MAX_TILE {
        let mut j = 0;
        while j < MAX_TILE {
            t.v[j][i] = a.v[i][j];
            j += 1;
        }
        i += 1;
    }
    t
}

/// Matrix `which` of F(m x m, r x r) on tiles of side `a = tile_side(r)`,
/// `m = a + 1 - r`.
pub(super) const fn matrix(r: usize, which: Which) -> Mat {
    let a = tile_side(r);
    let (m, last) = (a + 1 - r, a - 1);
    let zero = [[0.0f32; MAX_TILE]; MAX_TILE];
    let (mut at, mut g, mut bt) = (zero, zero, zero);
    let mut k = 0;
    while k < last {
        let p = POINTS[k];
        let mut i = 0;
        while i < m {
            at[i][k] = pow(p, i) as f32;
            i += 1;
        }
        let mut j = 0;
        while j < r {
            g[k][j] = (pow(p, j) / denominator(last, k)) as f32;
            j += 1;
        }
        let poly = poly_without(last, k);
        let mut n = 0;
        while n < a {
            bt[k][n] = poly[n] as f32;
            n += 1;
        }
        k += 1;
    }
    at[m - 1][last] = 1.0;
    g[last][r - 1] = 1.0;
    let poly = poly_without(last, last);
    let mut n = 0;
    while n < a {
        bt[last][n] = poly[n] as f32;
        n += 1;
    }
    let (at, g, bt) =
        (Mat { v: at, rows: m, cols: a }, Mat { v: g, rows: a, cols: r }, Mat { v: bt, rows: a, cols: a });
    match which {
        Which::At => at,
        Which::A => transposed(at),
        Which::G => g,
        Which::Gt => transposed(g),
        Which::Bt => bt,
        Which::B => transposed(bt),
    }
}

/// Where a small 2-d array of channel vectors lies in a buffer: element
/// `(i, j)` is the `len` values from `at + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(super) struct Grid {
    pub(super) at: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl Grid {
    fn of(&self, i: usize, j: usize) -> usize {
        self.at + i * self.rs + j * self.cs
    }
}

/// `dst = mat src mat^T` on `[cols, cols]` grids of `len`-vectors (`dst`
/// `[rows, rows]`), or `dst +=` when `add`, for `mat` = [`matrix`]`(r,
/// which)` `[rows, cols]`. Runs [`LANES`] channels at a time.
///
/// # Panics
/// If `r` is neither 3 nor 5, or a grid reaches past its buffer.
#[allow(clippy::too_many_arguments)]
pub(super) fn sandwich(r: usize, which: Which, src: &[f32], s: Grid, dst: &mut [f32], d: Grid, len: usize, add: bool) {
    let op = Operands { src, s, dst, d, len, add };
    match r {
        3 => by_matrix::<3>(which, op),
        5 => by_matrix::<5>(which, op),
        _ => panic!("Winograd transforms exist for 3x3 and 5x5 kernels, not {r}x{r}"),
    }
}

/// The arguments of one [`sandwich`].
struct Operands<'a> {
    src: &'a [f32],
    s: Grid,
    dst: &'a mut [f32],
    d: Grid,
    len: usize,
    add: bool,
}

/// [`Which`] as the const parameter of [`dispatch`].
fn by_matrix<const R: usize>(which: Which, op: Operands) {
    match which {
        Which::At => dispatch::<R, 0>(op),
        Which::A => dispatch::<R, 1>(op),
        Which::G => dispatch::<R, 2>(op),
        Which::Gt => dispatch::<R, 3>(op),
        Which::Bt => dispatch::<R, 4>(op),
        Which::B => dispatch::<R, 5>(op),
    }
}

/// The matrix numbered `W` in [`by_matrix`]'s order.
const fn numbered(r: usize, w: u8) -> Mat {
    let which = [Which::At, Which::A, Which::G, Which::Gt, Which::Bt, Which::B];
    matrix(r, which[w as usize])
}

fn dispatch<const R: usize, const W: u8>(op: Operands) {
    // A build for the generic x86-64 target still gets AVX-512 where the CPU has it.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above; the function
        // is plain safe Rust compiled with that feature enabled.
        return unsafe { apply_avx512::<R, W>(op) };
    }
    apply::<R, W>(op)
}

/// [`apply`] for CPUs with AVX-512F: whole [`LANES`]-wide slices in
/// registers, the coefficients immediate operands. The same operations in
/// the same order as [`lane_block`] (multiply, then add), so both give the
/// same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn apply_avx512<const R: usize, const W: u8>(op: Operands) {
    use std::arch::x86_64::*;
    let mat = const { numbered(R, W) };
    let (rows, cols) = (mat.rows, mat.cols);
    let Operands { src, s, dst, d, len, add } = op;
    let full = len / LANES * LANES;
    for lane in (0..full).step_by(LANES) {
        // t[i][b] = sum_a mat[i][a] src(a, b), a column of `src` at a time.
        // Left uninitialized (zeroing it would be a `memset` per slice).
        let mut t = [[std::mem::MaybeUninit::<__m512>::uninit(); MAX_TILE]; MAX_TILE];
        for b in 0..cols {
            let mut column = [_mm512_setzero_ps(); MAX_TILE];
            for (a, xa) in column.iter_mut().enumerate().take(cols) {
                let at = s.of(a, b) + lane;
                let v: &[f32; LANES] = src[at..at + LANES].try_into().expect("a whole lane slice");
                // SAFETY: `v` is 16 readable f32s; the load takes any alignment.
                *xa = unsafe { _mm512_loadu_ps(v.as_ptr()) };
            }
            for (i, ti) in t.iter_mut().enumerate().take(rows) {
                ti[b].write(combine_avx512(&mat.v[i], &column, cols));
            }
        }
        for (i, ti) in t.iter().enumerate().take(rows) {
            let mut row = [_mm512_setzero_ps(); MAX_TILE];
            for (b, rb) in row.iter_mut().enumerate().take(cols) {
                // SAFETY: the loop above wrote t[i][b] for every i < rows, b < cols.
                *rb = unsafe { ti[b].assume_init() };
            }
            for j in 0..rows {
                let mut acc = combine_avx512(&mat.v[j], &row, cols);
                let at = d.of(i, j) + lane;
                let out: &mut [f32; LANES] = (&mut dst[at..at + LANES]).try_into().expect("a whole lane slice");
                // SAFETY: `out` is 16 writable f32s; loads and stores take any alignment.
                unsafe {
                    if add {
                        acc = _mm512_add_ps(_mm512_loadu_ps(out.as_ptr()), acc);
                    }
                    _mm512_storeu_ps(out.as_mut_ptr(), acc);
                }
            }
        }
    }
    if full < len {
        lane_block::<false>(&mat, src, s, dst, d, full, len - full, add);
    }
}

/// [`combine`] on AVX-512 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn combine_avx512(
    coefs: &[f32; MAX_TILE],
    xs: &[std::arch::x86_64::__m512; MAX_TILE],
    n: usize,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let mut acc = _mm512_set1_ps(-0.0);
    for (&c, &x) in coefs.iter().zip(xs).take(n) {
        if c == 1.0 {
            acc = _mm512_add_ps(acc, x);
        } else if c == -1.0 {
            acc = _mm512_sub_ps(acc, x);
        } else if c != 0.0 {
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(c), x));
        }
    }
    acc
}

/// The body of [`sandwich`] for one constant matrix, inlined into each
/// CPU-specific copy.
#[inline(always)]
fn apply<const R: usize, const W: u8>(op: Operands) {
    let mat = const { numbered(R, W) };
    let Operands { src, s, dst, d, len, add } = op;
    for lane in (0..len).step_by(LANES) {
        let w = LANES.min(len - lane);
        if w == LANES {
            lane_block::<true>(&mat, src, s, dst, d, lane, w, add);
        } else {
            lane_block::<false>(&mat, src, s, dst, d, lane, w, add);
        }
    }
}

/// One [`LANES`]-wide slice of channels (`w` of them real) of [`sandwich`]:
/// `t = mat src` a column at a time, then `dst(i, j) = sum_b mat[j][b] t(i, b)`.
/// Sums start from `-0.0`, which adds nothing (`-0.0 + x == x` for every
/// `x`), so the compiler can drop it.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lane_block<const FULL: bool>(
    mat: &Mat,
    src: &[f32],
    s: Grid,
    dst: &mut [f32],
    d: Grid,
    lane: usize,
    w: usize,
    add: bool,
) {
    let (rows, cols) = (mat.rows, mat.cols);
    let mut t = [[[0.0f32; LANES]; MAX_TILE]; MAX_TILE];
    for b in 0..cols {
        let mut column = [[0.0f32; LANES]; MAX_TILE];
        for (a, xa) in column.iter_mut().enumerate().take(cols) {
            let at = s.of(a, b) + lane;
            if FULL {
                xa.copy_from_slice(&src[at..at + LANES]);
            } else {
                xa[..w].copy_from_slice(&src[at..at + w]);
            }
        }
        for (i, ti) in t.iter_mut().enumerate().take(rows) {
            ti[b] = combine(&mat.v[i], &column, cols);
        }
    }
    for (i, ti) in t.iter().enumerate().take(rows) {
        for j in 0..rows {
            let acc = combine(&mat.v[j], ti, cols);
            let at = d.of(i, j) + lane;
            let out = &mut dst[at..at + if FULL { LANES } else { w }];
            if add {
                out.iter_mut().zip(&acc).for_each(|(o, a)| *o += a);
            } else {
                out.copy_from_slice(&acc[..out.len()]);
            }
        }
    }
}

/// `sum_k coefs[k] xs[k]` over the first `n` vectors, zero coefficients skipped.
#[inline(always)]
fn combine(coefs: &[f32; MAX_TILE], xs: &[[f32; LANES]; MAX_TILE], n: usize) -> [f32; LANES] {
    let mut acc = [-0.0f32; LANES];
    for (&c, x) in coefs.iter().zip(xs).take(n) {
        if c != 0.0 {
            for l in 0..LANES {
                acc[l] += c * x[l];
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 1-d tile through `A^T [(G g) ⊙ (B^T d)]` equals the direct correlation.
    #[test]
    fn transforms_compute_a_correlation() {
        for r in [3, 5] {
            let a = tile_side(r);
            let (at, g, bt) = (matrix(r, Which::At), matrix(r, Which::G), matrix(r, Which::Bt));
            let d: Vec<f32> = (0..a).map(|i| (i as f32 * 0.37).sin()).collect();
            let k: Vec<f32> = (0..r).map(|i| (i as f32 * 1.3 + 0.2).cos()).collect();
            let gg: Vec<f32> = (0..a).map(|i| (0..r).map(|j| g.v[i][j] * k[j]).sum()).collect();
            let bd: Vec<f32> = (0..a).map(|i| (0..a).map(|j| bt.v[i][j] * d[j]).sum()).collect();
            for i in 0..a + 1 - r {
                let y: f32 = (0..a).map(|j| at.v[i][j] * gg[j] * bd[j]).sum();
                let direct: f32 = (0..r).map(|j| k[j] * d[i + j]).sum();
                assert!((y - direct).abs() < 1e-5, "r {r}, output {i}: {y} vs {direct}");
            }
        }
    }

    /// The transposes are the transposes, and the shapes are F(m x m, r x r)'s.
    #[test]
    fn matrices_have_their_shapes() {
        for r in [3, 5] {
            let (a, m) = (tile_side(r), 4);
            let shape = |w| (matrix(r, w).rows, matrix(r, w).cols);
            assert_eq!([shape(Which::At), shape(Which::G), shape(Which::Bt)], [(m, a), (a, r), (a, a)]);
            for (w, wt) in [(Which::At, Which::A), (Which::G, Which::Gt), (Which::Bt, Which::B)] {
                let (a, b) = (matrix(r, w), matrix(r, wt));
                assert_eq!((a.rows, a.cols), (b.cols, b.rows));
                for i in 0..a.rows {
                    for j in 0..a.cols {
                        assert_eq!(a.v[i][j], b.v[j][i]);
                    }
                }
            }
        }
    }

    /// `sandwich` with a partial lane slice (20 channels: 16 + 4) and `add`
    /// equals the product written out.
    #[test]
    fn sandwich_matches_the_matrix_product() {
        const TILE: usize = tile_side(5);
        let len = 20;
        let src: Vec<f32> = (0..TILE * TILE * len).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.25).collect();
        let grid = Grid { at: 0, rs: TILE * len, cs: len };
        let bt = matrix(5, Which::Bt);
        let mut dst = vec![1.0f32; TILE * TILE * len];
        sandwich(5, Which::Bt, &src, grid, &mut dst, grid, len, true);
        for (i, j, ch) in (0..TILE).flat_map(|i| (0..TILE).flat_map(move |j| (0..len).map(move |c| (i, j, c)))) {
            let mut want = 1.0f64;
            for a in 0..TILE {
                for b in 0..TILE {
                    want += (bt.v[i][a] * bt.v[j][b]) as f64 * src[grid.of(a, b) + ch] as f64;
                }
            }
            let got = dst[grid.of(i, j) + ch] as f64;
            assert!((got - want).abs() < 1e-4, "({i}, {j}) channel {ch}: {got} vs {want}");
        }
    }
}
