//! Winograd's minimal filtering for stride-1 convolutions: F(4x4, 3x3) and
//! F(2x2, 5x5), each on 6x6 input tiles.
//!
//! A convolution (cross-correlation) with an `r x r` kernel produces an
//! `m x m` block of outputs from an `a x a` tile of input, `a = m + r - 1`,
//! as (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016)
//!
//! `Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A`
//!
//! with `g` the kernel and `d` the tile: `a^2` multiplications instead of
//! `m^2 r^2` (2.8x fewer for F(2x2, 5x5), 4x for F(4x4, 3x3)). Summed over
//! input channels, each of the `a^2` tile positions `p` becomes one matrix
//! product over all tiles `t`: `M[p] = V[p] U[p]`, with `V[p]` `[tiles, C]`
//! the transformed input and `U[p]` `[C, O]` the transformed weight.
//!
//! The gradients are the same products transposed, and every transform is
//! linear, so its adjoint is the transposed matrix:
//! `dM = A dY A^T`, `dV[p] = dM[p] U[p]^T`, `dd = B dV B^T` (added onto the
//! overlapping input tiles), `dU[p] = sum over tiles V[p]^T dM[p]` and
//! `dg = G^T dU G`. The gradients are thus exact for this forward, which
//! `gradcheck` and the tests against the `im2col` path verify.
//!
//! The matrices come from the Toom-Cook construction on the points
//! `0, 1, -1, 1/2, -1/2` and infinity: for the `k`-th finite point `p_k`,
//! `A^T[i][k] = p_k^i`, `G[k][j] = p_k^j / prod_{l != k} (p_k - p_l)`, row
//! `k` of `B^T` holds the coefficients of `prod_{l != k} (x - p_l)`; the point
//! at infinity adds a last column `e_{m-1}` to `A^T`, a last row `e_{r-1}` to
//! `G` and the coefficients of `prod_l (x - p_l)` as the last row of `B^T`
//! (the construction of Lavin's `wincnn`). The points `±1/2` rather than
//! `±2` keep the f32 error lower (Barabasz et al., "Error Analysis and
//! Improving the Accuracy of Winograd Convolution", 2020).
//!
//! Layout: a chunk of whole images at a time (tiles of one image overlap in
//! the input, so its input gradient is added up by one thread), channels
//! last inside the chunk so that every transform runs along contiguous
//! channels.

use super::conv::product_for;
use super::im2col::ConvGeometry;
use super::matmul::matmul_into_serial;
use super::parallel::{self, with_scratch, Rows};

/// Tile side of every transform here.
const TILE: usize = 6;

/// Finite interpolation points (the last point is infinity).
const POINTS: [f64; TILE - 1] = [0.0, 1.0, -1.0, 0.5, -0.5];

/// Tiles (rows of each per-position product) aimed at in one chunk of images:
/// its `V` and `M` then stay in a core's cache.
const CHUNK_TILES: usize = 96;

/// The transforms for one kernel size.
struct Transforms {
    /// Outputs per tile side.
    m: usize,
    /// Kernel side.
    r: usize,
    /// `A^T` `[m, TILE]` and `A` `[TILE, m]`.
    at: Mat,
    a: Mat,
    /// `G` `[TILE, r]` and `G^T` `[r, TILE]`.
    g: Mat,
    gt: Mat,
    /// `B^T` and `B`, `[TILE, TILE]`.
    bt: Mat,
    b: Mat,
}

