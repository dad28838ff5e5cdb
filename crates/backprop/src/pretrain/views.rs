//! The transformations self-supervised tasks apply to unlabelled images:
//! rotations by multiples of 90 degrees, random resized crops (which also
//! shift), and Gaussian noise. Images are rows of `HWC` pixels
//! ([`ImageShape`]), as [`crate::data`] reads them.

use crate::data::ImageShape;
use crate::tensor::Rng;

/// `image` (one row of `shape`) rotated counter-clockwise by `quarter_turns`
/// times 90 degrees (as `numpy.rot90(image, k)`); the image must be square.
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::pretrain::rotate90;
/// let shape = ImageShape { height: 2, width: 2, channels: 1 };
/// // 1 2      2 4
/// // 3 4  ->  1 3
/// assert_eq!(rotate90(&[1.0, 2.0, 3.0, 4.0], shape, 1), vec![2.0, 4.0, 1.0, 3.0]);
/// assert_eq!(rotate90(&[1.0, 2.0, 3.0, 4.0], shape, 2), vec![4.0, 3.0, 2.0, 1.0]);
/// ```
///
/// # Panics
/// When the image is not square or `image` does not hold `shape.len()` values.
pub fn rotate90(image: &[f32], shape: ImageShape, quarter_turns: usize) -> Vec<f32> {
    let ImageShape { height: n, width, channels: c } = shape;
    assert_eq!(n, width, "rotate90: the image must be square, got {n}x{width}");
    assert_eq!(image.len(), shape.len(), "rotate90: {} values for a {n}x{n}x{c} image", image.len());
    let mut out = vec![0.0; image.len()];
    for r in 0..n {
        for col in 0..n {
            // The source pixel of output pixel (r, col) after k counter-clockwise turns.
            let (sr, sc) = match quarter_turns % 4 {
                0 => (r, col),
                1 => (col, n - 1 - r),
                2 => (n - 1 - r, n - 1 - col),
                _ => (n - 1 - col, r),
            };
            let (to, from) = ((r * n + col) * c, (sr * n + sc) * c);
            out[to..to + c].copy_from_slice(&image[from..from + c]);
        }
    }
    out
}

/// How [`random_view`] draws a view of an image (SimCLR's augmentations,
/// Chen et al. 2020, cut to what suits small grey images: no colour jitter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewOptions {
    /// The smallest share of the image's area a crop keeps (SimCLR: 0.08 on
    /// ImageNet; digits lose their identity below about a third).
    pub min_scale: f32,
    /// Crops have an aspect ratio from `1 / max_aspect` to `max_aspect`.
    pub max_aspect: f32,
    /// A shift of the crop of up to this share of the side, in each direction.
    pub shift: f32,
    /// Standard deviation of the Gaussian noise added to every value.
    pub noise: f32,
}

impl Default for ViewOptions {
    /// Crops of 35-100% of the area, aspect 3:4 to 4:3, shifts of up to 1/8
    /// of the side, noise of standard deviation 0.1 (pixels in [0, 1]).
    fn default() -> Self {
        ViewOptions { min_scale: 0.35, max_aspect: 4.0 / 3.0, shift: 0.125, noise: 0.1 }
    }
}

/// A random view of `image`: a crop of random area and aspect ratio
/// (PyTorch's `RandomResizedCrop`), shifted, resized back to the image's size
/// with bilinear interpolation (pixels outside are 0), plus Gaussian noise.
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::pretrain::{random_view, ViewOptions};
/// use backprop::tensor::Rng;
/// let shape = ImageShape { height: 8, width: 8, channels: 1 };
/// let image = vec![0.5; 64];
/// let plain = ViewOptions { min_scale: 1.0, max_aspect: 1.0, shift: 0.0, noise: 0.0 };
/// let same = random_view(&image, shape, &plain, &mut Rng::new(0));
/// assert!(same.iter().all(|v| (v - 0.5).abs() < 1e-6)); // the whole image, unchanged
/// let view = random_view(&image, shape, &ViewOptions::default(), &mut Rng::new(0));
/// assert_eq!(view.len(), 64);
/// ```
pub fn random_view(image: &[f32], shape: ImageShape, options: &ViewOptions, rng: &mut Rng) -> Vec<f32> {
    let ImageShape { height: h, width: w, channels: c } = shape;
    let (hf, wf) = (h as f32, w as f32);
    let scale = rng.uniform(options.min_scale.clamp(0.01, 1.0), 1.0);
    let log_aspect = options.max_aspect.max(1.0).ln();
    let aspect = rng.uniform(-log_aspect, log_aspect).exp();
    let crop_w = (wf * (scale * aspect).sqrt()).min(wf);
    let crop_h = (hf * (scale / aspect).sqrt()).min(hf);
    let left = rng.uniform(0.0, 1.0) * (wf - crop_w) + rng_shift(rng, wf * options.shift);
    let top = rng.uniform(0.0, 1.0) * (hf - crop_h) + rng_shift(rng, hf * options.shift);
    let mut out = vec![0.0; image.len()];
    for r in 0..h {
        // The centre of output pixel r, mapped into the crop, in source pixel coordinates.
        let y = top + (r as f32 + 0.5) * crop_h / hf - 0.5;
        for col in 0..w {
            let x = left + (col as f32 + 0.5) * crop_w / wf - 0.5;
            for ch in 0..c {
                out[(r * w + col) * c + ch] = bilinear(image, shape, y, x, ch);
            }
        }
    }
    if options.noise > 0.0 {
        for v in &mut out {
            *v += options.noise * rng.normal();
        }
    }
    out
}

/// A uniform shift in `[-most, most]`.
fn rng_shift(rng: &mut Rng, most: f32) -> f32 {
    if most > 0.0 {
        rng.uniform(-most, most)
    } else {
        0.0
    }
}

/// The value of channel `ch` at the real position (`y`, `x`), 0 outside the image.
fn bilinear(image: &[f32], shape: ImageShape, y: f32, x: f32, ch: usize) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (dy, dx) = (y - y0, x - x0);
    let at = |r: f32, col: f32| -> f32 {
        if r < 0.0 || col < 0.0 || r >= shape.height as f32 || col >= shape.width as f32 {
            return 0.0;
        }
        image[((r as usize) * shape.width + col as usize) * shape.channels + ch]
    };
    (1.0 - dy) * ((1.0 - dx) * at(y0, x0) + dx * at(y0, x0 + 1.0))
        + dy * ((1.0 - dx) * at(y0 + 1.0, x0) + dx * at(y0 + 1.0, x0 + 1.0))
}
