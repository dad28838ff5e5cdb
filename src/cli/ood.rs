//! `backprop ood`: how well scores of a saved classifier (max softmax
//! probability, max logit, energy, ODIN, Mahalanobis, k-NN) or an
//! autoencoder's reconstruction error tell the test images of its own data
//! set from those of another, e.g. an MNIST model against Fashion-MNIST.
//! What a method fits is fitted on the in-distribution folder's training
//! split only (or taken from the checkpoint when `calibrate` stored it).

use super::args::{JsonArg, ModelArg, ThreadsArg, TprArg};
use super::ood_args::{fit_flags, methods, restrict, FitArgs, Methods};
use backprop::data::{parse_classes, Dataset};
use backprop::models::{Classifier, LoadedModel};
use backprop::ood::{load_test_split, outputs, Detector, FitData, Method, Outputs, Separation, StoredDetector};
use backprop::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct OodArgs {
    #[command(flatten)]
    model: ModelArg,
    /// In-distribution IDX folder (its t10k- files are scored; its train- files fit what a method fits).
    #[arg(long = "in", value_name = "DIR")]
    in_dir: PathBuf,
    /// Out-of-distribution IDX folder (its t10k- files are scored; train- files are not needed).
    #[arg(long = "out", value_name = "DIR")]
    out_dir: PathBuf,
    /// The score: msp, maxlogit, energy, odin, mahalanobis, knn, ae (with --ae), or all (a table).
    #[arg(long, default_value = "msp", value_parser = methods, value_name = "METHOD")]
    method: Methods,
    /// The autoencoder (`backprop train autoencoder`) whose reconstruction error --method ae scores with.
    #[arg(long, value_name = "MODEL")]
    ae: Option<PathBuf>,
    /// Only the out-of-distribution images of these classes of --out, e.g. 5-9.
    #[arg(long, value_name = "LIST")]
    out_classes: Option<String>,
    #[command(flatten)]
    fit: FitArgs,
    // The false-positive rate is reported at this true-positive rate.
    #[command(flatten)]
    tpr: TprArg,
    #[command(flatten)]
    json: JsonArg,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
}

/// One method's result.
struct Row {
    method: Method,
    separation: Separation,
    fpr95: f64,
    in_scores: Vec<f32>,
    out_scores: Vec<f32>,
    fitted: String,
    parameters: serde_json::Value,
}