/// A small row-major matrix of transform coefficients.
struct Mat {
    v: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Mat {
    fn new(v: Vec<f32>, rows: usize, cols: usize) -> Self {
        Mat { v, rows, cols }
    }
    fn transposed(&self) -> Mat {
        let (rows, cols) = (self.rows, self.cols);
        Mat::new((0..cols * rows).map(|i| self.v[(i % rows) * cols + i / rows]).collect(), cols, rows)
    }
}

/// Coefficients (lowest power first) of `prod (x - root)`.
fn poly_from_roots(roots: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut c = vec![1.0];
    for root in roots {
        let mut next = vec![0.0; c.len() + 1];
        for (i, &ci) in c.iter().enumerate() {
            next[i + 1] += ci;
            next[i] -= root * ci;
        }
        c = next;
    }
    c
}

impl Transforms {
    /// F(m x m, r x r) with `m + r - 1 == TILE`.
    fn new(r: usize) -> Self {
        let m = TILE + 1 - r;
        let last = TILE - 1;
        let mut at = vec![0.0f32; m * TILE];
        let mut g = vec![0.0f32; TILE * r];
        let mut bt = vec![0.0f32; TILE * TILE];
        for (k, &p) in POINTS.iter().enumerate() {
            for i in 0..m {
                at[i * TILE + k] = p.powi(i as i32) as f32;
            }
            let others = || POINTS.iter().enumerate().filter(move |&(l, _)| l != k).map(|(_, &q)| q);
            let f: f64 = others().map(|q| p - q).product();
            for j in 0..r {
                g[k * r + j] = (p.powi(j as i32) / f) as f32;
            }
            for (n, c) in poly_from_roots(others()).into_iter().enumerate() {
                bt[k * TILE + n] = c as f32;
            }
        }
        at[(m - 1) * TILE + last] = 1.0;
        g[last * r + r - 1] = 1.0;
        for (n, c) in poly_from_roots(POINTS.iter().copied()).into_iter().enumerate() {
            bt[last * TILE + n] = c as f32;
        }
        let (at, g, bt) = (Mat::new(at, m, TILE), Mat::new(g, TILE, r), Mat::new(bt, TILE, TILE));
        let (a, gt, b) = (at.transposed(), g.transposed(), bt.transposed());
        Transforms { m, r, at, a, g, gt, bt, b }
    }
}

/// Where a small 2-d array of channel vectors lies in a buffer: element
/// `(i, j)` is the `len` values from `at + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct Grid {
    at: usize,
    rs: usize,
    cs: usize,
}

impl Grid {
    fn of(&self, i: usize, j: usize) -> usize {
        self.at + i * self.rs + j * self.cs
    }
}

/// Channels transformed together by [`sandwich`]: one AVX-512 register.
const LANES: usize = 16;

/// `dst = mat src mat^T` on `[cols, cols]` grids of `len`-vectors (`dst`
/// `[rows, rows]`), or `dst +=` when `add`, for `mat` `[rows, cols]` with
/// `rows` and `cols` at most [`TILE`]. Runs [`LANES`] channels at a time on
/// arrays on the stack; zero coefficients are skipped.
fn sandwich(mat: &Mat, src: &[f32], s: Grid, dst: &mut [f32], d: Grid, len: usize, add: bool) {
    // A build for the generic x86-64 target still gets AVX-512 where the CPU has it.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above; the function
        // is plain safe Rust compiled with that feature enabled.
        return unsafe { sandwich_avx512(mat, src, s, dst, d, len, add) };
    }
    sandwich_lanes(mat, src, s, dst, d, len, add)
}

/// [`sandwich_lanes`] compiled for CPUs with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sandwich_avx512(mat: &Mat, src: &[f32], s: Grid, dst: &mut [f32], d: Grid, len: usize, add: bool) {
    sandwich_lanes(mat, src, s, dst, d, len, add)
}

