//! Transformations of images for self-supervised tasks and for data
//! augmentation: rotations by multiples of 90 degrees, and random views: one affine map
//! (a random resized crop, shift, rotation and shear) with an optional
//! elastic distortion, sampled bilinearly, plus Gaussian noise. Images are
//! rows of `HWC` pixels ([`ImageShape`]), as [`crate::data`] reads them.

use crate::data::ImageShape;
use crate::tensor::Rng;
use crate::{Error, Result};

/// `image` (one row of `shape`) rotated counter-clockwise by `quarter_turns`
/// times 90 degrees (as `numpy.rot90(image, k)`); the image must be square.
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::data::views::rotate90;
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
/// Chen et al. 2020, cut to what suits small grey images: no colour jitter;
/// with the random affine maps and elastic distortions of digit
/// augmentation, Simard et al. 2003, and of IIC's MNIST views, Ji et al. 2019).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewOptions {
    /// The smallest share of the image's area a crop keeps, in (0, 1]
    /// (SimCLR: 0.08 on ImageNet; digits lose their identity below about a third).
    pub min_scale: f32,
    /// Crops have an aspect ratio from `1 / max_aspect` to `max_aspect` (>= 1).
    pub max_aspect: f32,
    /// A shift of the crop of up to this share of the side, in each direction (>= 0).
    pub shift: f32,
    /// A rotation by an angle drawn uniformly from `[-rotation, rotation]`
    /// degrees, in [0, 180] (0: none).
    pub rotation: f32,
    /// A horizontal shear by an angle drawn uniformly from `[-shear, shear]`
    /// degrees, in [0, 60] (0: none; as torchvision's `RandomAffine(shear=...)`).
    pub shear: f32,
    /// Strength of the elastic distortion, in pixels (>= 0; 0: none): the
    /// scale of the smoothed random displacement field (Simard et al. 2003).
    pub elastic_alpha: f32,
    /// Standard deviation, in pixels (> 0), of the Gaussian that smooths the
    /// elastic displacement field: larger is smoother.
    pub elastic_sigma: f32,
    /// Stroke-width change, in pixels on each side of a stroke, in [0, 3]
    /// (0: none): each view is thickened (grey-scale dilation over 3x3
    /// neighbourhoods, the largest value of each) or thinned (erosion, the
    /// smallest) by an amount drawn uniformly from `[-stroke, stroke]`, whole
    /// pixels as repeated dilations or erosions and the fraction left as a
    /// blend towards one more.
    pub stroke: f32,
    /// Standard deviation of the Gaussian noise added to every value (>= 0).
    pub noise: f32,
}

impl Default for ViewOptions {
    /// Crops of 35-100% of the area, aspect 3:4 to 4:3, shifts of up to 1/8
    /// of the side, rotations of up to 20 degrees, shears of up to 15
    /// degrees, elastic distortion of alpha 34 and sigma 4 pixels (Simard et
    /// al.'s values for MNIST), noise of standard deviation 0.1 (pixels in [0, 1]).
    fn default() -> Self {
        ViewOptions {
            min_scale: 0.35,
            max_aspect: 4.0 / 3.0,
            shift: 0.125,
            rotation: 20.0,
            shear: 15.0,
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
            stroke: 0.0,
            noise: 0.1,
        }
    }
}

