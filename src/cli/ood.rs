//! `backprop ood`: how well a saved classifier's maximum softmax probability
//! (MSP) tells the test images of its own data set from those of another,
//! e.g. an MNIST model against Fashion-MNIST.

use super::args::{JsonArg, ModelArg, ThreadsArg, TprArg};
use backprop::models::{Classifier, LoadedModel};
use backprop::ood::{auroc, calibrate_threshold, fraction_at_or_above, load_test_split, msp_scores};
use backprop::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct OodArgs {
    #[command(flatten)]
    model: ModelArg,
    /// In-distribution IDX folder (its t10k- files are scored), e.g. the data the model was trained on.
    #[arg(long = "in", value_name = "DIR")]
    in_dir: PathBuf,
    /// Out-of-distribution IDX folder (its t10k- files are scored; train- files are not needed).
    #[arg(long = "out", value_name = "DIR")]
    out_dir: PathBuf,
    // The false-positive rate is reported at this true-positive rate.
    #[command(flatten)]
    tpr: TprArg,
    #[command(flatten)]
    json: JsonArg,
    #[command(flatten)]
    threads: ThreadsArg,
}

pub(crate) fn run(a: OodArgs) -> Result<()> {
    a.threads.apply()?;
    let loaded = a.model.load()?;
    let model = scoring_classifier(&loaded, "ood")?;
    let inside = load_test_split(&a.in_dir)?;
    super::eval::check_inputs(&model, &inside, &a.in_dir)?;
    let outside = load_test_split(&a.out_dir)?;
    super::eval::check_inputs(&model, &outside, &a.out_dir)?;
    let in_scores = msp_scores(model.module, &inside, 1000);
    let out_scores = msp_scores(model.module, &outside, 1000);
    let area = auroc(&in_scores, &out_scores)?;
    let threshold = calibrate_threshold(&in_scores, a.tpr.tpr)?;
    let kept_in = fraction_at_or_above(&in_scores, threshold)?;
    let fpr = fraction_at_or_above(&out_scores, threshold)?;
    let mean = |s: &[f32]| s.iter().map(|&v| v as f64).sum::<f64>() / s.len().max(1) as f64;
    if a.json.json {
        let summary = serde_json::json!({
            "model": a.model.model, "score": "max softmax probability",
            "in": a.in_dir, "in_examples": in_scores.len(), "in_mean_score": mean(&in_scores),
            "out": a.out_dir, "out_examples": out_scores.len(), "out_mean_score": mean(&out_scores),
            "auroc": area, "tpr": a.tpr.tpr, "threshold": threshold, "tpr_measured": kept_in, "fpr_at_tpr": fpr,
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
        percent(a.tpr.tpr),
        100.0 * kept_in,
        100.0 * fpr
    );
    Ok(())
}

/// The classifier `loaded` holds, if it has the 2 or more outputs that a
/// softmax probability needs; `user` names the command.
pub(crate) fn scoring_classifier<'a>(loaded: &'a LoadedModel, user: &str) -> Result<Classifier<'a>> {
    let model = loaded.classifier(user)?;
    if model.classes < 2 {
        return Err(Error::Checkpoint {
            path: loaded.path().to_path_buf(),
            message: format!("the model has {} output(s); scoring needs a classifier with 2 or more", model.classes),
        });
    }
    Ok(model)
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
