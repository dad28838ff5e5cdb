//! `backprop attack`: accuracy of a saved model under adversarial perturbations
//! (FGSM or PGD in the L-inf ball), with examples saved as pictures.

use super::args::{DataArg, ModelArg, ThreadsArg};
use super::explain::{gray_panel, panel, save_png};
use backprop::explain::{class_scores, fgsm, pgd};
use backprop::models::Classifier;
use backprop::train::predicted_classes;
use backprop::{Error, Result, Tensor};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Examples attacked together (one forward and backward pass each step).
const BATCH: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Method {
    /// Fast gradient sign method: one step of size eps.
    Fgsm,
    /// Projected gradient descent: --steps steps of --step-size, projected to the eps ball.
    Pgd,
}

#[derive(Args, Debug)]
pub(crate) struct AttackArgs {
    #[command(flatten)]
    model: ModelArg,
    // The test split (t10k- files) of the data folder is attacked.
    #[command(flatten)]
    data: DataArg,
    /// Largest change of any pixel (pixels are in [0, 1]).
    #[arg(long, default_value = "0.1", value_parser = eps_value)]
    eps: f32,
    /// Attack.
    #[arg(long, value_enum, default_value = "fgsm")]
    method: Method,
    /// PGD steps.
    #[arg(long, default_value = "10", value_parser = super::args::positive_usize)]
    steps: usize,
    /// PGD step size (default: 2.5 eps / steps).
    #[arg(long, value_parser = super::args::positive_f32)]
    step_size: Option<f32>,
    /// Save this many examples as original / perturbation / adversarial PNGs.
    #[arg(long, value_name = "N", default_value = "0")]
    save: usize,
    /// Folder for the saved examples.
    #[arg(long, value_name = "DIR", default_value = "runs/attack")]
    out: PathBuf,
    /// Attack only the first N test images.
    #[arg(long, value_name = "N", value_parser = super::args::positive_usize)]
    limit: Option<usize>,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
}

/// A perturbation size in (0, 1].
fn eps_value(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be above 0 and at most 1 (pixels are in [0, 1]), got {s}"))
    }
}

pub(crate) fn run(a: AttackArgs) -> Result<()> {
    if a.save > 0 {
        super::args::check_out_folder("--out", &a.out)?;
    }
    let (loaded, dir, data) = super::eval::load_model_and_data("attack", &a.model, &a.data)?;
    let classifier = loaded.classifier("attack")?;
    let model = classifier.module;
    let n = a.limit.map_or(data.len(), |l| l.min(data.len()));
    if n == 0 {
        return Err(Error::format(&dir, "the test split holds no images"));
    }
    let step_size = a.step_size.unwrap_or(2.5 * a.eps / a.steps as f32);
    let (mut clean_hits, mut adv_hits) = (0usize, 0usize);
    let mut saved = Vec::new(); // (index, label, clean prediction, adversarial prediction, x, adv)
    let mut spare = Vec::new(); // examples to save when too few attacks succeed
    for start in (0..n).step_by(BATCH) {
        let ids: Vec<usize> = (start..(start + BATCH).min(n)).collect();
        let (x, labels) = data.batch(&ids);
        let adv = match a.method {
            Method::Fgsm => fgsm(model, &x, &labels, a.eps)?,
            Method::Pgd => pgd(model, &x, &labels, a.eps, a.steps, step_size)?,
        };
        let clean = predicted_classes(&class_scores(model, &x));
        let attacked = predicted_classes(&class_scores(model, &adv));
        let d = x.dim(1);
        for (row, ((&y, &c), &p)) in labels.iter().zip(&clean).zip(&attacked).enumerate() {
            clean_hits += usize::from(c == y);
            adv_hits += usize::from(p == y);
            let fooled = c == y && p != y;
            let pool = if fooled { &mut saved } else { &mut spare };
            if pool.len() < a.save {
                let take = |t: &Tensor| t.data()[row * d..(row + 1) * d].to_vec();
                pool.push((ids[row], y, c, p, take(&x), take(&adv)));
            }
        }
    }
    let pct = |hits: usize| 100.0 * hits as f64 / n as f64;
    let attack = match a.method {
        Method::Fgsm => format!("FGSM eps {}", a.eps),
        Method::Pgd => format!("PGD eps {} ({} steps of {:.4})", a.eps, a.steps, step_size),
    };
    println!(
        "clean accuracy {:.2}%, {attack} accuracy {:.2}% ({n} images from {})",
        pct(clean_hits),
        pct(adv_hits),
        dir.display()
    );
    if a.save > 0 {
        saved.extend(spare.into_iter().take(a.save.saturating_sub(saved.len())));
        saved.sort_by_key(|s| s.0);
        save_examples(&a.out, &classifier, &saved, a.eps)?;
    }
    Ok(())
}

type Example = (usize, usize, usize, usize, Vec<f32>, Vec<f32>);

/// Writes `<i>_label<y>_clean<c>.png`, `<i>_perturbation.png`, `<i>_adv<p>.png`
/// for each example and prints one line per example.
fn save_examples(out: &std::path::Path, model: &Classifier, examples: &[Example], eps: f32) -> Result<()> {
    let shape = model.image_shape()?;
    let (rows, cols) = (shape.height, shape.width);
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    for (i, y, c, p, x, adv) in examples {
        // The perturbation, scaled so that -eps is black, 0 mid-gray and +eps white.
        let delta: Vec<f32> = adv.iter().zip(x).map(|(a, x)| 0.5 + (a - x) / (2.0 * eps)).collect();
        let files = [
            (format!("{i:05}_label{y}_clean{c}.png"), gray_panel(x, rows, cols)),
            (format!("{i:05}_perturbation.png"), panel(&delta, rows, cols, signed_color)),
            (format!("{i:05}_adv{p}.png"), gray_panel(adv, rows, cols)),
        ];
        for (name, img) in &files {
            save_png(img, &out.join(name))?;
        }
        println!(
            "test image {i}: label {y}, clean prediction {c}, adversarial prediction {p} -> {}",
            out.join(format!("{i:05}_*.png")).display()
        );
    }
    Ok(())
}

/// 0.5 mid-gray; below it blue (pixel darkened), above it red (pixel brightened).
fn signed_color(v: f32) -> [u8; 3] {
    let t = ((v - 0.5) * 2.0).clamp(-1.0, 1.0);
    let strong = 128.0 + 127.0 * t.abs();
    let weak = 128.0 * (1.0 - t.abs());
    if t >= 0.0 {
        [strong as u8, weak as u8, weak as u8]
    } else {
        [weak as u8, weak as u8, strong as u8]
    }
}
