//! Pictures of a GAN's samples: a grid of images, a strip, an animated GIF of grids.

use backprop::{Error, Result, Tensor};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};
use std::path::Path;

/// Pixels per image pixel in the pictures.
const SCALE: u32 = 2;
/// Gap between images, in picture pixels.
const GAP: u32 = 2;

/// Images `[N, C*H*W]` with values in [-1, 1] (channels first) as a grid of
/// `cols` columns on a dark grey background.
pub(crate) fn grid(images: &Tensor, [c, h, w]: [usize; 3], cols: usize) -> RgbImage {
    let n = images.dim(0);
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let cell = |size: usize| size as u32 * SCALE + GAP;
    let mut out = RgbImage::from_pixel(cols as u32 * cell(w) + GAP, rows as u32 * cell(h) + GAP, Rgb([40, 40, 40]));
    let per = c * h * w;
    for (i, pixels) in images.data().chunks(per).enumerate() {
        let (left, top) = ((i % cols) as u32 * cell(w) + GAP, (i / cols) as u32 * cell(h) + GAP);
        for y in 0..h * SCALE as usize {
            for x in 0..w * SCALE as usize {
                let at = |ch: usize| pixels[ch * h * w + (y / SCALE as usize) * w + x / SCALE as usize];
                let level = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                let rgb = if c >= 3 { [level(at(0)), level(at(1)), level(at(2))] } else { [level(at(0)); 3] };
                out.put_pixel(left + x as u32, top + y as u32, Rgb(rgb));
            }
        }
    }
    out
}

/// Writes a PNG atomically, naming the file on failure.
pub(crate) fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    super::explain::save_png(img, path)
}

/// Writes `frames` (of equal size) as a looping animated GIF, one frame every
/// `ms` milliseconds, atomically.
pub(crate) fn save_gif(frames: &[RgbImage], ms: u32, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 30);
        let fail = |e: image::ImageError| Error::format(path, format!("could not encode the GIF: {e}"));
        encoder.set_repeat(Repeat::Infinite).map_err(fail)?;
        for frame in frames {
            let rgba: Vec<u8> = frame.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect();
            let image = RgbaImage::from_raw(frame.width(), frame.height(), rgba).expect("same size");
            let delay = Delay::from_numer_denom_ms(ms, 1);
            encoder.encode_frame(Frame::from_parts(image, 0, 0, delay)).map_err(fail)?;
        }
    }
    backprop::checkpoint::write_atomically(path, &bytes)
}
