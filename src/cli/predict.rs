//! `backprop predict`: classify image files with a saved model.

use super::args::{InvertArg, ModelArg, RejectArg};
use backprop::autograd::Graph;
use backprop::data::{load_image_file, ImageShape};
use backprop::tensor::cmp_nan_greatest;
use backprop::{Error, Result, Tensor};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    model: ModelArg,
    /// PNG or JPEG files.
    #[arg(value_name = "IMAGE", required_unless_present = "csv")]
    images: Vec<PathBuf>,
    #[command(flatten)]
    table: super::predict_csv::CsvPredictArgs,
    #[command(flatten)]
    invert: InvertArg,
    #[command(flatten)]
    reject: RejectArg,
}

pub(crate) fn run(a: PredictArgs) -> Result<()> {
    let reject_unsupported =
        || Error::invalid("--reject-below", "applies to grayscale digit classifiers only (MLP or CNN)");
    if a.table.csv.is_some() {
        if a.reject.reject_below.is_some() {
            return Err(reject_unsupported());
        }
        return super::predict_csv::run(&a.model, &a.table);
    }
    let loaded = a.model.load()?;
    let classifier = loaded.classifier("predict without --csv")?;
    if classifier.has_channels() {
        if a.reject.reject_below.is_some() {
            return Err(reject_unsupported());
        }
        return super::predict_images::run(&classifier, &a.images);
    }
    let shape = classifier.image_shape()?;
    let classifier = classifier.require_outputs()?;
    let (rows, cols) = (shape.height, shape.width);
    let rejector = super::reject::Rejector::new(a.reject, &loaded)?;
    for path in &a.images {
        let pixels = load_image(path, rows, cols, a.invert.invert)?;
        let g = Graph::no_grad();
        let out = classifier.module.forward(&g, g.constant(Tensor::from_vec(pixels.clone(), &[1, rows * cols])));
        let probs = out.value().softmax();
        if let Some(p) = probs.data().iter().find(|p| !p.is_finite()) {
            eprintln!(
                "{}",
                super::eval::non_finite_warning(
                    classifier.module,
                    &format!("{}: the probabilities are {p}", path.display())
                )
            );
        }
        let top = top_k(probs.data(), 3);
        let x = Tensor::from_vec(pixels, &[1, rows * cols]);
        if let Some(unknown) = rejector.judge(&classifier, &x, top[0].1)? {
            println!("{}: unknown ({})", path.display(), unknown.reason());
            continue;
        }
        let rest: Vec<String> = top.iter().map(|(c, p)| format!("{c} {:.1}%", 100.0 * p)).collect();
        println!("{}: {} (top 3: {})", path.display(), top[0].0, rest.join(", "));
    }
    Ok(())
}

/// Reads an image as grayscale `rows x cols` in [0, 1] (upright, transparency
/// on white: [`load_image_file`]), inverted when asked (dark ink on light
/// paper becomes light-on-dark like MNIST).
pub(crate) fn load_image(path: &Path, rows: usize, cols: usize, invert: bool) -> Result<Vec<f32>> {
    let pixels = load_image_file(path, ImageShape { height: rows, width: cols, channels: 1 })?;
    Ok(pixels.into_iter().map(|v| if invert { 1.0 - v } else { v }).collect())
}

/// The `k` most probable classes, best first (a NaN first, as PyTorch's `topk`).
fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    order.sort_by(|a, b| cmp_nan_greatest(b.1, a.1));
    order.truncate(k);
    order
}
