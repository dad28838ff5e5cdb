//! Data augmentation for images: random crops of a padded image, random
//! horizontal flips and random views (affine maps and elastic distortions,
//! [`random_view`]), drawn anew each time a batch is taken.

use super::views::{random_view, ViewOptions};
use super::{Dataset, ImageShape, Supervised, Targets};
use crate::tensor::Rng;
use crate::{Error, Result, Tensor};
use std::sync::Mutex;

/// What to do to each training image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Pad every side by this many zero pixels, then crop a random window of
    /// the original size: a shift of up to `pad` pixels in each direction.
    pub pad: usize,
    /// Mirror left-right with probability 1/2 (photos: yes; digits: no).
    pub flip: bool,
    /// Then a random view of the (shifted, flipped) image: a random affine
    /// map, elastic distortion and noise as [`ViewOptions`] says (None: none).
    pub warp: Option<ViewOptions>,
}

impl Augment {
    /// No change: the images as they are.
    pub const NONE: Augment = Augment { pad: 0, flip: false, warp: None };

    /// The usual augmentation of photos (as for CIFAR in He et al. 2016, where
    /// 32x32 images are padded by 4): a shift of up to an eighth of the
    /// smaller side, and flips.
    pub fn photos(shape: ImageShape) -> Augment {
        Augment { pad: (shape.height.min(shape.width) / 8).max(1), flip: true, warp: None }
    }

    /// The usual augmentation of handwritten digits (Simard, Steinkraus &
    /// Platt, "Best Practices for Convolutional Neural Networks Applied to
    /// Visual Document Analysis", ICDAR 2003: affine maps and elastic
    /// distortions of alpha 34, sigma 4 pixels on MNIST): no flips (a mirrored
    /// digit is another symbol), crops of 80-100% of the side, shifts of up to
    /// a tenth of the side, rotations of up to 15 degrees, shears of up to 10
    /// degrees, no noise. Milder than the views SimCLR learns from
    /// ([`ViewOptions::default`]): a training label must still be true of its view.
    pub fn digits() -> Augment {
        let warp = ViewOptions {
            min_scale: 0.64,
            max_aspect: 1.1,
            shift: 0.1,
            rotation: 15.0,
            shear: 10.0,
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
            stroke: 0.0,
            noise: 0.0,
        };
        Augment { pad: 0, flip: false, warp: Some(warp) }
    }
}

/// A [`Dataset`] of images whose batches are augmented: each example of a
/// batch is shifted by a random crop of its zero-padded self, flipped at
/// random and warped into a random view, as [`Augment`] says; the random choices come from one seeded
/// stream, so a run is reproducible. Rows are `HWC` pixels ([`ImageShape`]).
///
/// ```
/// use backprop::data::{Augment, Augmented, Dataset, ImageShape, Supervised};
/// use backprop::Tensor;
/// let shape = ImageShape { height: 1, width: 3, channels: 1 };
/// let data = Dataset::new(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]), vec![0], 1)?;
/// let flips = Augmented::new(&data, shape, Augment { pad: 0, flip: true, warp: None }, 7)?;
/// let seen: Vec<Vec<f32>> = (0..20).map(|_| flips.batch(&[0]).0.data().to_vec()).collect();
/// assert!(seen.iter().all(|x| x == &[1.0, 2.0, 3.0] || x == &[3.0, 2.0, 1.0]));
/// assert!(seen.iter().any(|x| x == &[3.0, 2.0, 1.0]));
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug)]
pub struct Augmented<'a> {
    data: &'a Dataset,
    shape: ImageShape,
    augment: Augment,
    rng: Mutex<Rng>,
}

