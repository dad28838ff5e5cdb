//! Winograd's minimal filtering for stride-1 convolutions: F(4x4, 3x3) on
//! 6x6 input tiles and F(4x4, 5x5) on 8x8 tiles.
//!
//! A convolution (cross-correlation) with an `r x r` kernel produces an
//! `m x m` block of outputs from an `a x a` tile of input, `a = m + r - 1`,
//! as (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016)
//!
//! `Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A`
//!
//! with `g` the kernel and `d` the tile: `a^2` multiplications instead of
//! `m^2 r^2` (4x fewer for F(4x4, 3x3), 6.25x for F(4x4, 5x5)). Summed over
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
//! The transform matrices and the kernel that applies them are in
//! [`transform`].
//!
//! Layout: a chunk of whole images at a time (tiles of one image overlap in
//! the input, so its input gradient is added up by one thread), channels
//! last inside the chunk so that every transform runs along contiguous
//! channels.

use super::conv::{product_for, sum_in_order, WEIGHT_GRAD_IMAGES};
use super::im2col::ConvGeometry;
use super::matmul::matmul_into_serial;
use super::parallel::{self, with_scratch, Rows};
use super::transpose::{transpose_into, Write};
use layout::Placement;
use transform::{sandwich, tile_side, Grid, Which};

mod layout;
mod transform;

/// Tiles (rows of each per-position product) aimed at in one chunk of images:
/// its `V` and `M` then stay in a core's cache.
const CHUNK_TILES: usize = 32;

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
    /// Tile side, outputs per tile side, and the kernel side.
    a: usize,
    m: usize,
    r: usize,
    /// Tiles per image `[rows, columns]`.
    tiles: [usize; 2],
    /// Images per chunk.
    chunk: usize,
    /// Side of the padded channels-last input plane `[rows, columns]`.
    padded: [usize; 2],
}

