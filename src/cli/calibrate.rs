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

use super::args::{DataArg, JsonArg, ModelArg, ThreadsArg, TprArg};
use backprop::ood::{calibrate_threshold, fraction_at_or_above, msp_scores, REJECT_KEY};
use backprop::Result;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    // The threshold is stored in the model's checkpoint.
    #[command(flatten)]
    model: ModelArg,
    // The data folder the model was trained on.
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    tpr: TprArg,
    /// Validation fraction used in training (0: calibrate on the whole training split).
    #[arg(long, default_value = "0.1", value_parser = super::args::fraction)]
    val_fraction: f32,
    /// Seed used in training (it chose the validation split).
    #[arg(long, default_value = "1")]
    seed: u64,
    #[command(flatten)]
    json: JsonArg,
    #[command(flatten)]
    threads: ThreadsArg,
}

pub(crate) fn run(a: CalibrateArgs) -> Result<()> {
    a.threads.apply()?;
    let loaded = a.model.load()?;
    let model = super::ood::scoring_classifier(&loaded, "calibrate")?;
    let dir = a.data.dir();
    let data = backprop::data::load_mnist_dir(&dir)?;
    super::eval::check_fits(&model, &data.train, &dir)?;
    let (part, held_out) = if a.val_fraction > 0.0 {
        (data.train.split_validation(a.val_fraction, a.seed).1, "held-out validation")
    } else {
        (data.train.clone(), "training")
    };
    let scores = msp_scores(model.module, &part, 1000);
    let threshold = calibrate_threshold(&scores, a.tpr.tpr)?;
    let kept = fraction_at_or_above(&scores, threshold)?;
    let test_kept = fraction_at_or_above(&msp_scores(model.module, &data.test, 1000), threshold)?;
    let mut ckpt = loaded.checkpoint.clone();
    ckpt.metadata.insert(REJECT_KEY.into(), threshold.to_string());
    ckpt.save_to(&a.model.model)?;
    if a.json.json {
        let summary = serde_json::json!({
            "model": a.model.model, "data": dir, "split": held_out, "examples": scores.len(),
            "val_fraction": f64::from(a.val_fraction * 1e4).round() / 1e4, "seed": a.seed, "tpr": a.tpr.tpr, "threshold": threshold,
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
    println!("stored as {REJECT_KEY} = {threshold} in {}", a.model.model.display());
    Ok(())
}
