//! `backprop train gan`: a generative adversarial network on an IDX image folder.

use super::args::{decay_rate, name_flags, positive_f32, positive_usize, DataArg};
use super::gan_images::{grid, save_gif, save_png};
use super::plot::{Chart, Series, TRAIN_COLOR, VALIDATION_COLOR};
use super::train_args::{RunArgs, MAX_PARAMETERS};
use backprop::data::load_mnist_dir_optional_test;
use backprop::gan::{warnings, Gan, GanArch, GanConfig, GanStep, GanTraining};
use backprop::optim::{Adam, Shared};
use backprop::tensor::Rng;
use backprop::train::{EpochRecord, TrainConfig};
use backprop::{Error, Result, Tensor};
use clap::Args;
use plotters::style::RGBColor;
use std::collections::BTreeMap;

/// Images in each epoch's grid of samples from fixed noise.
const GRID: usize = 64;

#[derive(Args, Debug)]
#[command(mut_arg("out", |a| a.default_value("runs/gan")))]
pub(crate) struct GanArgs {
    #[command(flatten)]
    data: DataArg,
    /// The networks: mlp (generator z-256-512-1024-image, discriminator image-512-256-1, leaky ReLU 0.2)
    /// or dcgan (transposed convolutions and batch norm; image sides divisible by 4).
    #[arg(long, default_value = "mlp")]
    arch: GanArch,
    /// Size of the noise vector z.
    #[arg(long, default_value_t = 100)]
    latent: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 30, value_parser = positive_usize)]
    epochs: usize,
    /// Condition both networks on the class (a one-hot vector beside the noise and the image).
    #[arg(long)]
    conditional: bool,
    /// Real images per step (and as many generated).
    #[arg(long, default_value_t = 64, value_parser = positive_usize)]
    batch_size: usize,
    /// Adam's learning rate, both networks.
    #[arg(long, default_value_t = 2e-4, value_parser = positive_f32)]
    lr: f32,
    /// Adam's beta1 (DCGAN's 0.5).
    #[arg(long, default_value_t = 0.5, value_parser = decay_rate)]
    beta1: f32,
    /// Adam's beta2.
    #[arg(long, default_value_t = 0.999, value_parser = decay_rate)]
    beta2: f32,
    /// Discriminator steps per generator step.
    #[arg(long, default_value_t = 1, value_parser = positive_usize)]
    d_steps: usize,
    /// One-sided label smoothing: the discriminator's target for real images is 1 - this (e.g. 0.1).
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f32,
    /// Keep each epoch's checkpoint as <out>/epochs/epoch_NNN.safetensors (a GAN's sample
    /// quality swings from epoch to epoch: score them with gan-score to pick one).
    #[arg(long)]
    keep_epochs: bool,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

