//! `backprop train autoencoder`: an MLP or convolutional autoencoder (or a
//! VAE) on an IDX image folder, a PNG grid of test images and their
//! reconstructions, and, with `--classes`, the course's anomaly-detection
//! set-up: trained on the normal classes only, the test images of every
//! class scored by reconstruction error, ROC AUC of normal against the rest.

use super::args::{fraction, positive_usize, DataArg};
use super::train_args::{total_steps, LrDefaults, OptimArgs, RunArgs};
use backprop::autograd::{Graph, Var};
use backprop::data::{batch_indices, load_mnist_dir_optional_test, parse_classes, Dataset};
use backprop::nn::{AeArch, Autoencoder, AutoencoderConfig, Module};
use backprop::ood::auroc;
use backprop::tensor::Rng;
use backprop::train::{EpochRecord, EpochStats, TrainConfig, TrainStep};
use backprop::{Error, Result};
use clap::{Args, ValueEnum};
use image::{Rgb, RgbImage};
use std::collections::BTreeMap;

const AE_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-3, decay_matrices_only: false };

/// `--arch`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ArchFlag {
    /// Fully connected: inputs-256-64-code and back.
    Mlp,
    /// Two stride-2 3x3 convolutions (16, 32 channels) down, transposed 4x4 convolutions up.
    Conv,
}

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.default_value("runs/autoencoder")))]
pub(crate) struct AutoencoderArgs {
    #[command(flatten)]
    data: DataArg,
    /// The encoder and decoder.
    #[arg(long, value_enum, default_value = "mlp")]
    arch: ArchFlag,
    /// Size of the code.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    bottleneck: usize,
    /// A variational autoencoder: Gaussian code, reparameterisation trick, loss = -ELBO (reconstruction + KL).
    #[arg(long)]
    variational: bool,
    /// The normal classes, e.g. 0-4: train on these only; the test images of the others are the anomalies.
    #[arg(long, value_name = "LIST")]
    classes: Option<String>,
    /// Examples per step.
    #[arg(long, default_value_t = 64, value_parser = positive_usize)]
    batch_size: usize,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10, value_parser = positive_usize)]
    epochs: usize,
    /// Fraction of the training set held out for the validation loss.
    #[arg(long, default_value_t = 0.1, value_parser = fraction)]
    val_fraction: f32,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// One step: a shuffled batch, the autoencoder's loss (per example, summed over pixels).
struct AeStep<'a> {
    ae: &'a Autoencoder,
    train: &'a Dataset,
    val: &'a Dataset,
    batches: Vec<Vec<usize>>,
    next: usize,
    batch_size: usize,
    rng: Rng,
    noise: Rng,
}

impl TrainStep for AeStep<'_> {
    fn start_epoch(&mut self, _epoch: usize) -> Result<Option<usize>> {
        self.batches = batch_indices(self.train.len(), self.batch_size, Some(&mut self.rng));
        self.next = 0;
        Ok(Some(self.batches.len()))
    }

    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        let ids = &self.batches[self.next % self.batches.len()];
        self.next += 1;
        let (x, _) = self.train.batch(ids);
        Ok(self.ae.loss(g, g.constant(x), &mut self.noise))
    }

    fn end_epoch(&mut self, _record: &mut EpochRecord, _stats: &EpochStats) {}

    fn has_validation(&self) -> bool {
        !self.val.is_empty()
    }

    fn evaluate(&mut self, record: &mut EpochRecord) -> Result<()> {
        if self.val.is_empty() {
            return Ok(());
        }
        // The same noise every epoch, so validation losses compare.
        let mut noise = Rng::new(0x5eed);
        let (mut total, mut n) = (0.0f64, 0usize);
        for ids in batch_indices(self.val.len(), 500, None) {
            let (x, _) = self.val.batch(&ids);
            let g = Graph::no_grad();
            total += f64::from(self.ae.loss(&g, g.constant(x), &mut noise).value().item()) * ids.len() as f64;
            n += ids.len();
        }
        record.val_loss = Some((total / n.max(1) as f64) as f32);
        Ok(())
    }
}

