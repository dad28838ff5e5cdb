//! `backprop explain`: which pixels made the model choose its class, as a heat map.

use super::args::{InvertArg, ModelArg};
use backprop::data::{load_image_file, ImageShape};
use backprop::explain::{
    class_scores, grad_cam, heat_color, integrated_gradients_from, normalized_magnitude, saliency,
};
use backprop::models::Classifier;
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
    /// Grad-CAM (CNNs): the last convolution block's feature maps weighed by the score's gradient.
    Gradcam,
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
    let classifier = loaded.classifier("explain")?.require_outputs()?;
    let (model, outputs) = (classifier.module, classifier.classes);
    if let Some(k) = a.class.filter(|&k| k >= outputs) {
        return Err(Error::invalid("--class", format!("class {k} is out of range for a model with {outputs} outputs")));
    }
    let cnn = match (a.method, classifier.cnn) {
        (Method::Gradcam, None) => return Err(loaded.mismatch("explain --method gradcam", "a CNN")),
        (_, cnn) => cnn,
    };
    if classifier.has_channels() && a.invert.invert {
        return Err(Error::invalid("--invert", "applies to grayscale digit models (MNIST is light on dark)"));
    }
    let shape = classifier.image_shape()?;
    let names = classifier.class_names()?;
    if let Some(dir) = &a.out {
        super::args::check_out_folder("--out", dir)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let (suffix, name) = match a.method {
        Method::Saliency => ("saliency", "saliency"),
        Method::Ig => ("ig", "integrated gradients"),
        Method::Gradcam => ("gradcam", "Grad-CAM"),
    };
    // Two images of one name (a/3.png b/3.png with --out DIR) get distinct maps.
    let mut written = std::collections::HashSet::new();
    for path in &a.images {
        let (pixels, x) = model_input(&classifier, path, shape, a.invert.invert)?;
        let scores = class_scores(model, &x);
        // One logit (a binary model) scores the second class: explain that logit.
        let (predicted, p) = if outputs == 1 {
            let p1 = 1.0 / (1.0 + (-scores.data()[0]).exp());
            if p1 >= 0.5 {
                (1, p1)
            } else {
                (0, 1.0 - p1)
            }
        } else {
            let probs = scores.softmax();
            let best = probs.argmax_axis(1)[0];
            (best, probs.data()[best])
        };
        let class = a.class.unwrap_or(if outputs == 1 { 0 } else { predicted });
        let mut note = String::new();
        let heat = match a.method {
            Method::Gradcam => {
                let cam = grad_cam(cnn.expect("a CNN was required above"), &x, class)?;
                let [h, w] = [cam.coarse.dim(0), cam.coarse.dim(1)];
                note = format!(" (layer {}, {h}x{w})", cam.layer);
                cam.heat
            }
            Method::Saliency => pixel_magnitude(&saliency(model, &x, class)?, shape),
            Method::Ig => {
                let black = pixels_to_input(&classifier, &vec![0.0; shape.len()])?;
                pixel_magnitude(&integrated_gradients_from(model, &x, &black, class, a.steps)?, shape)
            }
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        let dir = a.out.clone().unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
        let target = (1..)
            .map(|n| match n {
                1 => dir.join(format!("{stem}_{suffix}.png")),
                n => dir.join(format!("{stem}_{n}_{suffix}.png")),
            })
            .find(|t| !written.contains(t))
            .expect("a free name");
        written.insert(target.clone());
        let (rows, cols) = (shape.height, shape.width);
        let input = image_panel(&pixels, shape);
        let mut panels = vec![input.clone(), heat_panel(heat.data(), rows, cols)];
        if a.method == Method::Gradcam {
            panels.push(overlay(&input, heat.data(), cols));
        }
        save_png(&side_by_side(&panels), &target)?;
        let explained = match (outputs, a.class) {
            (1, _) => format!(", explaining the logit of '{}'", names[1]),
            (_, Some(k)) if k != predicted => format!(", explaining class {}", names[k]),
            _ => String::new(),
        };
        println!(
            "{}: {} ({:.1}%){explained}; {name} map{note} -> {}",
            path.display(),
            names[predicted],
            100.0 * p,
            target.display()
        );
    }
    Ok(())
}

/// The image's pixels in [0, 1] (grey, or RGB interleaved) and the model's input row `[1, D]`.
fn model_input(model: &Classifier, path: &Path, shape: ImageShape, invert: bool) -> Result<(Vec<f32>, Tensor)> {
    let pixels = if model.has_channels() {
        load_image_file(path, shape)?
    } else {
        super::predict::load_image(path, shape.height, shape.width, invert)?
    };
    let x = pixels_to_input(model, &pixels)?;
    Ok((pixels, x))
}

/// Pixels in [0, 1] as the model takes them: scaled as at training time (`[1, D]`).
fn pixels_to_input(model: &Classifier, pixels: &[f32]) -> Result<Tensor> {
    let scale = model.pixel_scale()?;
    Ok(Tensor::from_vec(pixels.iter().map(|v| (v - scale.mean) / scale.std).collect(), &[1, pixels.len()]))
}

/// Attributions `[H*W*C]` as one magnitude per pixel (summed over channels), scaled to [0, 1].
fn pixel_magnitude(attributions: &Tensor, shape: ImageShape) -> Tensor {
    let per_pixel: Vec<f32> =
        attributions.data().chunks(shape.channels.max(1)).map(|c| c.iter().map(|v| v.abs()).sum()).collect();
    normalized_magnitude(&Tensor::from_vec(per_pixel, &[shape.height * shape.width]))
}

/// The input image as an enlarged panel, grey or in colour.
fn image_panel(pixels: &[f32], shape: ImageShape) -> RgbImage {
    if shape.channels == 3 {
        let rgb: Vec<[u8; 3]> =
            pixels.chunks(3).map(|p| [0, 1, 2].map(|c| (p[c].clamp(0.0, 1.0) * 255.0).round() as u8)).collect();
        let index: Vec<f32> = (0..rgb.len()).map(|i| i as f32).collect();
        return panel(&index, shape.height, shape.width, |i| rgb[i as usize]);
    }
    gray_panel(pixels, shape.height, shape.width)
}

/// The heat map over the image: each pixel half image, half heat colour.
fn overlay(image: &RgbImage, heat: &[f32], cols: usize) -> RgbImage {
    let mut out = image.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let h = heat_color(heat.get((y / SCALE) as usize * cols + (x / SCALE) as usize).copied().unwrap_or(0.0));
        p.0 = [0, 1, 2].map(|c| ((u16::from(p.0[c]) + u16::from(h[c])) / 2) as u8);
    }
    out
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
pub(crate) fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
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