impl ViewOptions {
    /// The options with every value in its range.
    ///
    /// ```
    /// use backprop::data::views::ViewOptions;
    /// assert!(ViewOptions::default().validate().is_ok());
    /// let e = ViewOptions { rotation: 200.0, ..ViewOptions::default() }.validate().unwrap_err();
    /// assert_eq!(e.to_string(), "invalid value for rotation: must be from 0 to 180 degrees, got 200");
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field (`rotation`, `shear`,
    /// `elastic_alpha`, ...) that is out of its range or not finite.
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, value: f32, ok: bool, range: &str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("must be {range}, got {value}")))
            }
        };
        check("min_scale", self.min_scale, self.min_scale > 0.0 && self.min_scale <= 1.0, "above 0 and at most 1")?;
        check("max_aspect", self.max_aspect, self.max_aspect >= 1.0, "at least 1")?;
        check("shift", self.shift, self.shift >= 0.0, "at least 0")?;
        check("rotation", self.rotation, (0.0..=180.0).contains(&self.rotation), "from 0 to 180 degrees")?;
        check("shear", self.shear, (0.0..=60.0).contains(&self.shear), "from 0 to 60 degrees")?;
        check("elastic_alpha", self.elastic_alpha, self.elastic_alpha >= 0.0, "at least 0 pixels")?;
        check("elastic_sigma", self.elastic_sigma, self.elastic_sigma > 0.0, "above 0 pixels")?;
        check("stroke", self.stroke, (0.0..=MAX_STROKE).contains(&self.stroke), "from 0 to 3 pixels")?;
        check("noise", self.noise, (0.0..=1.0).contains(&self.noise), "from 0 to 1 (pixels are in [0, 1])")
    }
}

/// An affine map from the positions of an output image to those of its
/// source image (the inverse map, as samplers use), about the images' centres:
/// output pixel `(r, c)`, at `(u, v) = (r + 0.5 - H / 2, c + 0.5 - W / 2)`
/// from the centre, reads the source at `matrix · (u, v) + offset` from the
/// source's centre, in pixels (rows, columns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// The 2x2 matrix, rows first, on (row, column) offsets.
    pub matrix: [[f32; 2]; 2],
    /// Where the output's centre falls in the source, from the source's centre: (rows, columns).
    pub offset: [f32; 2],
}

impl Affine {
    /// The map that keeps every pixel in place.
    pub const IDENTITY: Affine = Affine { matrix: [[1.0, 0.0], [0.0, 1.0]], offset: [0.0, 0.0] };

    /// The map that turns the image's content counter-clockwise by `degrees`
    /// about its centre (90: as [`rotate90`] with one quarter turn).
    pub fn rotation(degrees: f32) -> Affine {
        let (s, c) = degrees.to_radians().sin_cos();
        Affine { matrix: [[c, s], [-s, c]], offset: [0.0, 0.0] }
    }
}

/// `image` (one row of `shape`) resampled through `map` with bilinear
/// interpolation, pixels outside the source being 0 (as
/// `torch.nn.functional.grid_sample(..., padding_mode="zeros")`).
/// `displacement`, when given, holds `H * W` pairs (rows, columns) of
/// pixels added to each output pixel's source position (an elastic
/// distortion).
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::data::views::{warp_affine, Affine};
/// let shape = ImageShape { height: 2, width: 2, channels: 1 };
/// let image = [1.0, 2.0, 3.0, 4.0];
/// assert_eq!(warp_affine(&image, shape, &Affine::IDENTITY, None), image);
/// // Read half a pixel to the right: the columns are averaged, the right half sees 0 beyond.
/// let half = Affine { offset: [0.0, 0.5], ..Affine::IDENTITY };
/// assert_eq!(warp_affine(&image, shape, &half, None), [1.5, 1.0, 3.5, 2.0]);
/// ```
///
/// # Panics
/// When `image` does not hold `shape.len()` values or `displacement` does not hold `2 * H * W`.
pub fn warp_affine(image: &[f32], shape: ImageShape, map: &Affine, displacement: Option<&[f32]>) -> Vec<f32> {
    let ImageShape { height: h, width: w, channels: c } = shape;
    assert_eq!(image.len(), shape.len(), "warp_affine: {} values for a {h}x{w}x{c} image", image.len());
    if let Some(d) = displacement {
        assert_eq!(d.len(), 2 * h * w, "warp_affine: {} displacements for {h}x{w} pixels", d.len());
    }
    let (ch, cw) = (h as f32 / 2.0, w as f32 / 2.0);
    let [[a, b], [cc, d]] = map.matrix;
    let mut out = vec![0.0; image.len()];
    for r in 0..h {
        let u = r as f32 + 0.5 - ch;
        for col in 0..w {
            let v = col as f32 + 0.5 - cw;
            // The source position, from the corner, of the centre of output pixel (r, col).
            let (mut y, mut x) = (ch + map.offset[0] + a * u + b * v - 0.5, cw + map.offset[1] + cc * u + d * v - 0.5);
            if let Some(disp) = displacement {
                y += disp[2 * (r * w + col)];
                x += disp[2 * (r * w + col) + 1];
            }
            for k in 0..c {
                out[(r * w + col) * c + k] = bilinear(image, shape, y, x, k);
            }
        }
    }
    out
}