/// The body of [`sandwich`], inlined into each CPU-specific copy.
#[inline(always)]
fn sandwich_lanes(mat: &Mat, src: &[f32], s: Grid, dst: &mut [f32], d: Grid, len: usize, add: bool) {
    let (rows, cols, mat) = (mat.rows, mat.cols, &mat.v[..]);
    for lane in (0..len).step_by(LANES) {
        let w = LANES.min(len - lane);
        // x[b][a] = src(a, b): the tile by columns.
        let mut x = [[[0.0f32; LANES]; TILE]; TILE];
        for (b, xb) in x.iter_mut().enumerate().take(cols) {
            for (a, xba) in xb.iter_mut().enumerate().take(cols) {
                let at = s.of(a, b) + lane;
                if w == LANES {
                    xba.copy_from_slice(&src[at..at + LANES]);
                } else {
                    xba[..w].copy_from_slice(&src[at..at + w]);
                }
            }
        }
        for i in 0..rows {
            // t[b] = (mat src)[i][b], then (mat src mat^T)[i][j] = sum_b mat[j][b] t[b].
            let mut t = [[0.0f32; LANES]; TILE];
            for (tb, xb) in t.iter_mut().zip(&x).take(cols) {
                for (a, xba) in xb.iter().enumerate().take(cols) {
                    let coef = mat[i * cols + a];
                    if coef != 0.0 {
                        for l in 0..LANES {
                            tb[l] += coef * xba[l];
                        }
                    }
                }
            }
            for j in 0..rows {
                let mut acc = [0.0f32; LANES];
                for (b, tb) in t.iter().enumerate().take(cols) {
                    let coef = mat[j * cols + b];
                    if coef != 0.0 {
                        for l in 0..LANES {
                            acc[l] += coef * tb[l];
                        }
                    }
                }
                let at = d.of(i, j) + lane;
                if w == LANES {
                    let out = &mut dst[at..at + LANES];
                    if add {
                        out.iter_mut().zip(&acc).for_each(|(o, a)| *o += a);
                    } else {
                        out.copy_from_slice(&acc);
                    }
                } else {
                    let out = &mut dst[at..at + w];
                    if add {
                        out.iter_mut().zip(&acc).for_each(|(o, a)| *o += a);
                    } else {
                        out.copy_from_slice(&acc[..w]);
                    }
                }
            }
        }
    }
}

/// True when `g` is a convolution this module computes faster than
/// `im2col`: stride 1, no dilation, one group, a square 3x3 or 5x5 kernel,
/// and enough channels on both sides for the per-position products to pay.
pub(crate) fn applies(g: &ConvGeometry) -> bool {
    let [kh, kw] = g.kernel;
    g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.groups == 1
        && kh == kw
        && (kh == 3 || kh == 5)
        && g.in_channels >= 8
        && g.out_channels >= 8
        && g.out_hw[0] >= 2
        && g.out_hw[1] >= 2
}

/// The tiling of one geometry.
struct Plan {
    t: Transforms,
    /// Tiles per image `[rows, columns]`.
    tiles: [usize; 2],
    /// Images per chunk.
    chunk: usize,
    /// Side of the padded channels-last input plane `[rows, columns]`.
    padded: [usize; 2],
}

impl Plan {
    fn new(g: &ConvGeometry) -> Self {
        let t = Transforms::new(g.kernel[0]);
        let tiles = [g.out_hw[0].div_ceil(t.m), g.out_hw[1].div_ceil(t.m)];
        let chunk = (CHUNK_TILES / (tiles[0] * tiles[1])).max(1);
        let padded = [tiles[0] * t.m + t.r - 1, tiles[1] * t.m + t.r - 1];
        Plan { t, tiles, chunk, padded }
    }
    fn tiles_per_image(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }
    /// The input tile of tile `t` in a padded channels-last chunk of `len` channels.
    fn input_tile(&self, t: usize, len: usize) -> Grid {
        let (n, ty, tx) = self.tile(t);
        let [ph, pw] = self.padded;
        let rs = pw * len;
        Grid { at: n * ph * rs + ty * self.t.m * rs + tx * self.t.m * len, rs, cs: len }
    }
    /// Position `(i, j)` of tile `t` in a `[TILE^2, tiles, len]` buffer.
    fn position(&self, t: usize, tiles: usize, len: usize) -> Grid {
        Grid { at: t * len, rs: TILE * tiles * len, cs: tiles * len }
    }
    /// The product for a chunk's per-position matrices.
    fn product(&self, g: &ConvGeometry) -> super::conv::Product {
        product_for(g.batch, self.chunk)
    }
    /// Image, tile row and tile column of tile `t` of a chunk.
    fn tile(&self, t: usize) -> (usize, usize, usize) {
        let per = self.tiles_per_image();
        (t / per, t % per / self.tiles[1], t % self.tiles[1])
    }
}