pub(crate) fn run(a: GanArgs) -> Result<()> {
    a.run.single_process("GAN training (discriminator and generator steps in turn) runs on one process")?;
    let folder = a.run.start()?;
    let dir = a.data.dir();
    let (mut train, _) = load_mnist_dir_optional_test(&dir)?;
    let Some([rows, cols]) = train.image_shape else {
        return Err(Error::format(&dir, "holds vectors, not images: a GAN here draws rows x columns images"));
    };
    // Images scaled to [-1, 1], the range of the generator's tanh.
    train.inputs.map_inplace(|v| v * 2.0 - 1.0);
    let base = match a.arch {
        GanArch::Mlp => GanConfig::mlp(a.latent, [1, rows, cols], train.num_classes),
        GanArch::Dcgan => GanConfig::dcgan(a.latent, [1, rows, cols], train.num_classes),
    };
    let config = GanConfig { conditional: a.conditional, ..base };
    match config.parameter_count() {
        Some(n) if n <= MAX_PARAMETERS => {}
        n => {
            let count = n.map_or("more than 2^64".into(), |n| n.to_string());
            let message = format!("the GAN would have {count} parameters, more than the limit of {MAX_PARAMETERS}");
            return Err(Error::invalid("--latent", message));
        }
    }
    let gan = Gan::new(config, &mut Rng::new(a.run.seed)).map_err(|e| name_flags(e, &["latent", "arch"]))?;
    let training = GanTraining {
        batch_size: a.batch_size,
        d_steps: a.d_steps,
        label_smoothing: a.label_smoothing,
        seed: a.run.seed,
    };
    let mut step = GanStep::new(&gan, &train, training)
        .map_err(|e| name_flags(e, &["label_smoothing", "batch_size", "d_steps"]))?;
    let discriminator = Shared::new(Adam::new(gan.discriminator_parameters(), a.lr).betas(a.beta1, a.beta2));
    let generator = Adam::new(gan.generator_parameters(), a.lr).betas(a.beta1, a.beta2);
    let trainer_config =
        TrainConfig { epochs: a.epochs, batch_size: a.batch_size, seed: a.run.seed, ..Default::default() };
    folder.say(format_args!(
        "training a {}{} GAN on {} ({} images of {rows}x{cols}); generator {} and discriminator {} parameters",
        a.arch,
        if a.conditional { " conditional" } else { "" },
        dir.display(),
        train.len(),
        count(&gan.generator_parameters()),
        count(&gan.discriminator_parameters()),
    ));
    // An earlier run's sample grids and kept checkpoints go when this run's
    // first epoch is saved (a run that fails before that leaves them); a
    // file in the way of either folder fails now, before any training.
    let samples_dir = folder.dir.join("samples");
    let epochs_dir = folder.dir.join("epochs");
    let stale = [(&samples_dir, "png", "each epoch's sample grid"), (&epochs_dir, "safetensors", "--keep-epochs")];
    for (dir, _, what) in stale {
        if dir.exists() && !dir.is_dir() {
            let message = format!("{} is a file; {what} is written in a folder there", dir.display());
            return Err(Error::invalid("--out", message));
        }
    }
    let fixed = Tensor::randn(&[GRID, a.latent], 0.0, 1.0, &mut Rng::new(a.run.seed.wrapping_add(7)));
    let labels: Option<Vec<usize>> = a.conditional.then(|| (0..GRID).map(|i| i % gan.config().classes).collect());
    let grid_cols = if a.conditional { gan.config().classes.min(GRID) } else { 8 };
    let mut frames = Vec::new();
    let mut records: Vec<EpochRecord> = Vec::new();
    let meta = BTreeMap::new();
    let started = std::time::Instant::now();
    let mut trainer = folder.trainer(Box::new(discriminator.clone()), trainer_config)?;
    for _ in 1..a.d_steps {
        trainer = trainer.and_optimizer(Box::new(discriminator.clone()));
    }
    trainer = trainer.and_optimizer(Box::new(generator)).on_epoch(|record| {
        if records.is_empty() {
            for (dir, ext, _) in stale {
                remove_stale_epochs(dir, ext)?;
            }
            if a.keep_epochs {
                std::fs::create_dir_all(&epochs_dir).map_err(|e| Error::io(&epochs_dir, e))?;
            }
        }
        gan.save(&folder.model, &meta)?;
        if a.keep_epochs {
            gan.save(&epochs_dir.join(format!("epoch_{:03}.safetensors", record.epoch)), &meta)?;
        }
        let picture = grid(&gan.sample(&fixed, labels.as_deref())?, gan.config().image, grid_cols);
        save_png(&picture, &samples_dir.join(format!("epoch_{:03}.png", record.epoch)))?;
        frames.push(picture);
        save_gif(&frames, 500, &samples_dir.join("progress.gif"))?;
        records.push(record.clone());
        for w in warnings(&records) {
            eprintln!("warning: epoch {}: {w}", record.epoch);
        }
        Ok(())
    });
    let history = trainer.run(&mut step)?;
    drop(trainer);
    let train_seconds = started.elapsed().as_secs_f32();
    let last = history.last().map(|r| &r.metrics);
    let metric = |k: &str| last.and_then(|m| m.get(k)).copied().unwrap_or(f32::NAN);
    if a.run.output.json {
        let summary = serde_json::json!({
            "train_seconds": train_seconds, "epochs": history.len(), "model": folder.model,
            "history": folder.history, "samples": samples_dir,
            "epoch_checkpoints": a.keep_epochs.then_some(&epochs_dir),
            "discriminator_loss": metric("discriminator_loss"), "generator_loss": metric("generator_loss"),
            "d_x": metric("d_x"), "d_g_z": metric("d_g_z"), "sample_diversity": metric("sample_diversity"),
        });
        println!("{summary}");
    }
    folder.say(format_args!(
        "trained {} epoch{} in {:.1}s: D loss {:.3}, G loss {:.3}, D(x) {:.3}, D(G(z)) {:.3}; samples in {}{}",
        history.len(),
        if history.len() == 1 { "" } else { "s" },
        train_seconds,
        metric("discriminator_loss"),
        metric("generator_loss"),
        metric("d_x"),
        metric("d_g_z"),
        samples_dir.display(),
        if a.keep_epochs { format!(", each epoch's checkpoint in {}", epochs_dir.display()) } else { String::new() }
    ));
    folder.say_saved();
    Ok(())
}