/// A random view of `image`: a crop of random area and aspect ratio
/// (PyTorch's `RandomResizedCrop`), shifted, rotated and sheared (as
/// torchvision's `RandomAffine`), all as one affine map resized back to the
/// image's size with bilinear interpolation ([`warp_affine`], pixels outside
/// are 0), distorted elastically when `elastic_alpha > 0`, plus Gaussian
/// noise. Options with `rotation`, `shear` and `elastic_alpha` at 0 give the
/// crop-shift-noise views alone. The options should be
/// [`ViewOptions::validate`]d; out-of-range values are clamped.
///
/// ```
/// use backprop::data::ImageShape;
/// use backprop::data::views::{random_view, ViewOptions};
/// use backprop::tensor::Rng;
/// let shape = ImageShape { height: 8, width: 8, channels: 1 };
/// let image: Vec<f32> = (0..64).map(|i| i as f32).collect();
/// let plain = ViewOptions {
///     min_scale: 1.0, max_aspect: 1.0, shift: 0.0, rotation: 0.0, shear: 0.0, elastic_alpha: 0.0, noise: 0.0,
///     ..ViewOptions::default()
/// };
/// assert_eq!(random_view(&image, shape, &plain, &mut Rng::new(0)), image); // the whole image, unchanged
/// let view = random_view(&image, shape, &ViewOptions::default(), &mut Rng::new(0));
/// assert_eq!(view.len(), 64);
/// ```
pub fn random_view(image: &[f32], shape: ImageShape, options: &ViewOptions, rng: &mut Rng) -> Vec<f32> {
    let (hf, wf) = (shape.height as f32, shape.width as f32);
    let scale = rng.uniform(options.min_scale.clamp(0.01, 1.0), 1.0);
    let log_aspect = options.max_aspect.max(1.0).ln();
    let aspect = rng.uniform(-log_aspect, log_aspect).exp();
    let crop_w = (wf * (scale * aspect).sqrt()).min(wf);
    let crop_h = (hf * (scale / aspect).sqrt()).min(hf);
    let left = rng.uniform(0.0, 1.0) * (wf - crop_w) + rng_shift(rng, wf * options.shift);
    let top = rng.uniform(0.0, 1.0) * (hf - crop_h) + rng_shift(rng, hf * options.shift);
    let angle = rng_shift(rng, options.rotation.clamp(0.0, 180.0));
    let shear = rng_shift(rng, options.shear.clamp(0.0, 60.0)).to_radians().tan();
    // Rotation · shear · the crop's scale: the source offset of an output offset (u, v).
    let [[ra, rb], [rc, rd]] = Affine::rotation(angle).matrix;
    let (sy, sx) = (crop_h / hf, crop_w / wf);
    let map = Affine {
        matrix: [[(ra + rb * shear) * sy, rb * sx], [(rc + rd * shear) * sy, rd * sx]],
        offset: [top + crop_h / 2.0 - hf / 2.0, left + crop_w / 2.0 - wf / 2.0],
    };
    let field = (options.elastic_alpha > 0.0)
        .then(|| elastic_displacement(shape, options.elastic_alpha, options.elastic_sigma.max(1e-3), rng));
    let mut out = warp_affine(image, shape, &map, field.as_deref());
    if options.stroke > 0.0 {
        let most = options.stroke.min(MAX_STROKE);
        out = change_stroke(out, shape, rng.uniform(-most, most));
    }
    if options.noise > 0.0 {
        for v in &mut out {
            *v += options.noise * rng.normal();
        }
    }
    out
}