/// Copies images `[b, C, H, W]` into the zero-padded channels-last chunk
/// `[b, PH, PW, C]`, shifted by the convolution's padding.
fn pack_input(xs: &[f32], g: &ConvGeometry, p: &Plan, xp: &mut [f32]) {
    let (c, [h, w], [ph, pw]) = (g.in_channels, g.in_hw, p.padded);
    xp.fill(0.0);
    for (n, x) in xs.chunks_exact(g.in_size()).enumerate() {
        for y in 0..h.min(ph.saturating_sub(g.padding[0])) {
            let row = &mut xp[((n * ph + y + g.padding[0]) * pw + g.padding[1]) * c..];
            for xx in 0..w.min(pw.saturating_sub(g.padding[1])) {
                let at = xx * c;
                for ch in 0..c {
                    row[at + ch] = x[(ch * h + y) * w + xx];
                }
            }
        }
    }
}

/// `V[p]` `[tiles, C]` for every position `p` from a packed chunk.
fn transform_input(xp: &[f32], p: &Plan, tiles: usize, c: usize, v: &mut [f32]) {
    for t in 0..tiles {
        let (s, d) = (p.input_tile(t, c), p.position(t, tiles, c));
        sandwich(&p.t.bt, xp, s, v, d, c, false);
    }
}

/// `U[p]` `[C, O]` for every position from the weight `[O, C, r, r]`.
fn transform_weight(w: &[f32], g: &ConvGeometry, p: &Plan) -> Vec<f32> {
    let (c, o, r) = (g.in_channels, g.out_channels, p.t.r);
    let mut u = vec![0.0f32; TILE * TILE * c * o];
    let mut wt = vec![0.0f32; r * r * o];
    for ch in 0..c {
        for (oc, k) in (0..o).flat_map(|oc| (0..r * r).map(move |k| (oc, k))) {
            wt[k * o + oc] = w[(oc * c + ch) * r * r + k];
        }
        let (s, d) = (Grid { at: 0, rs: r * o, cs: o }, Grid { at: ch * o, rs: TILE * c * o, cs: c * o });
        sandwich(&p.t.g, &wt, s, &mut u, d, o, false);
    }
    u
}

/// Copies output gradients `[b, O, OH, OW]` into the zero-padded
/// channels-last chunk `[b, tiles_h m, tiles_w m, O]`.
fn pack_output(dys: &[f32], g: &ConvGeometry, p: &Plan, dyp: &mut [f32]) {
    let (o, [oh, ow]) = (g.out_channels, g.out_hw);
    let (rows, cols) = (p.tiles[0] * p.t.m, p.tiles[1] * p.t.m);
    dyp.fill(0.0);
    for (n, dy) in dys.chunks_exact(g.out_size()).enumerate() {
        for y in 0..oh {
            for x in 0..ow {
                let at = ((n * rows + y) * cols + x) * o;
                for oc in 0..o {
                    dyp[at + oc] = dy[(oc * oh + y) * ow + x];
                }
            }
        }
    }
}

/// `dM[p]` `[tiles, O]` = `A dY A^T` per tile from a packed output-gradient chunk.
fn transform_output_grad(dyp: &[f32], p: &Plan, tiles: usize, o: usize, dm: &mut [f32]) {
    let m = p.t.m;
    let cols = p.tiles[1] * m;
    for t in 0..tiles {
        let (n, ty, tx) = p.tile(t);
        let rs = cols * o;
        let s = Grid { at: n * p.tiles[0] * m * rs + ty * m * rs + tx * m * o, rs, cs: o };
        sandwich(&p.t.a, dyp, s, dm, p.position(t, tiles, o), o, false);
    }
}

/// This thread's scratch for one chunk, cut into `K` regions of the given sizes.
fn with_chunk<const K: usize, R>(sizes: [usize; K], f: impl FnOnce([&mut [f32]; K]) -> R) -> R {
    with_scratch(sizes.iter().sum(), |buf| {
        let mut rest = buf;
        f(sizes.map(|n| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            rest = tail;
            head
        }))
    })
}

