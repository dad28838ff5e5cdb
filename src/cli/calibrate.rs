//! `backprop calibrate`: pick the maximum-softmax-probability threshold below
//! which `backprop predict` answers "unknown", and store it in the checkpoint.
//!
//! The threshold keeps `--tpr` of the in-distribution images. It is computed
//! on the held-out validation part of the data folder's training split: the
//! same part `backprop train mnist` holds out with the same `--val-fraction`
//! and `--seed` (0.1 and 1 by default), so the model has not trained on it.
//! Scores on training images would be overconfident and set the threshold too
//! high. The test split is left for checking: the output says what fraction
//! of the test images the threshold keeps.

use backprop::ood::{calibrate_threshold, fraction_at_or_above, msp_scores, REJECT_KEY};
use backprop::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    /// A checkpoint written by `backprop train mnist`; the threshold is stored in it.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// IDX data folder the model was trained on; default: the bundled data.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Fraction of in-distribution images the threshold keeps (true-positive rate).
    #[arg(long, default_value = "0.95", value_parser = super::ood::tpr, allow_hyphen_values = true)]
    tpr: f64,
    /// Validation fraction used in training (0: calibrate on the whole training split).
    #[arg(long, default_value = "0.1", value_parser = super::args::fraction, allow_hyphen_values = true)]
    val_fraction: f32,
    /// Seed used in training (it chose the validation split).
    #[arg(long, default_value = "1")]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Threads for the kernels.
    #[arg(long, value_parser = super::args::positive_usize, allow_hyphen_values = true)]
    threads: Option<usize>,
}

pub(crate) fn run(a: CalibrateArgs) -> Result<()> {
    super::set_threads(a.threads)?;
    let (mut ckpt, model) = super::ood::load_classifier(&a.model)?;
    let dir = a.data.clone().unwrap_or_else(super::train::default_data_dir);
    let data = backprop::data::load_mnist_dir(&dir)?;
    super::eval::check_fits(&ckpt, &model, &data.train, &dir)?;
    let (part, held_out) = if a.val_fraction > 0.0 {
        (data.train.split_validation(a.val_fraction, a.seed).1, "held-out validation")
    } else {
        (data.train.clone(), "training")
    };
    let scores = msp_scores(&model, &part, 1000);
    let threshold = calibrate_threshold(&scores, a.tpr)?;
    let kept = fraction_at_or_above(&scores, threshold)?;
    let test_kept = fraction_at_or_above(&msp_scores(&model, &data.test, 1000), threshold)?;
    ckpt.metadata.insert(REJECT_KEY.into(), threshold.to_string());
    ckpt.save_to(&a.model)?;
    if a.json {
        let summary = serde_json::json!({
            "model": a.model, "data": dir, "split": held_out, "examples": scores.len(),
            "val_fraction": f64::from(a.val_fraction * 1e4).round() / 1e4, "seed": a.seed, "tpr": a.tpr, "threshold": threshold,
            "tpr_measured": kept, "test_examples": data.test.len(), "test_tpr": test_kept, "key": REJECT_KEY,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "threshold {threshold:.4}: max probability at or above it for {:.1}% of {} {held_out} images of {}{}",
        100.0 * kept,
        scores.len(),
        dir.display(),
        if a.val_fraction > 0.0 {
            format!(" (--val-fraction {} --seed {})", a.val_fraction, a.seed)
        } else {
            String::new()
        }
    );
    println!("on the {} test images it keeps {:.1}%", data.test.len(), 100.0 * test_kept);
    println!("stored as {REJECT_KEY} = {threshold} in {}", a.model.display());
    Ok(())
}