impl Plan {
    fn new(g: &ConvGeometry) -> Self {
        let r = g.kernel[0];
        let a = tile_side(r);
        let m = a + 1 - r;
        let tiles = [g.out_hw[0].div_ceil(m), g.out_hw[1].div_ceil(m)];
        let chunk = (CHUNK_TILES / (tiles[0] * tiles[1])).max(1);
        let padded = [tiles[0] * m + r - 1, tiles[1] * m + r - 1];
        Plan { a, m, r, tiles, chunk, padded }
    }
    fn tiles_per_image(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }
    /// The input tile of tile `t` in a padded channels-last chunk of `len` channels.
    fn input_tile(&self, t: usize, len: usize) -> Grid {
        let (n, ty, tx) = self.tile(t);
        let [ph, pw] = self.padded;
        let rs = pw * len;
        Grid { at: n * ph * rs + ty * self.m * rs + tx * self.m * len, rs, cs: len }
    }
    /// The `m x m` outputs of tile `t` in a chunk's tiled output planes of `len` channels.
    fn output_tile(&self, t: usize, len: usize) -> Grid {
        let (n, ty, tx) = self.tile(t);
        let rs = self.tiles[1] * self.m * len;
        Grid { at: n * self.tiles[0] * self.m * rs + ty * self.m * rs + tx * self.m * len, rs, cs: len }
    }
    /// Positions in a tile, `a^2`: the number of per-position products.
    fn positions(&self) -> usize {
        self.a * self.a
    }
    /// Position `(i, j)` of tile `t` in a `[a^2, tiles, len]` buffer.
    fn position(&self, t: usize, tiles: usize, len: usize) -> Grid {
        Grid { at: t * len, rs: self.a * tiles * len, cs: tiles * len }
    }
    /// The product for a chunk's per-position matrices.
    fn product(&self, g: &ConvGeometry) -> super::conv::Product {
        product_for(g.batch, self.chunk)
    }
    /// Pixels of one image's tiled output plane `[tiles_h m, tiles_w m]`.
    fn out_tile(&self) -> usize {
        self.tiles[0] * self.tiles[1] * self.m * self.m
    }
    /// An input image inside its zero-padded plane `[PH, PW]`.
    fn input_plane(&self, g: &ConvGeometry) -> Placement {
        let ([h, w], [rows, cols], [top, left]) = (g.in_hw, self.padded, g.padding);
        Placement { h, w, rows, cols, top, left }
    }
    /// An output image inside its tiled plane `[tiles_h m, tiles_w m]`.
    fn output_plane(&self, g: &ConvGeometry) -> Placement {
        let [h, w] = g.out_hw;
        Placement { h, w, rows: self.tiles[0] * self.m, cols: self.tiles[1] * self.m, top: 0, left: 0 }
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
    let plane = p.padded[0] * p.padded[1] * g.in_channels;
    for (x, xp) in xs.chunks_exact(g.in_size()).zip(xp.chunks_exact_mut(plane)) {
        layout::from_nchw(x, g.in_channels, p.input_plane(g), xp);
    }
}

/// `V[p]` `[tiles, C]` for every position `p` from a packed chunk.
fn transform_input(xp: &[f32], p: &Plan, tiles: usize, c: usize, v: &mut [f32]) {
    for t in 0..tiles {
        let (s, d) = (p.input_tile(t, c), p.position(t, tiles, c));
        sandwich(p.r, Which::Bt, xp, s, v, d, c, false);
    }
}

/// `U[p]` `[C, O]` for every position from the weight `[O, C, r, r]`.
fn transform_weight(w: &[f32], g: &ConvGeometry, p: &Plan) -> Vec<f32> {
    let (c, o, r) = (g.in_channels, g.out_channels, p.r);
    let mut u = vec![0.0f32; p.positions() * c * o];
    let mut wt = vec![0.0f32; r * r * o];
    for ch in 0..c {
        for (oc, k) in (0..o).flat_map(|oc| (0..r * r).map(move |k| (oc, k))) {
            wt[k * o + oc] = w[(oc * c + ch) * r * r + k];
        }
        let (s, d) = (Grid { at: 0, rs: r * o, cs: o }, Grid { at: ch * o, rs: p.a * c * o, cs: c * o });
        sandwich(p.r, Which::G, &wt, s, &mut u, d, o, false);
    }
    u
}

/// Copies output gradients `[b, O, OH, OW]` into the zero-padded
/// channels-last chunk `[b, tiles_h m, tiles_w m, O]`.
fn pack_output(dys: &[f32], g: &ConvGeometry, p: &Plan, dyp: &mut [f32]) {
    let plane = p.out_tile() * g.out_channels;
    for (dy, dyp) in dys.chunks_exact(g.out_size()).zip(dyp.chunks_exact_mut(plane)) {
        layout::from_nchw(dy, g.out_channels, p.output_plane(g), dyp);
    }
}

/// `dM[p]` `[tiles, O]` = `A dY A^T` per tile from a packed output-gradient chunk.
fn transform_output_grad(dyp: &[f32], p: &Plan, tiles: usize, o: usize, dm: &mut [f32]) {
    for t in 0..tiles {
        sandwich(p.r, Which::A, dyp, p.output_tile(t, o), dm, p.position(t, tiles, o), o, false);
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
    let (c, o) = (g.in_channels, g.out_channels);
    let u = transform_weight(w, g, &p);
    let product = p.product(g);
    let work = (Rows(y, g.out_size()), Rows(x, g.in_size()));
    parallel::for_each(work, p.chunk, |_, (Rows(ys, _), Rows(xs, _))| {
        let b = xs.len() / g.in_size();
        let tiles = b * p.tiles_per_image();
        let sizes = [
            b * p.padded[0] * p.padded[1] * c,
            p.positions() * tiles * c,
            p.positions() * tiles * o,
            b * p.out_tile() * o,
        ];
        with_chunk(sizes, |[xp, v, mm, yp]| {
            pack_input(xs, g, &p, xp);
            transform_input(xp, &p, tiles, c, v);
            for pos in 0..p.positions() {
                let (vp, up) = (&v[pos * tiles * c..][..tiles * c], &u[pos * c * o..][..c * o]);
                product(&mut mm[pos * tiles * o..][..tiles * o], vp, false, up, false, tiles, c, o, false);
            }
            for t in 0..tiles {
                sandwich(p.r, Which::At, mm, p.position(t, tiles, o), yp, p.output_tile(t, o), o, false);
            }
            let plane = p.out_tile() * o;
            for (yp, yn) in yp.chunks_exact_mut(plane).zip(ys.chunks_exact_mut(g.out_size())) {
                layout::to_nchw(yp, o, p.output_plane(g), yn, bias);
            }
        });
    });
}

/// `dx`, the input-gradient of [`forward`], from `dy` `[N, O, OH, OW]`.
pub(crate) fn input_grad(dy: &[f32], w: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let p = Plan::new(g);
    let (c, o) = (g.in_channels, g.out_channels);
    // U[p]^T `[O, C]` per position: `gemm` reads it without packing it
    // again for every chunk, as it would a transposed `U[p]`.
    let u = transform_weight(w, g, &p);
    let mut ut = vec![0.0f32; u.len()];
    for (up, utp) in u.chunks_exact(c * o).zip(ut.chunks_exact_mut(c * o)) {
        transpose_into(up, utp, o, c, Write::Overwrite);
    }
    let product = p.product(g);
    let out_tile = p.out_tile();
    let work = (Rows(dx, g.in_size()), Rows(dy, g.out_size()));
    parallel::for_each(work, p.chunk, |_, (Rows(dxs, _), Rows(dys, _))| {
        let b = dys.len() / g.out_size();
        let tiles = b * p.tiles_per_image();
        let sizes =
            [b * out_tile * o, p.positions() * tiles * o, p.positions() * tiles * c, b * p.padded[0] * p.padded[1] * c];
        with_chunk(sizes, |[dyp, dm, dv, dxp]| {
            pack_output(dys, g, &p, dyp);
            transform_output_grad(dyp, &p, tiles, o, dm);
            for pos in 0..p.positions() {
                let (dmp, utp) = (&dm[pos * tiles * o..][..tiles * o], &ut[pos * c * o..][..c * o]);
                product(&mut dv[pos * tiles * c..][..tiles * c], dmp, false, utp, false, tiles, o, c, false);
            }
            dxp.fill(0.0);
            for t in 0..tiles {
                let (s, d) = (p.position(t, tiles, c), p.input_tile(t, c));
                sandwich(p.r, Which::B, dv, s, dxp, d, c, true);
            }
            let plane = p.padded[0] * p.padded[1] * c;
            for (dxp, dxn) in dxp.chunks_exact_mut(plane).zip(dxs.chunks_exact_mut(g.in_size())) {
                layout::to_nchw(dxp, c, p.input_plane(g), dxn, None);
            }
        });
    });
}

/// `dW` `[O, C, r, r]`, the weight-gradient of [`forward`], from `x` and `dy`.
pub(crate) fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let p = Plan::new(g);
    let (c, o, r) = (g.in_channels, g.out_channels, p.r);
    let per_part = p.chunk.max(WEIGHT_GRAD_IMAGES.div_ceil(p.chunk) * p.chunk);
    let out_tile = p.out_tile();
    let work = (Rows(x, g.in_size()), Rows(dy, g.out_size()));
    let partials = parallel::map(work, per_part, |_, (Rows(xs, _), Rows(dys, _))| {
        let mut du = vec![0.0f32; p.positions() * c * o];
        let parts = xs.chunks(p.chunk * g.in_size()).zip(dys.chunks(p.chunk * g.out_size()));
        for (xs, dys) in parts {
            let b = xs.len() / g.in_size();
            let tiles = b * p.tiles_per_image();
            let sizes = [
                b * p.padded[0] * p.padded[1] * c,
                b * out_tile * o,
                p.positions() * tiles * c,
                p.positions() * tiles * o,
            ];
            with_chunk(sizes, |[xp, dyp, v, dm]| {
                pack_input(xs, g, &p, xp);
                transform_input(xp, &p, tiles, c, v);
                pack_output(dys, g, &p, dyp);
                transform_output_grad(dyp, &p, tiles, o, dm);
                for pos in 0..p.positions() {
                    let (vp, dmp) = (&v[pos * tiles * c..][..tiles * c], &dm[pos * tiles * o..][..tiles * o]);
                    matmul_into_serial(&mut du[pos * c * o..][..c * o], vp, true, dmp, false, c, tiles, o, true);
                }
            });
        }
        du
    });
    let du = sum_in_order(partials, p.positions() * c * o);
    let mut dw = vec![0.0f32; o * c * r * r];
    let mut block = vec![0.0f32; r * r * o];
    for ch in 0..c {
        let s = Grid { at: ch * o, rs: p.a * c * o, cs: c * o };
        sandwich(p.r, Which::Gt, &du, s, &mut block, Grid { at: 0, rs: r * o, cs: o }, o, false);
        for (k, vals) in block.chunks_exact(o).enumerate() {
            for (oc, &v) in vals.iter().enumerate() {
                dw[(oc * c + ch) * r * r + k] = v;
            }
        }
    }
    dw
}
