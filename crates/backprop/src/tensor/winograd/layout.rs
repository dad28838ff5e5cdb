//! Copies between one image's `[C, H, W]` planes and the channels-last
//! `[rows, cols, C]` plane the transforms read and write, with the image at
//! an offset inside a larger zero-bordered plane. Both go through the
//! blocked transpose of `tensor::transpose` (8x8 tiles in AVX registers)
//! plus a shift of whole rows, instead of a strided copy per value.

use crate::tensor::transpose::{transpose_into, Write};

/// Where an `h x w` image sits in a channels-last plane of `rows x cols`
/// pixels: its top-left pixel at `(top, left)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placement {
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) top: usize,
    pub(super) left: usize,
}

impl Placement {
    /// Offset of pixel `(y, 0)` of the image in the plane, in values of `c` channels.
    fn row(&self, y: usize, c: usize) -> usize {
        ((y + self.top) * self.cols + self.left) * c
    }
}

/// `plane` `[rows, cols, c]` = the image `x` `[c, h, w]` placed as `at`
/// says, zero elsewhere.
///
/// # Panics
/// If the image does not fit the plane, or a buffer is too short.
pub(super) fn from_nchw(x: &[f32], c: usize, at: Placement, plane: &mut [f32]) {
    let Placement { h, w, rows, cols, top, left } = at;
    assert!(top + h <= rows && left + w <= cols, "from_nchw: a {h}x{w} image at ({top}, {left}) in {rows}x{cols}");
    let plane = &mut plane[..rows * cols * c];
    // The image channels-last and packed at the start, then each row moved
    // to its place, the last first (a row only ever moves right).
    transpose_into(&x[..c * h * w], plane, h * w, c, Write::Overwrite);
    if (top, left, cols) != (0, 0, w) {
        for y in (0..h).rev() {
            plane.copy_within(y * w * c..(y + 1) * w * c, at.row(y, c));
        }
    }
    // Zero what lies outside the image: above, left and right of each row, below.
    plane[..at.row(0, c)].fill(0.0);
    for y in 0..h {
        let end = at.row(y, c) + w * c;
        let next = if y + 1 < h { at.row(y + 1, c) } else { plane.len() };
        plane[end..next].fill(0.0);
    }
}

/// The image `[c, h, w]` at `at` in `plane` `[rows, cols, c]`, written to
/// `x` (with `bias[ch]` added to channel `ch` when given). `plane` is used
/// as scratch: its values are moved.
///
/// # Panics
/// If the image does not fit the plane, or a buffer is too short.
pub(super) fn to_nchw(plane: &mut [f32], c: usize, at: Placement, x: &mut [f32], bias: Option<&[f32]>) {
    let Placement { h, w, rows, cols, top, left } = at;
    assert!(top + h <= rows && left + w <= cols, "to_nchw: a {h}x{w} image at ({top}, {left}) in {rows}x{cols}");
    // Rows packed at the start of the plane, the first first (a row only
    // ever moves left), then transposed.
    if (top, left, cols) != (0, 0, w) {
        for y in 0..h {
            let from = at.row(y, c);
            plane.copy_within(from..from + w * c, y * w * c);
        }
    }
    let x = &mut x[..c * h * w];
    transpose_into(&plane[..h * w * c], x, c, h * w, Write::Overwrite);
    if let Some(bias) = bias {
        for (xc, &b) in x.chunks_exact_mut(h * w).zip(bias) {
            xc.iter_mut().for_each(|v| *v += b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image padded into a plane and cut back out is itself, the border
    /// is zero, and values sit where the layout says.
    #[test]
    fn planes_round_trip() {
        let (c, h, w) = (11, 5, 9);
        let at = Placement { h, w, rows: 8, cols: 13, top: 2, left: 1 };
        let x: Vec<f32> = (0..c * h * w).map(|i| i as f32 + 1.0).collect();
        let mut plane = vec![f32::NAN; at.rows * at.cols * c];
        from_nchw(&x, c, at, &mut plane);
        for (py, px, ch) in (0..at.rows).flat_map(|y| (0..at.cols).flat_map(move |x| (0..c).map(move |ch| (y, x, ch))))
        {
            let inside = (2..2 + h).contains(&py) && (1..1 + w).contains(&px);
            let want = if inside { x[(ch * h + py - 2) * w + px - 1] } else { 0.0 };
            assert_eq!(plane[(py * at.cols + px) * c + ch], want, "pixel ({py}, {px}) channel {ch}");
        }
        let mut back = vec![0.0; x.len()];
        let bias: Vec<f32> = (0..c).map(|ch| ch as f32 * 1000.0).collect();
        to_nchw(&mut plane, c, at, &mut back, Some(&bias));
        for (i, (&b, &x)) in back.iter().zip(&x).enumerate() {
            assert_eq!(b, x + bias[i / (h * w)], "value {i}");
        }
    }
}