pub(crate) fn run(a: OodArgs) -> Result<()> {
    let all = a.method.0.len() > 1;
    let wanted: Vec<Method> =
        a.method.0.iter().copied().filter(|&m| !(all && m == Method::Ae && a.ae.is_none())).collect();
    if wanted == [Method::Ae] && a.ae.is_none() {
        return Err(Error::invalid(
            "--method",
            "ae scores with an autoencoder: give one with --ae MODEL (made by backprop train autoencoder)",
        ));
    }
    if a.ae.is_some() && !wanted.contains(&Method::Ae) {
        return Err(Error::invalid("--ae", "only --method ae (or all) scores with an autoencoder"));
    }
    a.fit.check_applies(&wanted)?;
    let loaded = a.model.load()?;
    let model = scoring_classifier(&loaded, "ood")?;
    a.fit.check_classes(&model)?;
    check_disjoint(&a)?;
    let stored = StoredDetector::load(&loaded.checkpoint)?;
    let idle: Vec<String> =
        wanted.iter().filter_map(|&m| idle_split(m, stored.as_ref().map(|s| &s.detector), &a.fit)).collect();
    let needs_fit = idle.len() < wanted.len();
    a.fit.check_split_used(needs_fit, needs_fit, &idle.join("; "))?;
    let (fit_sets, inside) = if needs_fit {
        let (train, validation, test) = a.fit.load_split(&a.in_dir)?;
        super::eval::check_fits(&model, &train, &a.in_dir)?;
        // The test split is what is scored: without t10k- files, the error naming them.
        let test = test.map_or_else(|| load_test_split(&a.in_dir), Ok)?;
        (Some((train, validation)), test)
    } else {
        let test = a.fit.restrict(load_test_split(&a.in_dir)?)?;
        super::eval::check_fits(&model, &test, &a.in_dir)?;
        (None, test)
    };
    super::eval::check_inputs(&model, &inside, &a.in_dir)?;
    let outside = restrict(load_test_split(&a.out_dir)?, a.out_classes.as_deref(), "--out-classes", true)?;
    super::eval::check_inputs(&model, &outside, &a.out_dir)?;
    let fit_data = fit_sets.as_ref().map(|(t, v)| FitData::new(t, v));
    let (in_out, out_out) = (outputs(&model, &inside.inputs, 500), outputs(&model, &outside.inputs, 500));
    let mut rows = Vec::new();
    for &method in &wanted {
        let (in_scores, out_scores, fitted, parameters) = if method == Method::Ae {
            let ae = a.ae.as_deref().expect("ae without --ae was refused above");
            let (i, o) = super::ood_ae::scores(ae, &model, &inside, &outside)?;
            (i, o, format!("autoencoder {}", ae.display()), serde_json::json!({}))
        } else {
            let stored = stored.as_ref().map(|s| &s.detector).filter(|d| d.method() == method);
            let (detector, fitted) = match stored {
                Some(d) if !a.fit.sets_parameters_of(method) => (d.clone(), "stored by calibrate".to_string()),
                _ => {
                    // Refitted: the settings not given on the command line are the stored detector's.
                    let options = stored.map_or_else(|| a.fit.options(), |d| a.fit.options_over(d));
                    let data = fit_data
                        .as_ref()
                        .map_or_else(|| FitData::new(&inside, &inside), |d| FitData::new(d.train, d.validation));
                    let d = Detector::fit(method, &model, &data, &options).map_err(fit_flags)?;
                    if let Some(caveat) = d.caveat(data.train.len()) {
                        eprintln!("warning: {caveat}");
                    }
                    let fitted = match stored {
                        Some(Detector::Odin(_)) if a.fit.epsilon.is_none() => {
                            "temperature set by --temperature, epsilon as stored by calibrate".to_string()
                        }
                        Some(_) => format!(
                            "{}; the settings not given as flags as stored by calibrate",
                            fitted_on(method, fit_sets.as_ref(), a.fit.epsilon.is_some())
                        ),
                        None => fitted_on(method, fit_sets.as_ref(), a.fit.epsilon.is_some()),
                    };
                    (d, fitted)
                }
            };
            let (i, o) = detector_scores(&detector, &model, (&inside, &in_out), (&outside, &out_out))?;
            (i, o, fitted, detector.parameters())
        };
        let separation = Separation::measure(&in_scores, &out_scores, a.tpr.tpr)?;
        let fpr95 = backprop::ood::fpr_at_tpr(&in_scores, &out_scores, 0.95)?;
        rows.push(Row { method, separation, fpr95, in_scores, out_scores, fitted, parameters });
    }
    if a.json.json {
        for r in &rows {
            println!("{}", json_row(&a, r, inside.len(), outside.len())?);
        }
        return Ok(());
    }
    println!("in-distribution:     {} ({} test images)", a.in_dir.display(), inside.len());
    println!("out-of-distribution: {} ({} test images)", a.out_dir.display(), outside.len());
    if let [r] = rows.as_slice() {
        let s = r.separation;
        println!("score: {} ({})", r.method.describe(), r.fitted);
        println!("AUROC {:.4} (1 = perfect separation, 0.5 = chance)", s.auroc);
        println!("AUPR-in {:.4}, AUPR-out {:.4}", s.aupr_in, s.aupr_out);
        let threshold = backprop::ood::calibrate_threshold(&r.in_scores, a.tpr.tpr)?;
        let kept = backprop::ood::fraction_at_or_above(&r.in_scores, threshold)?;
        println!(
            "FPR at {}% TPR {:.4} (threshold {threshold:.4} accepts {:.1}% of in-distribution and {:.1}% of out-of-distribution images)",
            percent(a.tpr.tpr),
            s.fpr,
            100.0 * kept,
            100.0 * s.fpr
        );
        return Ok(());
    }
    println!(
        "{:<12} {:>7} {:>8} {:>9} {:>9}  fitted",
        "method",
        "AUROC",
        "AUPR-in",
        "AUPR-out",
        format!("FPR{}", percent(a.tpr.tpr))
    );
    for r in &rows {
        let s = r.separation;
        let params = if r.parameters.as_object().is_some_and(|o| !o.is_empty()) {
            format!(" {}", r.parameters)
        } else {
            String::new()
        };
        println!(
            "{:<12} {:>7.4} {:>8.4} {:>9.4} {:>9.4}  {}{params}",
            r.method.name(),
            s.auroc,
            s.aupr_in,
            s.aupr_out,
            s.fpr,
            r.fitted
        );
    }
    Ok(())
}