pub(crate) fn run(a: AutoencoderArgs) -> Result<()> {
    a.run.single_process("autoencoder training runs on one process")?;
    let folder = a.run.start()?;
    let dir = a.data.dir();
    let (all_train, test) = load_mnist_dir_optional_test(&dir)?;
    let Some([rows, cols]) = all_train.image_shape else {
        return Err(Error::format(&dir, "holds vectors, not images: an autoencoder here needs rows x columns images"));
    };
    let normal = match &a.classes {
        Some(list) => Some(parse_classes(list, all_train.num_classes).map_err(super::args::as_flag("--classes"))?),
        None => None,
    };
    let keep_normal = |d: &Dataset| match &normal {
        Some(keep) => d.keep_classes(keep, true).map_err(super::args::as_flag("--classes")),
        None => Ok(d.clone()),
    };
    // The images scored at the end: the test split, or without one the held-out
    // validation part of the training split (with --classes, of every class: its
    // other classes are the anomalies, never trained on).
    let (train, val, evaluated, eval_name) = match test {
        Some(test) => {
            let (train, val) = keep_normal(&all_train)?.split_validation(a.val_fraction, a.run.seed);
            (train, val, test, "test")
        }
        None if a.val_fraction == 0.0 => {
            let message =
                format!("{} has no t10k- test files and --val-fraction is 0: nothing to evaluate on", dir.display());
            return Err(Error::invalid("--val-fraction", message));
        }
        None => {
            let (train, val) = all_train.split_validation(a.val_fraction, a.run.seed);
            (keep_normal(&train)?, keep_normal(&val)?, val, "validation")
        }
    };
    let arch = match a.arch {
        ArchFlag::Mlp => AeArch::Mlp,
        ArchFlag::Conv => AeArch::Conv,
    };
    let config =
        AutoencoderConfig { arch, input: [1, rows, cols], bottleneck: a.bottleneck, variational: a.variational };
    let ae = Autoencoder::new(config, &mut Rng::new(a.run.seed)).map_err(super::args::as_flag("--arch"))?;
    let steps = total_steps(train.len().div_ceil(a.batch_size), a.epochs)?;
    let (optimizer, schedule) = a.optim.build(ae.parameters(), steps, AE_LR)?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        schedule,
        clip_norm: a.optim.clip_norm(),
        ..Default::default()
    };
    folder.say(format_args!(
        "training {} {}autoencoder (code {}) on {}{} ({} train, {} validation images); {} parameters",
        a.arch.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string()),
        if a.variational { "variational " } else { "" },
        a.bottleneck,
        dir.display(),
        a.classes.as_ref().map_or_else(String::new, |c| format!(", classes {c}")),
        train.len(),
        val.len(),
        ae.num_parameters()
    ));
    let mut step = AeStep {
        ae: &ae,
        train: &train,
        val: &val,
        batches: Vec::new(),
        next: 0,
        batch_size: a.batch_size,
        rng: Rng::new(a.run.seed),
        noise: Rng::new(a.run.seed ^ 0xae),
    };
    let started = std::time::Instant::now();
    let meta: BTreeMap<String, String> =
        [(backprop::models::INPUT_KEY.to_string(), format!("{{\"image\":[{rows},{cols}]}}"))].into();
    folder.trainer(optimizer, config)?.run(&mut step)?;
    let seconds = started.elapsed().as_secs_f32();
    ae.save(&folder.model, &meta)?;
    let grid = folder.dir.join("reconstructions.png");
    super::explain::save_png(&reconstruction_grid(&ae, &evaluated, [rows, cols], 8), &grid)?;
    let test_scores = ae.anomaly_scores(&evaluated.inputs, 500);
    let mut summary = serde_json::json!({
        "train_seconds": seconds, "model": folder.model, "history": folder.history, "grid": grid,
        "evaluated_on": eval_name, "test_examples": evaluated.len(),
        "test_loss": -test_scores.iter().map(|&s| f64::from(s)).sum::<f64>() / test_scores.len().max(1) as f64,
    });
    folder.say(format_args!(
        "{eval_name} {} per image {:.2} ({} images); trained in {seconds:.1}s; grid of inputs and reconstructions: {}",
        if a.variational { "negative ELBO" } else { "reconstruction error (summed binary cross-entropy)" },
        summary["test_loss"].as_f64().unwrap_or(f64::NAN),
        evaluated.len(),
        grid.display()
    ));
    if let Some(keep) = &normal {
        let split = |want: bool| -> Vec<f32> {
            test_scores
                .iter()
                .zip(&evaluated.labels)
                .filter(|(_, l)| keep.contains(l) == want)
                .map(|(&s, _)| s)
                .collect()
        };
        let (inside, outside) = (split(true), split(false));
        if !outside.is_empty() && !inside.is_empty() {
            let area = auroc(&inside, &outside)?;
            summary["anomaly_auroc"] = area.into();
            summary["normal_examples"] = inside.len().into();
            summary["anomalous_examples"] = outside.len().into();
            folder.say(format_args!(
                "anomaly detection on the {eval_name} split: {} normal (classes {}) and {} anomalous images, ROC AUC {area:.4}",
                inside.len(),
                a.classes.as_deref().unwrap_or(""),
                outside.len()
            ));
        }
    }
    if a.run.output.json {
        println!("{summary}");
    }
    folder.say_saved();
    Ok(())
}

/// `count` test images (top row of each pair) over their reconstructions, 4 pairs of rows, 3x scale.
fn reconstruction_grid(ae: &Autoencoder, test: &Dataset, [rows, cols]: [usize; 2], count: usize) -> RgbImage {
    let n = test.len().min(count * 4);
    let ids: Vec<usize> = (0..n).collect();
    let (x, _) = test.batch(&ids);
    let recon = ae.reconstruct(&x);
    let (scale, gap) = (3u32, 2u32);
    let (tw, th) = (cols as u32 * scale, rows as u32 * scale);
    let pairs = n.div_ceil(count) as u32;
    let width = count as u32 * (tw + gap) + gap;
    let height = pairs * (2 * th + 3 * gap) + gap;
    let mut img = RgbImage::from_pixel(width, height, Rgb([40, 40, 160]));
    let d = rows * cols;
    for i in 0..n {
        let (col, pair) = ((i % count) as u32, (i / count) as u32);
        for (k, source) in [&x, &recon].into_iter().enumerate() {
            let left = gap + col * (tw + gap);
            let top = gap + pair * (2 * th + 3 * gap) + k as u32 * (th + gap);
            tile(&mut img, &source.data()[i * d..(i + 1) * d], cols, [left, top], scale);
        }
    }
    img
}

fn tile(img: &mut RgbImage, pixels: &[f32], cols: usize, [left, top]: [u32; 2], scale: u32) {
    for (j, &v) in pixels.iter().enumerate() {
        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let (r, c) = ((j / cols) as u32, (j % cols) as u32);
        for dy in 0..scale {
            for dx in 0..scale {
                img.put_pixel(left + c * scale + dx, top + r * scale + dy, Rgb([g, g, g]));
            }
        }
    }
}