/// Trainable scalars in `params`.
fn count(params: &[(String, backprop::Param)]) -> usize {
    params.iter().map(|(_, p)| p.numel()).sum()
}

/// The verdict on a GAN's history (its warnings, or that it shows no sign of
/// failing), the caption of its charts and a line of `report`; `None` for other runs.
pub(crate) fn gan_verdict(history: &[EpochRecord]) -> Option<String> {
    if !history.iter().any(|r| r.metrics.contains_key("generator_loss")) {
        return None;
    }
    let caption = warnings(history).iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    Some(match (caption.is_empty(), history.len()) {
        (false, _) => caption,
        // The warnings look at two epochs: one cannot show a failure, nor its absence.
        (true, 1) => "one epoch: too early to tell a failing GAN (the warnings need two)".into(),
        (true, _) => "no sign of a failing GAN in the last epochs".into(),
    })
}

/// The charts `report` draws of a GAN's history: the two networks' losses,
/// and the discriminator's mean outputs D(x), D(G(z)) with the samples'
/// diversity, captioned with its `verdict` ([`gan_verdict`]).
pub(crate) fn gan_charts(
    history: &[EpochRecord],
    verdict: &str,
    title: impl Fn(&str) -> String,
) -> Vec<(String, Chart)> {
    let curve = |name: &str, color, key: &str| Series {
        name: name.into(),
        color,
        points: history
            .iter()
            .filter_map(|r| Some((r.epoch as f64, f64::from(*r.metrics.get(key)?))))
            .filter(|(_, v)| v.is_finite())
            .collect(),
    };
    let chart = |title: String, y_label: &str, series: Vec<Series>| Chart {
        title,
        x_label: "epoch",
        y_label: y_label.into(),
        series,
        marker: None,
        caption: verdict.to_string(),
        legend_low: false,
        y_format: |v| format!("{v:.2}"),
        log_y: false,
    };
    let losses = vec![
        curve("discriminator", VALIDATION_COLOR, "discriminator_loss"),
        curve("generator", TRAIN_COLOR, "generator_loss"),
    ];
    let outputs = vec![
        curve("mean D(x), real images", VALIDATION_COLOR, "d_x"),
        curve("mean D(G(z)), generated", TRAIN_COLOR, "d_g_z"),
        curve("sample diversity / data's", DIVERSITY_COLOR, "sample_diversity"),
    ];
    vec![
        ("gan_losses".into(), chart(title("discriminator and generator loss per epoch"), "loss", losses)),
        ("gan_outputs".into(), chart(title("discriminator outputs and sample diversity"), "value", outputs)),
    ]
}

/// The diversity curve's colour (green).
const DIVERSITY_COLOR: RGBColor = RGBColor(44, 160, 44);

/// Removes what an earlier run left in `dir`: the files `epoch_NNN.<ext>`
/// (and `progress.gif` among sample grids), so that a shorter run does not
/// leave the old run's later epochs beside its own. Other files stay.
fn remove_stale_epochs(dir: &std::path::Path, ext: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = (ext == "png" && name == "progress.gif")
            || name
                .strip_prefix("epoch_")
                .and_then(|r| r.strip_suffix(ext)?.strip_suffix('.'))
                .is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()));
        if ours && entry.path().is_file() {
            std::fs::remove_file(entry.path()).map_err(|e| {
                let why = format!("cannot remove the earlier run's {}: {e}", entry.path().display());
                Error::invalid("--out", why)
            })?;
        }
    }
    Ok(())
}