/// `y = conv(x, w) (+ bias)` for a geometry where [`applies`] holds;
/// `x` `[N, C, H, W]`, `y` `[N, O, OH, OW]`.
pub(crate) fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeometry, y: &mut [f32]) {
    let p = Plan::new(g);
    let (c, o, m, [oh, ow]) = (g.in_channels, g.out_channels, p.t.m, g.out_hw);
    let u = transform_weight(w, g, &p);
    let product = p.product(g);
    let work = (Rows(y, g.out_size()), Rows(x, g.in_size()));
    parallel::for_each(work, p.chunk, |_, (Rows(ys, _), Rows(xs, _))| {
        let b = xs.len() / g.in_size();
        let tiles = b * p.tiles_per_image();
        let sizes = [b * p.padded[0] * p.padded[1] * c, TILE * TILE * tiles * c, TILE * TILE * tiles * o, m * m * o];
        with_chunk(sizes, |[xp, v, mm, block]| {
            pack_input(xs, g, &p, xp);
            transform_input(xp, &p, tiles, c, v);
            for pos in 0..TILE * TILE {
                let (vp, up) = (&v[pos * tiles * c..][..tiles * c], &u[pos * c * o..][..c * o]);
                product(&mut mm[pos * tiles * o..][..tiles * o], vp, false, up, false, tiles, c, o, false);
            }
            for t in 0..tiles {
                let d = Grid { at: 0, rs: m * o, cs: o };
                sandwich(&p.t.at, mm, p.position(t, tiles, o), block, d, o, false);
                let (n, ty, tx) = p.tile(t);
                let yn = &mut ys[n * g.out_size()..][..g.out_size()];
                for i in 0..m.min(oh - ty * m) {
                    for j in 0..m.min(ow - tx * m) {
                        let (oy, ox) = (ty * m + i, tx * m + j);
                        for oc in 0..o {
                            let v = block[(i * m + j) * o + oc];
                            yn[(oc * oh + oy) * ow + ox] = v + bias.map_or(0.0, |b| b[oc]);
                        }
                    }
                }
            }
        });
    });
}

/// `dx`, the input-gradient of [`forward`], from `dy` `[N, O, OH, OW]`.
pub(crate) fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let p = Plan::new(g);
    let (c, o, [h, wd]) = (g.in_channels, g.out_channels, g.in_hw);
    let u = transform_weight(w, g, &p);
    let product = p.product(g);
    let out_tile = p.tiles[0] * p.tiles[1] * p.t.m * p.t.m;
    let work = (Rows(dx, g.in_size()), Rows(dy, g.out_size()));
    parallel::for_each(work, p.chunk, |_, (Rows(dxs, _), Rows(dys, _))| {
        let b = dys.len() / g.out_size();
        let tiles = b * p.tiles_per_image();
        let sizes =
            [b * out_tile * o, TILE * TILE * tiles * o, TILE * TILE * tiles * c, b * p.padded[0] * p.padded[1] * c];
        with_chunk(sizes, |[dyp, dm, dv, dxp]| {
            pack_output(dys, g, &p, dyp);
            transform_output_grad(dyp, &p, tiles, o, dm);
            for pos in 0..TILE * TILE {
                let (dmp, up) = (&dm[pos * tiles * o..][..tiles * o], &u[pos * c * o..][..c * o]);
                product(&mut dv[pos * tiles * c..][..tiles * c], dmp, false, up, true, tiles, o, c, false);
            }
            dxp.fill(0.0);
            for t in 0..tiles {
                let (s, d) = (p.position(t, tiles, c), p.input_tile(t, c));
                sandwich(&p.t.b, dv, s, dxp, d, c, true);
            }
            let [ph, pw] = p.padded;
            for (n, dxn) in dxs.chunks_exact_mut(g.in_size()).enumerate() {
                for ch in 0..c {
                    for y in 0..h {
                        let py = y + g.padding[0];
                        for x in 0..wd {
                            let px = x + g.padding[1];
                            let inside = py < ph && px < pw;
                            let v = if inside { dxp[((n * ph + py) * pw + px) * c + ch] } else { 0.0 };
                            dxn[(ch * h + y) * wd + x] = v;
                        }
                    }
                }
            }
        });
    });
}