/// Scores of the in- and out-of-distribution sets, from their precomputed outputs where the method allows.
fn detector_scores(
    detector: &Detector,
    model: &Classifier<'_>,
    inside: (&Dataset, &Outputs),
    outside: (&Dataset, &Outputs),
) -> Result<(Vec<f32>, Vec<f32>)> {
    match detector {
        Detector::Odin(_) => {
            Ok((detector.scores(model, &inside.0.inputs, 500)?, detector.scores(model, &outside.0.inputs, 500)?))
        }
        _ => Ok((detector.scores_from(inside.1)?, detector.scores_from(outside.1)?)),
    }
}

/// Why `method` fits nothing on the in-distribution training split in this
/// run (what `--val-fraction` and `--seed` choose), or `None` when it does:
/// Mahalanobis and k-NN fit on it, and ODIN chooses its epsilon on its
/// validation part, unless `calibrate` stored the method and no flag sets
/// its parameters, or ODIN's epsilon is given or stored.
fn idle_split(method: Method, stored: Option<&Detector>, fit: &FitArgs) -> Option<String> {
    let stored = stored.filter(|d| d.method() == method);
    let name = method.name();
    if stored.is_some() && !fit.sets_parameters_of(method) {
        return Some(format!("{name} is used as calibrate stored it"));
    }
    match method {
        Method::Mahalanobis | Method::Knn => None,
        Method::Odin if fit.epsilon.is_some() => Some("odin's epsilon is given by --epsilon".into()),
        Method::Odin if stored.is_some() => Some("odin keeps the epsilon calibrate stored".into()),
        Method::Odin => None,
        Method::Ae => Some("ae scores with its autoencoder".into()),
        _ => Some(format!("{name} fits nothing")),
    }
}

fn fitted_on(method: Method, sets: Option<&(Dataset, Dataset)>, epsilon_given: bool) -> String {
    match (method, sets) {
        (Method::Odin, _) if epsilon_given => "epsilon set by --epsilon".to_string(),
        (Method::Odin, Some((_, v))) => format!("epsilon chosen on {} validation images", v.len()),
        (Method::Mahalanobis | Method::Knn, Some((t, _))) => format!("fitted on {} training images", t.len()),
        _ => "nothing to fit".to_string(),
    }
}

fn json_row(a: &OodArgs, r: &Row, in_n: usize, out_n: usize) -> Result<serde_json::Value> {
    let s = r.separation;
    let threshold = backprop::ood::calibrate_threshold(&r.in_scores, a.tpr.tpr)?;
    let mean = |s: &[f32]| s.iter().map(|&v| f64::from(v)).sum::<f64>() / s.len().max(1) as f64;
    Ok(serde_json::json!({
        "method": r.method.name(), "auroc": s.auroc, "aupr_in": s.aupr_in, "aupr_out": s.aupr_out, "fpr95": r.fpr95,
        "score": r.method.describe(), "fitted": r.fitted, "parameters": r.parameters,
        "model": a.model.model, "in": a.in_dir, "in_examples": in_n, "in_mean_score": mean(&r.in_scores),
        "out": a.out_dir, "out_examples": out_n, "out_mean_score": mean(&r.out_scores),
        "tpr": a.tpr.tpr, "threshold": threshold, "tpr_measured": backprop::ood::fraction_at_or_above(&r.in_scores, threshold)?,
        "fpr_at_tpr": s.fpr,
    }))
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

/// With one folder as both `--in` and `--out`, the in- and out-of-distribution
/// images must be disjoint classes of it: the same images on both sides
/// would measure nothing (AUROC 0.5).
fn check_disjoint(a: &OodArgs) -> Result<()> {
    let same = match (a.in_dir.canonicalize(), a.out_dir.canonicalize()) {
        (Ok(i), Ok(o)) => i == o,
        _ => a.in_dir == a.out_dir,
    };
    if !same {
        return Ok(());
    }
    let (Some(inside), Some(outside)) = (&a.fit.classes, &a.out_classes) else {
        let message = "is the same folder as --in: name disjoint --classes and --out-classes (e.g. 0-4 and 5-9)";
        return Err(Error::invalid("--out", message));
    };
    let parse = |list: &str, flag: &str| parse_classes(list, usize::MAX).map_err(super::args::as_flag(flag));
    let (inside, outside) = (parse(inside, "--classes")?, parse(outside, "--out-classes")?);
    match inside.iter().find(|c| outside.contains(c)) {
        Some(c) => {
            Err(Error::invalid("--out-classes", format!("class {c} is also in --classes: the lists must not overlap")))
        }
        None => Ok(()),
    }
}
