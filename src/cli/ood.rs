//! `backprop ood`: how well a saved classifier's maximum softmax probability
//! (MSP) tells the test images of its own data set from those of another,
//! e.g. an MNIST model against Fashion-MNIST.

use backprop::checkpoint::Checkpoint;
use backprop::nn::Mlp;
use backprop::ood::{auroc, calibrate_threshold, fraction_at_or_above, load_test_split, msp_scores, REJECT_KEY};
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct OodArgs {
    /// A checkpoint written by `backprop train mnist`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// In-distribution IDX folder (its t10k- files are scored), e.g. the data the model was trained on.
    #[arg(long = "in", value_name = "DIR")]
    in_dir: PathBuf,
    /// Out-of-distribution IDX folder (its t10k- files are scored; train- files are not needed).
    #[arg(long = "out", value_name = "DIR")]
    out_dir: PathBuf,
    /// True-positive rate at which the false-positive rate is reported.
    #[arg(long, default_value = "0.95", value_parser = tpr, allow_hyphen_values = true)]
    tpr: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Threads for the kernels.
    #[arg(long, value_parser = super::args::positive_usize, allow_hyphen_values = true)]
    threads: Option<usize>,
}

pub(crate) fn run(a: OodArgs) -> Result<()> {
    super::set_threads(a.threads)?;
    let (ckpt, model) = load_classifier(&a.model)?;
    let inside = load_test_split(&a.in_dir)?;
    super::eval::check_inputs(&ckpt, &model, &inside, &a.in_dir)?;
    let outside = load_test_split(&a.out_dir)?;
    super::eval::check_inputs(&ckpt, &model, &outside, &a.out_dir)?;
    let in_scores = msp_scores(&model, &inside, 1000);
    let out_scores = msp_scores(&model, &outside, 1000);
    let area = auroc(&in_scores, &out_scores)?;
    let threshold = calibrate_threshold(&in_scores, a.tpr)?;
    let kept_in = fraction_at_or_above(&in_scores, threshold)?;
    let fpr = fraction_at_or_above(&out_scores, threshold)?;
    let mean = |s: &[f32]| s.iter().map(|&v| v as f64).sum::<f64>() / s.len().max(1) as f64;
    if a.json {
        let summary = serde_json::json!({
            "model": a.model, "score": "max softmax probability",
            "in": a.in_dir, "in_examples": in_scores.len(), "in_mean_score": mean(&in_scores),
            "out": a.out_dir, "out_examples": out_scores.len(), "out_mean_score": mean(&out_scores),
            "auroc": area, "tpr": a.tpr, "threshold": threshold, "tpr_measured": kept_in, "fpr_at_tpr": fpr,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "in-distribution:     {} ({} test images), mean max probability {:.3}",
        a.in_dir.display(),
        in_scores.len(),
        mean(&in_scores)
    );
    println!(
        "out-of-distribution: {} ({} test images), mean max probability {:.3}",
        a.out_dir.display(),
        out_scores.len(),
        mean(&out_scores)
    );
    println!("AUROC {area:.4} (max softmax probability; 1 = perfect separation, 0.5 = chance)");
    println!(
        "FPR at {}% TPR {fpr:.4} (threshold {threshold:.4} accepts {:.1}% of in-distribution and {:.1}% of out-of-distribution images)",
        percent(a.tpr),
        100.0 * kept_in,
        100.0 * fpr
    );
    Ok(())
}

/// A checkpoint and the MLP classifier it holds.
pub(crate) fn load_classifier(path: &Path) -> Result<(Checkpoint, Mlp)> {
    let ckpt = Checkpoint::load(path)?;
    let model = Mlp::from_checkpoint(&ckpt)?;
    if model.config().outputs < 2 {
        return Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!(
                "the model has {} output(s); scoring needs a classifier with 2 or more",
                model.config().outputs
            ),
        });
    }
    Ok((ckpt, model))
}

/// The rejection threshold stored by `backprop calibrate`, if any.
pub(crate) fn stored_threshold(ckpt: &Checkpoint) -> Result<Option<f32>> {
    let Some(s) = ckpt.metadata.get(REJECT_KEY) else { return Ok(None) };
    probability(s)
        .map(Some)
        .map_err(|m| Error::Checkpoint { path: ckpt.path.clone(), message: format!("bad {REJECT_KEY}: {m}") })
}

/// `--tpr`: a number above 0 and at most 1.
pub(crate) fn tpr(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    backprop::ood::check_tpr(v).map(|()| v).map_err(|_| format!("must be above 0 and at most 1, got {s}"))
}

/// A probability: a number from 0 to 1.
pub(crate) fn probability(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a probability from 0 to 1, got {s}"))
    }
}

/// `p` and `threshold` with 2 decimals, or 4 where 2 would print them equal.
pub(crate) fn below_text(p: f32, threshold: f32) -> (String, String) {
    let two = (format!("{p:.2}"), format!("{threshold:.2}"));
    if two.0 == two.1 {
        (format!("{p:.4}"), format!("{threshold:.4}"))
    } else {
        two
    }
}

/// A rate as a percentage without needless decimals: 0.95 -> "95".
pub(crate) fn percent(rate: f64) -> String {
    let text = format!("{:.2}", 100.0 * rate);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