/// Images per partial sum of the weight gradient (a fixed number, so that
/// the sum's order and result do not depend on the thread count).
const WEIGHT_GRAD_IMAGES: usize = 8;

/// `dW` `[O, C, r, r]`, the weight-gradient of [`forward`], from `x` and `dy`.
pub(crate) fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let p = Plan::new(g);
    let (c, o, r) = (g.in_channels, g.out_channels, p.t.r);
    let per_part = p.chunk.max(WEIGHT_GRAD_IMAGES.div_ceil(p.chunk) * p.chunk);
    let out_tile = p.tiles[0] * p.tiles[1] * p.t.m * p.t.m;
    let work = (Rows(x, g.in_size()), Rows(dy, g.out_size()));
    let partials = parallel::map(work, per_part, |_, (Rows(xs, _), Rows(dys, _))| {
        let mut du = vec![0.0f32; TILE * TILE * c * o];
        let parts = xs.chunks(p.chunk * g.in_size()).zip(dys.chunks(p.chunk * g.out_size()));
        for (xs, dys) in parts {
            let b = xs.len() / g.in_size();
            let tiles = b * p.tiles_per_image();
            let sizes =
                [b * p.padded[0] * p.padded[1] * c, b * out_tile * o, TILE * TILE * tiles * c, TILE * TILE * tiles * o];
            with_chunk(sizes, |[xp, dyp, v, dm]| {
                pack_input(xs, g, &p, xp);
                transform_input(xp, &p, tiles, c, v);
                pack_output(dys, g, &p, dyp);
                transform_output_grad(dyp, &p, tiles, o, dm);
                for pos in 0..TILE * TILE {
                    let (vp, dmp) = (&v[pos * tiles * c..][..tiles * c], &dm[pos * tiles * o..][..tiles * o]);
                    matmul_into_serial(&mut du[pos * c * o..][..c * o], vp, true, dmp, false, c, tiles, o, true);
                }
            });
        }
        du
    });
    let mut parts = partials.into_iter();
    let mut du = parts.next().unwrap_or_else(|| vec![0.0; TILE * TILE * c * o]);
    for part in parts {
        du.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    let mut dw = vec![0.0f32; o * c * r * r];
    let mut block = vec![0.0f32; r * r * o];
    for ch in 0..c {
        let s = Grid { at: ch * o, rs: TILE * c * o, cs: c * o };
        sandwich(&p.t.gt, &du, s, &mut block, Grid { at: 0, rs: r * o, cs: o }, o, false);
        for (k, vals) in block.chunks_exact(o).enumerate() {
            for (oc, &v) in vals.iter().enumerate() {
                dw[(oc * c + ch) * r * r + k] = v;
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 1-d tile through `A^T [(G g) ⊙ (B^T d)]` equals the direct correlation.
    #[test]
    fn transforms_compute_a_correlation() {
        for r in [3, 5] {
            let t = Transforms::new(r);
            let d: Vec<f32> = (0..TILE).map(|i| (i as f32 * 0.37).sin()).collect();
            let k: Vec<f32> = (0..r).map(|i| (i as f32 * 1.3 + 0.2).cos()).collect();
            let gg: Vec<f32> = (0..TILE).map(|i| (0..r).map(|j| t.g.v[i * r + j] * k[j]).sum()).collect();
            let bd: Vec<f32> = (0..TILE).map(|i| (0..TILE).map(|j| t.bt.v[i * TILE + j] * d[j]).sum()).collect();
            for i in 0..t.m {
                let y: f32 = (0..TILE).map(|j| t.at.v[i * TILE + j] * gg[j] * bd[j]).sum();
                let direct: f32 = (0..r).map(|j| k[j] * d[i + j]).sum();
                assert!((y - direct).abs() < 1e-5, "r {r}, output {i}: {y} vs {direct}");
            }
        }
    }
}
