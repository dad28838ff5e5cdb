//! `backprop predict`: classify image files with a saved model.

use backprop::autograd::Graph;
use backprop::checkpoint::Checkpoint;
use backprop::nn::Mlp;
use backprop::nn::Module;
use backprop::{Error, Result, Tensor};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct PredictArgs {
    /// A checkpoint written by `backprop train mnist`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// PNG or JPEG files.
    #[arg(value_name = "IMAGE", required_unless_present = "csv")]
    images: Vec<PathBuf>,
    #[command(flatten)]
    table: super::predict_csv::CsvPredictArgs,
    /// The images are dark strokes on a light background (MNIST is light on dark).
    #[arg(long)]
    invert: bool,
    /// Answer "unknown" when the max probability is below P (0 to 1); default: the threshold
    /// `backprop calibrate` stored in the checkpoint, if any.
    #[arg(long, value_name = "P", value_parser = super::ood::probability, allow_hyphen_values = true)]
    reject_below: Option<f32>,
}

pub(crate) fn run(a: PredictArgs) -> Result<()> {
    let reject_unsupported = || Error::invalid("--reject-below", "applies to MLP image classifiers only");
    if a.table.csv.is_some() {
        if a.reject_below.is_some() {
            return Err(reject_unsupported());
        }
        return super::predict_csv::run(&a.model, &a.table);
    }
    let ckpt = Checkpoint::load(&a.model)?;
    if super::predict_images::is_image_classifier(&ckpt) {
        if a.reject_below.is_some() {
            return Err(reject_unsupported());
        }
        return super::predict_images::run(&ckpt, &a.images);
    }
    let model = Mlp::from_checkpoint(&ckpt)?;
    let [rows, cols] = image_shape(&ckpt, model.config().inputs)?;
    if model.config().outputs == 0 {
        return Err(Error::Checkpoint { path: ckpt.path.clone(), message: "the model has no outputs".into() });
    }
    let reject_below = match a.reject_below {
        Some(p) => Some(p),
        None => super::ood::stored_threshold(&ckpt)?,
    };
    for path in &a.images {
        let pixels = load_image(path, rows, cols, a.invert)?;
        let g = Graph::no_grad();
        let out = model.forward(&g, g.constant(Tensor::from_vec(pixels, &[1, rows * cols])));
        let probs = out.value().softmax();
        let top = top_k(probs.data(), 3);
        if let Some(threshold) = reject_below.filter(|&t| top[0].1 < t) {
            let (p, t) = super::ood::below_text(top[0].1, threshold);
            println!("{}: unknown (max probability {p} < {t})", path.display());
            continue;
        }
        let rest: Vec<String> = top.iter().map(|(c, p)| format!("{c} {:.1}%", 100.0 * p)).collect();
        println!("{}: {} (top 3: {})", path.display(), top[0].0, rest.join(", "));
    }
    Ok(())
}

/// The image size the model was trained on (stored in the checkpoint; else a square).
pub(crate) fn image_shape(ckpt: &Checkpoint, inputs: usize) -> Result<[usize; 2]> {
    if let Some(s) = ckpt.metadata.get("backprop.input") {
        let v: serde_json::Value = serde_json::from_str(s)
            .map_err(|e| Error::Checkpoint { path: ckpt.path.clone(), message: format!("bad backprop.input: {e}") })?;
        if let Some([r, c]) =
            v["image"].as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref()
        {
            let [r, c] = [*r as usize, *c as usize];
            if inputs == 0 || r.checked_mul(c) != Some(inputs) {
                return Err(Error::Checkpoint {
                    path: ckpt.path.clone(),
                    message: format!("backprop.input says {r}x{c} images but the model takes {inputs} inputs"),
                });
            }
            return Ok([r, c]);
        }
    }
    let side = (inputs as f64).sqrt().round() as usize;
    if inputs > 0 && side * side == inputs {
        Ok([side, side])
    } else {
        Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!("a model with {inputs} inputs does not take images"),
        })
    }
}

/// Reads an image as grayscale `rows x cols`, scaled to [0, 1], light-on-dark like MNIST.
pub(crate) fn load_image(path: &Path, rows: usize, cols: usize, invert: bool) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::format(path, format!("not a readable PNG or JPEG image: {e}")))?;
    let gray = img.to_luma8();
    let resized = image::imageops::resize(&gray, cols as u32, rows as u32, image::imageops::FilterType::Triangle);
    Ok(resized.pixels().map(|p| p.0[0] as f32 / 255.0).map(|v| if invert { 1.0 - v } else { v }).collect())
}

/// The `k` most probable classes, best first.
fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    order.truncate(k);
    order
}
