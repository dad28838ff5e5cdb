//! `backprop explain`: which pixels made the model choose its class, as a heat map.

use super::args::{InvertArg, ModelArg};
use backprop::explain::{class_scores, heat_color, integrated_gradients, normalized_magnitude, saliency};
use backprop::{Error, Result, Tensor};
use clap::{Args, ValueEnum};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

/// How each heat-map pixel is enlarged (nearest neighbour), so a 28x28 map is visible.
pub(super) const SCALE: u32 = 10;
/// Blank pixels between the panels of one picture.
const GAP: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Method {
    /// The gradient of the class score with respect to the pixels.
    Saliency,
    /// Integrated gradients from a black image.
    Ig,
}

#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Attribution method.
    #[arg(long, value_enum, default_value = "saliency")]
    method: Method,
    /// Points on the path for integrated gradients.
    #[arg(long, default_value = "32", value_parser = super::args::positive_usize)]
    steps: usize,
    /// Explain this class instead of the predicted one.
    #[arg(long, value_name = "K")]
    class: Option<usize>,
    /// Folder for the heat maps (default: beside each image).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    invert: InvertArg,
    /// PNG or JPEG files.
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<PathBuf>,
}

pub(crate) fn run(a: ExplainArgs) -> Result<()> {
    let loaded = a.model.load()?;
    let classifier = loaded.classifier("explain")?.grayscale("explain")?.require_outputs()?;
    let (model, outputs) = (classifier.module, classifier.classes);
    if let Some(k) = a.class.filter(|&k| k >= outputs) {
        return Err(Error::invalid("--class", format!("class {k} is out of range for a model with {outputs} outputs")));
    }
    let shape = classifier.image_shape()?;
    let (rows, cols) = (shape.height, shape.width);
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let (suffix, name) = match a.method {
        Method::Saliency => ("saliency", "saliency"),
        Method::Ig => ("ig", "integrated gradients"),
    };
    for path in &a.images {
        let pixels = super::predict::load_image(path, rows, cols, a.invert.invert)?;
        let x = Tensor::from_vec(pixels, &[1, rows * cols]);
        let probs = class_scores(model, &x).softmax();
        let predicted = probs.argmax_axis(1)[0];
        let class = a.class.unwrap_or(predicted);
        let attributions = match a.method {
            Method::Saliency => saliency(model, &x, class)?,
            Method::Ig => integrated_gradients(model, &x, class, a.steps)?,
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        let dir = a.out.clone().unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
        let target = dir.join(format!("{stem}_{suffix}.png"));
        let heat = normalized_magnitude(&attributions);
        let picture = side_by_side(&[gray_panel(x.data(), rows, cols), heat_panel(heat.data(), rows, cols)]);
        save_png(&picture, &target)?;
        let explained = if class == predicted { String::new() } else { format!(", explaining class {class}") };
        println!(
            "{}: {predicted} ({:.1}%){explained}; {name} map -> {}",
            path.display(),
            100.0 * probs.data()[predicted],
            target.display()
        );
    }
    Ok(())
}

/// Values in [0, 1] as an enlarged grayscale panel.
pub(super) fn gray_panel(values: &[f32], rows: usize, cols: usize) -> RgbImage {
    panel(values, rows, cols, |v| {
        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [g, g, g]
    })
}

/// Values in [0, 1] as an enlarged heat-map panel (black, red, yellow, white).
pub(super) fn heat_panel(values: &[f32], rows: usize, cols: usize) -> RgbImage {
    panel(values, rows, cols, heat_color)
}

/// Values as an enlarged panel, one colour per value.
pub(super) fn panel(values: &[f32], rows: usize, cols: usize, color: impl Fn(f32) -> [u8; 3]) -> RgbImage {
    let mut img = RgbImage::new(cols as u32 * SCALE, rows as u32 * SCALE);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let i = (y / SCALE) as usize * cols + (x / SCALE) as usize;
        *p = Rgb(color(values.get(i).copied().unwrap_or(0.0)));
    }
    img
}

/// Panels of equal height laid out left to right on a white background.
pub(super) fn side_by_side(panels: &[RgbImage]) -> RgbImage {
    let height = panels.iter().map(RgbImage::height).max().unwrap_or(1);
    let width = panels.iter().map(RgbImage::width).sum::<u32>() + GAP * panels.len().saturating_sub(1) as u32;
    let mut out = RgbImage::from_pixel(width.max(1), height, Rgb([255, 255, 255]));
    let mut left = 0;
    for p in panels {
        image::imageops::replace(&mut out, p, left as i64, 0);
        left += p.width() + GAP;
    }
    out
}

/// Writes a PNG atomically (through a symbolic link to its target), naming the file on failure.
pub(super) fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, format!("could not encode the PNG: {e}")))?;
    backprop::checkpoint::write_atomically(path, bytes.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_keep_rows_and_columns() {
        // 2 rows x 3 columns, lit at row 0, column 2 only.
        let img = panel(&[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 2, 3, |v| [(255.0 * v) as u8, 0, 0]);
        assert_eq!((img.width(), img.height()), (3 * SCALE, 2 * SCALE));
        let lit: Vec<(u32, u32)> =
            img.enumerate_pixels().filter(|(_, _, p)| p.0[0] == 255).map(|(x, y, _)| (x / SCALE, y / SCALE)).collect();
        assert!(!lit.is_empty() && lit.iter().all(|&(x, y)| (x, y) == (2, 0)), "{lit:?}");
    }
}
