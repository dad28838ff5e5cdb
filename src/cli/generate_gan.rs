//! `backprop generate` with a GAN: a grid of samples, or an interpolation strip.

use super::gan_images::{grid, save_png};
use backprop::gan::Gan;
use backprop::tensor::Rng;
use backprop::{Error, Result, Tensor};
use std::path::Path;

/// The most images in one grid (a 100 x 100 grid of 28 x 28 digits is a
/// 2,800-pixel square).
const MAX_GRID: usize = 10_000;

/// The most images in one interpolation strip.
const MAX_STRIP: usize = 1000;

/// What `generate` asks of a GAN.
pub(crate) struct GanRequest<'a> {
    pub count: Option<usize>,
    pub class: Option<usize>,
    pub seed: u64,
    pub interpolate: Option<usize>,
    pub out: Option<&'a Path>,
}

pub(crate) fn run(gan: &Gan, file: &Path, r: GanRequest) -> Result<()> {
    let out = r.out.ok_or_else(|| Error::invalid("--out", "a GAN draws images: give --out FILE.png"))?;
    let named = out.file_stem().is_some_and(|stem| !stem.is_empty());
    if !named || !out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        return Err(Error::invalid("--out", format!("{} is not a file name ending in .png", out.display())));
    }
    if r.interpolate.is_some() && r.count.is_some() {
        return Err(Error::invalid("--count", "the strip of --interpolate has its own length; give one of the two"));
    }
    if let Some(steps) = r.interpolate.filter(|s| !(2..=MAX_STRIP).contains(s)) {
        return Err(Error::invalid("--interpolate", format!("{steps} images: a strip takes 2 to {MAX_STRIP}")));
    }
    let count = r.count.unwrap_or(64);
    if count > MAX_GRID {
        return Err(Error::invalid("--count", format!("{count} images: a grid takes at most {MAX_GRID}")));
    }
    let c = gan.config();
    let labels = match (c.conditional, r.class) {
        (true, Some(k)) if k >= c.classes => {
            return Err(Error::invalid("--class", format!("{k} is not below the GAN's {} classes", c.classes)))
        }
        (false, Some(_)) => {
            return Err(Error::invalid("--class", format!("{} is not conditional: it takes no class", file.display())))
        }
        (true, None) if r.interpolate.is_some() => {
            let message = "a conditional GAN's strip needs --class: without it the class would change from \
                           image to image along the line";
            return Err(Error::invalid("--interpolate", message));
        }
        (true, class) => Some(class),
        (false, None) => None,
    };
    let mut rng = Rng::new(r.seed);
    let (z, cols) = match r.interpolate {
        // A straight line between two noise vectors, `steps` points.
        Some(steps) => {
            let ends = Tensor::randn(&[2, c.latent], 0.0, 1.0, &mut rng);
            let (a, b) = ends.data().split_at(c.latent);
            let mut z = Vec::with_capacity(steps * c.latent);
            for i in 0..steps {
                let t = if steps > 1 { i as f32 / (steps - 1) as f32 } else { 0.0 };
                z.extend(a.iter().zip(b).map(|(x, y)| x + t * (y - x)));
            }
            (Tensor::from_vec(z, &[steps, c.latent]), steps)
        }
        None => (Tensor::randn(&[count, c.latent], 0.0, 1.0, &mut rng), (count as f64).sqrt().ceil() as usize),
    };
    let n = z.dim(0);
    // A conditional GAN without --class draws the classes in turn.
    let classes: Option<Vec<usize>> = labels.map(|k| (0..n).map(|i| k.unwrap_or(i % c.classes)).collect());
    let cols = if r.interpolate.is_none() && classes.is_some() && r.class.is_none() { c.classes } else { cols };
    let images = gan.sample(&z, classes.as_deref())?;
    save_png(&grid(&images, c.image, cols), out)?;
    println!("wrote {n} image{} to {}", if n == 1 { "" } else { "s" }, out.display());
    Ok(())
}