/// The most [`ViewOptions::stroke`] may be, in pixels.
const MAX_STROKE: f32 = 3.0;

/// `image` with its strokes thickened by `pixels` on each side (thinned
/// when negative): `floor(|pixels|)` dilations (erosions) over 3x3
/// neighbourhoods, then a blend of the result towards one more by the
/// fraction left.
fn change_stroke(mut image: Vec<f32>, shape: ImageShape, pixels: f32) -> Vec<f32> {
    let thicker = pixels > 0.0;
    let amount = pixels.abs();
    for _ in 0..amount.floor() as usize {
        image = morph3x3(&image, shape, thicker);
    }
    let fraction = amount.fract();
    if fraction > 0.0 {
        let next = morph3x3(&image, shape, thicker);
        for (v, m) in image.iter_mut().zip(&next) {
            *v += fraction * (m - *v);
        }
    }
    image
}

/// Grey-scale dilation (`thicker`: the largest value of each pixel's 3x3
/// neighbourhood, per channel) or erosion (the smallest), the neighbourhood
/// cut at the border.
fn morph3x3(image: &[f32], shape: ImageShape, thicker: bool) -> Vec<f32> {
    let ImageShape { height: h, width: w, channels: c } = shape;
    let mut out = vec![0.0; image.len()];
    for r in 0..h {
        for col in 0..w {
            for k in 0..c {
                let mut best = image[(r * w + col) * c + k];
                for rr in r.saturating_sub(1)..(r + 2).min(h) {
                    for cc in col.saturating_sub(1)..(col + 2).min(w) {
                        let v = image[(rr * w + cc) * c + k];
                        best = if thicker { best.max(v) } else { best.min(v) };
                    }
                }
                out[(r * w + col) * c + k] = best;
            }
        }
    }
    out
}

/// A uniform draw in `[-most, most]` (0, drawing nothing, when `most` is 0).
fn rng_shift(rng: &mut Rng, most: f32) -> f32 {
    if most > 0.0 {
        rng.uniform(-most, most)
    } else {
        0.0
    }
}

/// An elastic displacement field for `shape` (Simard, Steinkraus & Platt,
/// "Best Practices for Convolutional Neural Networks Applied to Visual
/// Document Analysis", ICDAR 2003): per pixel a (row, column) pair of
/// uniform values in [-1, 1], each component smoothed by a Gaussian of
/// standard deviation `sigma` pixels (zeros beyond the border), times `alpha`.
fn elastic_displacement(shape: ImageShape, alpha: f32, sigma: f32, rng: &mut Rng) -> Vec<f32> {
    let (h, w) = (shape.height, shape.width);
    let radius = ((3.0 * sigma).ceil() as usize).min(h.max(w));
    let kernel: Vec<f32> =
        (0..=2 * radius).map(|i| (-0.5 * ((i as f32 - radius as f32) / sigma).powi(2)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    // One pass of the separable Gaussian along the rows or the columns, both
    // components at once, times `gain`; taps that fall outside the image are
    // left out (the field is 0 there), their range found once per position.
    let smooth = |src: &[f32], along_rows: bool, gain: f32| -> Vec<f32> {
        let mut out = vec![0.0; src.len()];
        let (len, stride) = if along_rows { (w, 1) } else { (h, w) };
        for r in 0..h {
            for col in 0..w {
                let pos = if along_rows { col } else { r };
                let first = if along_rows { r * w } else { col };
                let taps = radius.saturating_sub(pos)..kernel.len().min(len + radius - pos);
                let (mut dy, mut dx) = (0.0, 0.0);
                for i in taps {
                    let idx = 2 * (first + (pos + i - radius) * stride);
                    dy += kernel[i] * src[idx];
                    dx += kernel[i] * src[idx + 1];
                }
                out[2 * (r * w + col)] = gain * dy;
                out[2 * (r * w + col) + 1] = gain * dx;
            }
        }
        out
    };
    let noise: Vec<f32> = (0..2 * h * w).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let once = smooth(&noise, true, 1.0);
    smooth(&once, false, alpha)
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