impl<'a> Augmented<'a> {
    /// Augments the images of `data` (rows of `shape`), choices seeded by `seed`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the rows do not hold `shape.len()` values;
    /// [`Error::InvalidArgument`] when the padding is not smaller than the
    /// image, or a view option is out of its range ([`ViewOptions::validate`]).
    pub fn new(data: &'a Dataset, shape: ImageShape, augment: Augment, seed: u64) -> Result<Augmented<'a>> {
        if data.input_dim() != shape.len() {
            let message = format!("{shape} images need {} values each, got {}", shape.len(), data.input_dim());
            return Err(Error::Shape { op: "Augmented".into(), message });
        }
        if augment.pad >= shape.height.min(shape.width) && augment.pad > 0 {
            return Err(Error::invalid("pad", format!("{} is not smaller than the {shape} images", augment.pad)));
        }
        if let Some(warp) = &augment.warp {
            warp.validate()?;
        }
        Ok(Augmented { data, shape, augment, rng: Mutex::new(Rng::new(seed)) })
    }

    /// Writes image `src` shifted by `(dy, dx)` (crop offsets in the padded
    /// image, from 0 to 2 pad) and mirrored if `flip` into `out`.
    fn transform(&self, src: &[f32], out: &mut [f32], dy: usize, dx: usize, flip: bool) {
        let ImageShape { height, width, channels } = self.shape;
        let pad = self.augment.pad;
        for y in 0..height {
            let sy = (y + dy).checked_sub(pad).filter(|&s| s < height);
            for x in 0..width {
                let col = if flip { width - 1 - x } else { x };
                let sx = (col + dx).checked_sub(pad).filter(|&s| s < width);
                let o = (y * width + x) * channels;
                match (sy, sx) {
                    (Some(sy), Some(sx)) => {
                        let i = (sy * width + sx) * channels;
                        out[o..o + channels].copy_from_slice(&src[i..i + channels]);
                    }
                    _ => out[o..o + channels].fill(0.0),
                }
            }
        }
    }
}

impl Supervised for Augmented<'_> {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn batch(&self, ids: &[usize]) -> (Tensor, Targets) {
        let (x, labels) = self.data.batch(ids);
        if self.augment == Augment::NONE {
            return (x, Targets::Classes(labels));
        }
        let d = self.shape.len();
        let mut out = vec![0.0f32; x.numel()];
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        for (src, dst) in x.data().chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let shift = 2 * self.augment.pad + 1;
            let (dy, dx) = (rng.below(shift), rng.below(shift));
            let flip = self.augment.flip && rng.below(2) == 1;
            self.transform(src, dst, dy, dx, flip);
            if let Some(warp) = &self.augment.warp {
                let view = random_view(dst, self.shape, warp, &mut rng);
                dst.copy_from_slice(&view);
            }
        }
        (Tensor::from_vec(out, x.shape()), Targets::Classes(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_shift_within_the_padding_and_keep_channels_together() {
        // A 3x3 RGB image whose pixel (y, x) holds (y, x, 7) for its channels.
        let shape = ImageShape { height: 3, width: 3, channels: 3 };
        let src: Vec<f32> = (0..9).flat_map(|p| [(p / 3) as f32, (p % 3) as f32, 7.0]).collect();
        let data = Dataset::new(Tensor::from_vec(src.clone(), &[1, 27]), vec![0], 1).unwrap();
        let aug = Augmented::new(&data, shape, Augment { pad: 1, flip: false, warp: None }, 0).unwrap();
        let mut out = vec![0.0; 27];
        aug.transform(&src, &mut out, 1, 1, false);
        assert_eq!(out, src, "offset (pad, pad) is the identity");
        aug.transform(&src, &mut out, 2, 0, false);
        // Shifted up by one row and right by one column: pixel (0, 1) shows (1, 0).
        assert_eq!(&out[3..6], &[1.0, 0.0, 7.0]);
        assert_eq!(&out[0..3], &[0.0, 0.0, 0.0], "column 0 comes from the padding");
        assert_eq!(&out[18..27], &[0.0; 9], "the last row comes from the padding");
        aug.transform(&src, &mut out, 1, 1, true);
        assert_eq!(&out[0..3], &[0.0, 2.0, 7.0], "flipped: pixel (0, 0) shows (0, 2)");
        let e = Augmented::new(&data, shape, Augment { pad: 3, flip: false, warp: None }, 0).unwrap_err().to_string();
        assert!(e.contains("3 is not smaller than the 3x3x3 images"), "{e}");
    }

    #[test]
    fn batches_are_reproducible_from_the_seed_and_vary_between_calls() {
        let shape = ImageShape { height: 4, width: 4, channels: 1 };
        let data =
            Dataset::new(Tensor::from_vec((0..32).map(|v| v as f32).collect(), &[2, 16]), vec![0, 1], 2).unwrap();
        let a = Augmented::new(&data, shape, Augment::photos(shape), 5).unwrap();
        let b = Augmented::new(&data, shape, Augment::photos(shape), 5).unwrap();
        let first: Vec<Tensor> = (0..6).map(|_| a.batch(&[0, 1]).0).collect();
        let again: Vec<Tensor> = (0..6).map(|_| b.batch(&[0, 1]).0).collect();
        assert_eq!(first, again);
        assert!(first.windows(2).any(|w| w[0] != w[1]));
        let none = Augmented::new(&data, shape, Augment::NONE, 5).unwrap();
        assert_eq!(none.batch(&[1, 0]).0, data.batch(&[1, 0]).0);
    }

    #[test]
    fn digit_views_change_each_batch_keep_the_ink_and_repeat_with_the_seed() {
        // A 28x28 "digit": a bar of ink in the middle, two examples.
        let shape = ImageShape { height: 28, width: 28, channels: 1 };
        let image: Vec<f32> = (0..784)
            .map(|p| if (10..18).contains(&(p % 28)) && (6..22).contains(&(p / 28)) { 1.0 } else { 0.0 })
            .collect();
        let x = Tensor::from_vec([image.clone(), image.clone()].concat(), &[2, 784]);
        let data = Dataset::new(x, vec![3, 5], 10).unwrap();
        let aug = Augmented::new(&data, shape, Augment::digits(), 9).unwrap();
        let (first, labels) = aug.batch(&[0, 1]);
        let (second, _) = aug.batch(&[0, 1]);
        assert_eq!(labels, Targets::Classes(vec![3, 5]), "labels unchanged");
        assert_ne!(first.data(), second.data(), "a new view each time");
        assert_ne!(&first.data()[..784], &first.data()[784..], "each example its own view");
        for view in first.data().chunks(784) {
            let ink: f32 = view.iter().sum();
            assert!(view.iter().all(|v| (-1e-3..=1.0 + 1e-3).contains(v)), "bilinear samples stay in range");
            assert!(
                (64.0..=256.0).contains(&ink),
                "the digit stays in the frame, ink {ink} (128 before; crops zoom in)"
            );
        }
        let again = Augmented::new(&data, shape, Augment::digits(), 9).unwrap();
        assert_eq!(again.batch(&[0, 1]).0.data(), first.data(), "same seed, same views");
        let bad = Augment { warp: Some(ViewOptions { rotation: 200.0, ..ViewOptions::default() }), ..Augment::NONE };
        let e = Augmented::new(&data, shape, bad, 0).unwrap_err().to_string();
        assert!(e.contains("rotation"), "{e}");
    }
}
