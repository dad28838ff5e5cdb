//! `backprop calibrate`: fit an out-of-distribution score (`--method`) and
//! the threshold below which `predict` and `serve` answer "unknown", and
//! store both in the checkpoint.
//!
//! What the method fits comes from the data folder's training split
//! (Mahalanobis's means and covariance, the k-NN bank); the threshold, which
//! keeps `--tpr` of the in-distribution images, and ODIN's epsilon come from
//! the held-out validation part: the same part `backprop train mnist` holds
//! out with the same `--val-fraction` and `--seed` (0.1 and 1 by default), so
//! the model has not trained on it. Scores on training images would be
//! overconfident and set the threshold too high. The test split is left for
//! checking: the output says what fraction of the test images it keeps (a
//! folder without `t10k-` test files is calibrated all the same, unchecked).

use super::args::{DataArg, JsonArg, ModelArg, ThreadsArg, TprArg};
use super::ood_args::FitArgs;
use backprop::ood::{calibrate_threshold, fraction_at_or_above, Detector, FitData, Method, StoredDetector, REJECT_KEY};
use backprop::ood::{OOD_KEY, OOD_TENSOR_PREFIX};
use backprop::{Error, Result};
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    // The threshold is stored in the model's checkpoint.
    #[command(flatten)]
    model: ModelArg,
    // The data folder the model was trained on.
    #[command(flatten)]
    data: DataArg,
    /// The score that decides "unknown": msp, maxlogit, energy, odin, mahalanobis or knn.
    #[arg(long, default_value = "msp")]
    method: Method,
    #[command(flatten)]
    tpr: TprArg,
    #[command(flatten)]
    fit: FitArgs,
    #[command(flatten)]
    json: JsonArg,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
}

pub(crate) fn run(a: CalibrateArgs) -> Result<()> {
    if a.method == Method::Ae {
        return Err(Error::invalid(
            "--method",
            "ae is scored by a separate autoencoder; calibrate stores a score of the classifier itself \
             (msp, maxlogit, energy, odin, mahalanobis, knn)",
        ));
    }
    a.fit.check_applies(&[a.method])?;
    // The threshold is always chosen on the validation part; --seed draws it (and the k-NN bank).
    let seed_used = a.fit.val_fraction() > 0.0 || a.method == Method::Knn;
    let idle = format!("--val-fraction 0 holds out no validation part and {} draws no k-NN bank", a.method);
    a.fit.check_split_used(true, seed_used, &idle)?;
    let loaded = a.model.load()?;
    let model = super::ood::scoring_classifier(&loaded, "calibrate")?;
    a.fit.check_classes(&model)?;
    let dir = a.data.dir();
    let (train, validation, test) = a.fit.load_split(&dir)?;
    super::eval::check_fits(&model, &train, &dir)?;
    let held_out = if a.fit.val_fraction() > 0.0 { "held-out validation" } else { "training" };
    let detector = Detector::fit(a.method, &model, &FitData::new(&train, &validation), &a.fit.options())
        .map_err(super::ood_args::fit_flags)?;
    if let Some(caveat) = detector.caveat(train.len()) {
        eprintln!("warning: {caveat}");
    }
    let scores = detector.scores(&model, &validation.inputs, 500)?;
    let threshold = calibrate_threshold(&scores, a.tpr.tpr)?;
    let kept = fraction_at_or_above(&scores, threshold)?;
    // Without t10k- files (as train mnist then evaluates on the validation part) there is no test check.
    let test_kept = match &test {
        Some(t) => Some(fraction_at_or_above(&detector.scores(&model, &t.inputs, 500)?, threshold)?),
        None => None,
    };
    let test_len = test.as_ref().map_or(0, |t| t.len());
    let mut ckpt = loaded.checkpoint.clone();
    let key = if a.method == Method::Msp {
        // The MSP threshold keeps its own key, which older versions read too.
        ckpt.metadata.remove(OOD_KEY);
        ckpt.tensors.retain(|name, _| !name.starts_with(OOD_TENSOR_PREFIX));
        ckpt.metadata.insert(REJECT_KEY.into(), threshold.to_string());
        REJECT_KEY
    } else {
        StoredDetector { detector: detector.clone(), threshold, tpr: kept }.store(&mut ckpt);
        OOD_KEY
    };
    ckpt.save_to(&a.model.model)?;
    if a.json.json {
        let summary = serde_json::json!({
            "model": a.model.model, "data": dir, "method": a.method.name(), "parameters": detector.parameters(),
            "split": held_out, "examples": scores.len(),
            "val_fraction": f64::from(a.fit.val_fraction() * 1e4).round() / 1e4, "seed": a.fit.seed(), "tpr": a.tpr.tpr,
            "threshold": threshold, "tpr_measured": kept, "test_examples": test_len, "test_tpr": test_kept, "key": key,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "{} threshold {threshold:.4}: score at or above it for {:.1}% of {} {held_out} images of {}{}",
        a.method,
        100.0 * kept,
        scores.len(),
        dir.display(),
        if a.fit.val_fraction() > 0.0 {
            format!(" (--val-fraction {} --seed {})", a.fit.val_fraction(), a.fit.seed())
        } else {
            String::new()
        }
    );
    match test_kept {
        Some(kept) => println!("on the {test_len} test images it keeps {:.1}%", 100.0 * kept),
        None => println!("{} has no t10k- test files: no test images to check it on", dir.display()),
    }
    let params = detector.parameters();
    let fitted = if params.as_object().is_some_and(|o| !o.is_empty()) { format!(" {params}") } else { String::new() };
    println!("stored as {key} ({}{fitted}) in {}", a.method.describe(), a.model.model.display());
    Ok(())
}
