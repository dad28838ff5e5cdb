//! Generative adversarial networks: the generator's step leaves the
//! discriminator alone, a small GAN learns a 2-d mixture of 8 Gaussians, the
//! scorer ranks real images above noise and a repeated digit, and the
//! commands' bad inputs fail in one line.

mod common;

use backprop::autograd::{Graph, Param, Var};
use backprop::data::{load_mnist_dir, Dataset};
use backprop::gan::{score_images, Gan, GanConfig, GanStep, GanTraining};
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Optimizer, Shared};
use backprop::tensor::Rng;
use backprop::train::{EpochRecord, EpochStats, TrainConfig, TrainStep, Trainer};
use backprop::Tensor;
use common::{assert_clean_failure, backprop, mnist_arg, TempDir};
use std::cell::RefCell;
use std::rc::Rc;

/// The 8 centres on a circle of radius 0.8.
fn ring_centres() -> Vec<[f32; 2]> {
    (0..8)
        .map(|k| {
            let a = k as f32 * std::f32::consts::TAU / 8.0;
            [0.8 * a.cos(), 0.8 * a.sin()]
        })
        .collect()
}

/// `n` points of the 8 Gaussians (standard deviation 0.02) on the ring.
fn ring(n: usize, rng: &mut Rng) -> Dataset {
    let centres = ring_centres();
    let mut xs = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.below(8);
        xs.push(centres[k][0] + 0.02 * rng.normal());
        xs.push(centres[k][1] + 0.02 * rng.normal());
        labels.push(k);
    }
    Dataset::new(Tensor::from_vec(xs, &[n, 2]), labels, 8).unwrap()
}

fn toy_config() -> GanConfig {
    GanConfig { generator_hidden: vec![64, 64], discriminator_hidden: vec![64, 64], ..GanConfig::mlp(4, [1, 1, 2], 8) }
}

/// A parameter's gradient (if any) and value.
type Snapshot = (Option<Tensor>, Tensor);

/// An optimizer that records, at each step, the discriminator's gradients
/// and values (the D phase), or checks that they are still what the D phase
/// left (the G phase), before stepping the optimizer it wraps.
struct Probe {
    inner: Box<dyn Optimizer>,
    watched: Vec<(String, Param)>,
    seen: Rc<RefCell<Vec<Snapshot>>>,
    record: bool,
    checks: Rc<RefCell<usize>>,
}

impl Optimizer for Probe {
    fn step(&mut self) {
        let now: Vec<Snapshot> = self.watched.iter().map(|(_, p)| (p.grad(), p.value())).collect();
        if self.record {
            // The D phase: D's gradients exist (it just ran backward).
            assert!(now.iter().all(|(g, _)| g.is_some()), "the discriminator's step left a gradient empty");
            self.inner.step();
            *self.seen.borrow_mut() = self.watched.iter().map(|(_, p)| (p.grad(), p.value())).collect();
        } else {
            let before = self.seen.borrow();
            for ((name, _), (was, is)) in self.watched.iter().zip(before.iter().zip(&now)) {
                assert_eq!(was.0.as_ref().map(Tensor::data), is.0.as_ref().map(Tensor::data), "{name}'s gradient");
                assert_eq!(was.1.data(), is.1.data(), "{name}'s value");
            }
            *self.checks.borrow_mut() += 1;
            self.inner.step();
        }
    }
    fn lr(&self) -> f32 {
        self.inner.lr()
    }
    fn set_lr(&mut self, lr: f32) {
        self.inner.set_lr(lr);
    }
    fn params(&self) -> &[(String, Param)] {
        self.inner.params()
    }
}

#[test]
fn the_generator_step_leaves_the_discriminator_untouched() {
    let mut rng = Rng::new(3);
    let data = ring(256, &mut rng);
    let gan = Gan::new(GanConfig { conditional: true, ..toy_config() }, &mut rng).unwrap();
    let mut step = GanStep::new(&gan, &data, GanTraining { batch_size: 32, ..Default::default() }).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let checks = Rc::new(RefCell::new(0));
    let watched = gan.discriminator_parameters();
    let probe = |inner: Box<dyn Optimizer>, record| Probe {
        inner,
        watched: watched.clone(),
        seen: seen.clone(),
        record,
        checks: checks.clone(),
    };
    let d = probe(Box::new(Adam::new(gan.discriminator_parameters(), 1e-3)), true);
    let g_before: Vec<Tensor> = gan.generator_parameters().iter().map(|(_, p)| p.value()).collect();
    let g = probe(Box::new(Adam::new(gan.generator_parameters(), 1e-3)), false);
    let config = TrainConfig { epochs: 2, ..Default::default() };
    Trainer::new(Box::new(d), config).and_optimizer(Box::new(g)).run(&mut step).unwrap();
    assert_eq!(*checks.borrow(), 2 * 8, "the generator's phase ran once per step");
    // And the generator did learn: its weights moved.
    let moved =
        gan.generator_parameters().iter().zip(&g_before).all(|((_, p), before)| p.value().data() != before.data());
    assert!(moved, "every generator parameter should have changed");
}

/// Which of the 8 centres each point is within 0.1 of (None: between modes).
fn nearest_mode(points: &Tensor) -> Vec<Option<usize>> {
    let centres = ring_centres();
    points
        .data()
        .chunks(2)
        .map(|p| {
            let d = |c: &[f32; 2]| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt();
            (0..8).find(|&k| d(&centres[k]) < 0.1)
        })
        .collect()
}

#[test]
fn a_small_gan_covers_the_modes_of_8_gaussians_on_a_ring() {
    let mut rng = Rng::new(1);
    let data = ring(4096, &mut rng);
    let gan = Gan::new(toy_config(), &mut rng).unwrap();
    let training = GanTraining { batch_size: 128, seed: 1, ..Default::default() };
    let mut step = GanStep::new(&gan, &data, training).unwrap();
    let d = Shared::new(Adam::new(gan.discriminator_parameters(), 1e-3).betas(0.5, 0.999));
    let g = Adam::new(gan.generator_parameters(), 1e-3).betas(0.5, 0.999);
    let config = TrainConfig { epochs: 40, ..Default::default() };
    let history = Trainer::new(Box::new(d), config).and_optimizer(Box::new(g)).run(&mut step).unwrap();
    let z = Tensor::randn(&[2000, 4], 0.0, 1.0, &mut Rng::new(9));
    let modes = nearest_mode(&gan.sample(&z, None).unwrap());
    let mut per_mode = [0usize; 8];
    for k in modes.iter().flatten() {
        per_mode[*k] += 1;
    }
    // A mode is covered when it draws at least 2% of the samples.
    let covered = per_mode.iter().filter(|&&c| c >= 40).count();
    let last = &history.last().unwrap().metrics;
    assert!(covered >= 6, "covered {covered} of 8 modes: {per_mode:?} (last epoch {last:?})");
    for key in ["d_x", "d_g_z", "discriminator_loss", "generator_loss", "sample_diversity"] {
        assert!(last[key].is_finite(), "{key}");
    }
}

/// A GAN step on a fresh graph per phase (the trainer's default), to compare
/// with the step's own shared graph.
struct PerPhaseGraphs<'a>(GanStep<'a>);

impl TrainStep for PerPhaseGraphs<'_> {
    fn phases(&self) -> usize {
        self.0.phases()
    }
    fn phase_name(&self, phase: usize) -> &'static str {
        self.0.phase_name(phase)
    }
    fn start_epoch(&mut self, epoch: usize) -> backprop::Result<Option<usize>> {
        self.0.start_epoch(epoch)
    }
    fn loss<'g>(&mut self, g: &'g Graph, phase: usize) -> backprop::Result<Var<'g>> {
        self.0.loss(g, phase)
    }
    fn end_epoch(&mut self, record: &mut EpochRecord, stats: &EpochStats) {
        self.0.end_epoch(record, stats)
    }
}

#[test]
fn one_graph_per_step_trains_as_one_graph_per_phase() {
    // Recording the generated batch once (the discriminator sees it detached)
    // gives the generator the gradients of generating it again.
    let data = ring(256, &mut Rng::new(4));
    let train = |shared: bool| {
        let gan = Gan::new(GanConfig { conditional: true, ..toy_config() }, &mut Rng::new(5)).unwrap();
        let training = GanTraining { batch_size: 32, d_steps: 2, ..Default::default() };
        let step = GanStep::new(&gan, &data, training).unwrap();
        assert!(step.shares_graph());
        let d = Shared::new(Adam::new(gan.discriminator_parameters(), 1e-3));
        let g = Adam::new(gan.generator_parameters(), 1e-3);
        let trainer = Trainer::new(Box::new(d.clone()), TrainConfig { epochs: 2, ..Default::default() });
        let mut trainer = trainer.and_optimizer(Box::new(d)).and_optimizer(Box::new(g));
        let history = if shared { trainer.run(&mut { step }) } else { trainer.run(&mut PerPhaseGraphs(step)) };
        let losses: Vec<f32> = history.unwrap().iter().map(|r| r.metrics["generator_loss"]).collect();
        let weights: Vec<Vec<f32>> = gan.parameters().iter().map(|(_, p)| p.value().data().to_vec()).collect();
        (losses, weights)
    };
    assert_eq!(train(true), train(false));
}

/// A small MLP classifier of the bundled MNIST subset, saved in `dir`.
fn small_classifier(dir: &TempDir, train: &Dataset) -> std::path::PathBuf {
    let mlp = Mlp::new(MlpConfig::classifier(784, &[64], 10, Activation::Relu), &mut Rng::new(0));
    let opt = Adam::new(mlp.parameters(), 1e-3);
    let config = TrainConfig { epochs: 2, batch_size: 64, ..Default::default() };
    Trainer::new(Box::new(opt), config).fit(&mlp, train, None).unwrap();
    let path = dir.join("classifier.safetensors");
    mlp.save(&path, &Default::default()).unwrap();
    path
}

#[test]
fn the_scorer_puts_real_images_closer_than_noise_or_one_repeated_digit() {
    let dir = TempDir::new("gan-scorer");
    let split = load_mnist_dir(&common::mnist_dir()).unwrap();
    let path = small_classifier(&dir, &split.train);
    let loaded = backprop::models::load(&path).unwrap();
    let classifier = loaded.classifier("test").unwrap();
    let n = split.test.len() / 2;
    let (first, second): (Vec<usize>, Vec<usize>) = ((0..n).collect(), (n..2 * n).collect());
    let (samples, real) = (split.test.subset(&first), split.test.subset(&second));
    let real_vs_real = score_images(&classifier, &samples.inputs, &real).unwrap();
    let noise = Tensor::rand_uniform(&[n, 784], 0.0, 1.0, &mut Rng::new(4));
    let vs_noise = score_images(&classifier, &noise, &real).unwrap();
    let seven = split.test.labels.iter().position(|&l| l == 7).unwrap();
    let repeated = split.test.subset(&vec![seven; n]).inputs;
    let vs_repeated = score_images(&classifier, &repeated, &real).unwrap();
    let (d_real, d_noise, d_one) =
        (real_vs_real.frechet_distance, vs_noise.frechet_distance, vs_repeated.frechet_distance);
    assert!(d_real < d_noise && d_real < d_one, "real {d_real}, noise {d_noise}, one digit {d_one}");
    assert!(d_real * 5.0 < d_one, "real {d_real}, one digit {d_one}");
    // Coverage: the real half spreads over every class; the repeated digit is one class.
    assert!(real_vs_real.min_class_share > 0.05, "{:?}", real_vs_real.class_shares);
    assert_eq!(vs_repeated.min_class_share, 0.0);
    assert!(vs_repeated.class_shares.contains(&1.0), "{:?}", vs_repeated.class_shares);
    assert!(real_vs_real.class_entropy_bits > 3.0 && vs_repeated.class_entropy_bits == 0.0);
}

/// A fresh MNIST-sized GAN checkpoint (its generator's output is 784 values).
fn gan_checkpoint(dir: &TempDir, conditional: bool) -> String {
    let config = GanConfig {
        conditional,
        generator_hidden: vec![16],
        discriminator_hidden: vec![16],
        ..GanConfig::mlp(8, [1, 28, 28], 10)
    };
    let gan = Gan::new(config, &mut Rng::new(0)).unwrap();
    let path = dir.join("gan.safetensors");
    gan.save(&path, &Default::default()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn gan_score_refuses_a_classifier_of_another_input_size() {
    let dir = TempDir::new("gan-bad-classifier");
    let gan = gan_checkpoint(&dir, false);
    let mlp = Mlp::new(MlpConfig::classifier(100, &[8], 10, Activation::Relu), &mut Rng::new(0));
    let classifier = dir.join("c100.safetensors");
    mlp.save(&classifier, &Default::default()).unwrap();
    let run =
        backprop(&["gan-score", "--model", &gan, "--classifier", classifier.to_str().unwrap(), "--data", &mnist_arg()]);
    let line = assert_clean_failure(&run, &["--classifier", "c100.safetensors", "100 inputs", "1x28x28 = 784"]);
    assert!(line.contains("gan.safetensors"), "{line}");
}

#[test]
fn gan_score_needs_hidden_features_and_names_the_classifiers_classes() {
    let dir = TempDir::new("gan-score-classes");
    let cgan = dir.join("cgan.safetensors");
    std::fs::rename(gan_checkpoint(&dir, true), &cgan).unwrap();
    let gan = gan_checkpoint(&dir, false);
    let save = |name: &str, hidden: &[usize], names: &[&str]| {
        let mlp = Mlp::new(MlpConfig::classifier(784, hidden, names.len(), Activation::Relu), &mut Rng::new(0));
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let meta = [(backprop::models::CLASSES_KEY.to_string(), serde_json::to_string(&names).unwrap())].into();
        let path = dir.join(name);
        mlp.save(&path, &meta).unwrap();
        path.to_str().unwrap().to_string()
    };
    let score = |model: &str, classifier: &str| {
        backprop(&["gan-score", "--model", model, "--classifier", classifier, "--count", "50", "--data", &mnist_arg()])
    };
    // A logistic regression's "penultimate features" are the pixels: refused.
    let digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let logistic = save("logistic.safetensors", &[], &digits);
    assert_clean_failure(&score(&gan, &logistic), &["--classifier", "logistic.safetensors", "no layer before"]);
    // A classifier of digits 3-7 reports the shares of digits 3-7, not of "0" to "4".
    let subset = save("subset.safetensors", &[8], &["3", "4", "5", "6", "7"]);
    let run = score(&gan, &subset).expect_success("gan-score with a classifier of digits 3-7");
    assert!(run.stdout.contains("class shares 3:") && run.stdout.contains(" 7:"), "{}", run.stdout);
    assert!(!run.stdout.contains(" 0:") && !run.stdout.contains(" 2:"), "{}", run.stdout);
    // A conditional GAN's class i is digit i: a classifier of other classes is refused.
    let shifted = save("shifted.safetensors", &[8], &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assert_clean_failure(&score(cgan.to_str().unwrap(), &shifted), &["--classifier", "1,2,3", "not the GAN's 0 to 9"]);
}

#[test]
fn train_gan_refuses_latent_0() {
    let dir = TempDir::new("gan-latent-0");
    let run = backprop(&["train", "gan", "--latent", "0", "--epochs", "1", "--out", &dir.arg("out")]);
    assert_clean_failure(&run, &["--latent", "at least 1"]);
    // Hostile sizes and batches batch norm cannot take: refused before anything is allocated.
    let out = dir.arg("out");
    let train = |extra: &[&str]| {
        let args = [&["train", "gan", "--epochs", "1", "--out", &out][..], extra].concat();
        backprop(&args)
    };
    assert_clean_failure(&train(&["--arch", "dcgan", "--latent", "65536"]), &["--latent", "parameters", "limit"]);
    assert_clean_failure(&train(&["--arch", "dcgan", "--batch-size", "1"]), &["--batch-size", "batch norm"]);
    assert_clean_failure(&train(&["--batch-size", "9000"]), &["--batch-size", "8004"]);
    // One batch fits but 200 discriminator steps of them do not: the flag at fault is --d-steps.
    let line = assert_clean_failure(&train(&["--d-steps", "200"]), &["--d-steps", "200 x 64", "8004"]);
    assert!(!line.contains("--batch-size"), "{line}");
    // A NaN in the generator's step is placed in the (frozen) discriminator layer that made it.
    let diverged = train(&["--lr", "1e30"]);
    assert!(diverged.stderr.contains("in discriminator.layers."), "{}", diverged.stderr);
    assert!(!dir.join("out").join("model.safetensors").exists());
    // A file where the samples folder goes is refused before the first epoch, and left as it was.
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/samples"), b"notes").unwrap();
    let run = train(&[]);
    assert_clean_failure(&run, &["--out", "samples is a file"]);
    assert!(!run.stdout.contains("epoch 1/1"), "{}", run.stdout);
    assert_eq!(std::fs::read(dir.join("out/samples")).unwrap(), b"notes");
}

#[test]
fn a_gan_checkpoint_is_no_classifier_for_predict_or_eval() {
    let dir = TempDir::new("gan-predict");
    let gan = gan_checkpoint(&dir, false);
    let png = dir.join("digit.png");
    image::GrayImage::new(28, 28).save(&png).unwrap();
    let run = backprop(&["predict", "--model", &gan, png.to_str().unwrap()]);
    assert_clean_failure(&run, &["gan.safetensors", "holds a GAN", "not a classifier as predict"]);
    let run = backprop(&["eval", "--model", &gan, "--data", &mnist_arg()]);
    assert_clean_failure(&run, &["gan.safetensors", "holds a GAN", "eval"]);
}

#[test]
fn generate_draws_a_grid_a_class_and_an_interpolation_strip() {
    let dir = TempDir::new("gan-generate");
    let gan = gan_checkpoint(&dir, true);
    let out = dir.arg("grid.png");
    let args = ["generate", "--model", &gan, "--count", "20", "--class", "7", "--out", &out, "--threads", "1"];
    backprop(&args).expect_success("grid");
    let grid = image::open(&out).unwrap();
    let strip = dir.arg("strip.png");
    backprop(&["generate", "--model", &gan, "--interpolate", "9", "--class", "3", "--out", &strip])
        .expect_success("strip");
    let strip = image::open(&strip).unwrap();
    // 20 images: 5 columns of 4 rows; the strip is one row of 9.
    assert!(grid.width() > grid.height() && strip.width() > 8 * strip.height(), "{grid:?} {strip:?}");
    let run = backprop(&["generate", "--model", &gan, "--class", "10", "--out", &out]);
    assert_clean_failure(&run, &["--class", "10", "10 classes"]);
    // Flags that would be ignored, and hostile counts, are refused.
    let generate = |extra: &[&str]| backprop(&[&["generate", "--model", &gan, "--out", &out][..], extra].concat());
    assert_clean_failure(&generate(&["--prompt", "hi"]), &["--prompt", "GPT"]);
    assert_clean_failure(&generate(&["--interpolate", "5", "--count", "3"]), &["--count", "--interpolate"]);
    assert_clean_failure(&generate(&["--count", "100000000"]), &["--count", "at most 10000"]);
    assert_clean_failure(&generate(&["--interpolate", "100000000"]), &["--interpolate", "1000"]);
    assert_clean_failure(&generate(&["--interpolate", "5"]), &["--interpolate", "needs --class"]);
    let dotfile = dir.arg(".png");
    let run = backprop(&["generate", "--model", &gan, "--class", "1", "--out", &dotfile]);
    assert_clean_failure(&run, &["--out", "not a file name ending in .png"]);
}

#[test]
fn a_dcgan_trains_and_its_checkpoint_draws_the_same_images() {
    let dir = TempDir::new("gan-dcgan");
    let mut rng = Rng::new(5);
    // 8x8 images of a bright square somewhere, in [-1, 1], two classes.
    let (n, side) = (64, 8);
    let mut xs = vec![-1.0f32; n * side * side];
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    for (i, img) in xs.chunks_mut(side * side).enumerate() {
        let (r, c) = (rng.below(5), rng.below(5));
        for y in r..r + 3 + labels[i] {
            for x in c..c + 3 {
                img[y.min(side - 1) * side + x] = 1.0;
            }
        }
    }
    let data = Dataset::new(Tensor::from_vec(xs, &[n, side * side]), labels, 2).unwrap();
    for conditional in [false, true] {
        let config = GanConfig { conditional, ..GanConfig::dcgan(8, [1, 8, 8], 2) };
        let gan = Gan::new(config, &mut rng).unwrap();
        let training = GanTraining { batch_size: 16, d_steps: 2, label_smoothing: 0.1, seed: 2 };
        let mut step = GanStep::new(&gan, &data, training).unwrap();
        let d = Shared::new(Adam::new(gan.discriminator_parameters(), 2e-4).betas(0.5, 0.999));
        let g = Adam::new(gan.generator_parameters(), 2e-4).betas(0.5, 0.999);
        let config = TrainConfig { epochs: 2, ..Default::default() };
        let mut trainer = Trainer::new(Box::new(d.clone()), config).and_optimizer(Box::new(d));
        trainer = trainer.and_optimizer(Box::new(g));
        let history = trainer.run(&mut step).unwrap();
        // 4 batches of 16, 2 per step: 2 steps an epoch.
        assert!(history[1].metrics["generator_loss"].is_finite());
        let path = dir.join(&format!("dcgan-{conditional}.safetensors"));
        gan.save(&path, &Default::default()).unwrap();
        let loaded = backprop::models::load(&path).unwrap();
        let again = loaded.gan("test").unwrap();
        let z = Tensor::randn(&[6, 8], 0.0, 1.0, &mut Rng::new(3));
        let labels = conditional.then(|| vec![0, 1, 0, 1, 1, 0]);
        let a = gan.sample(&z, labels.as_deref()).unwrap();
        assert_eq!(a.shape(), &[6, 64]);
        assert_eq!(a.data(), again.sample(&z, labels.as_deref()).unwrap().data());
        // Batch norm's running statistics were saved (the generator has two).
        assert!(gan.buffers().len() >= 6, "{}", gan.buffers().len());
    }
}

#[test]
fn a_generator_only_checkpoint_loads_with_a_fresh_discriminator() {
    let dir = TempDir::new("gan-generator-only");
    let gan = Gan::new(toy_config(), &mut Rng::new(0)).unwrap();
    let mut meta = std::collections::BTreeMap::new();
    meta.insert(backprop::checkpoint::KIND_KEY.to_string(), "gan".to_string());
    meta.insert(backprop::checkpoint::CONFIG_KEY.to_string(), serde_json::to_string(gan.config()).unwrap());
    let path = dir.join("g.safetensors");
    backprop::checkpoint::save(&path, &gan.generator_state(), &meta).unwrap();
    let loaded = backprop::models::load(&path).unwrap();
    let z = Tensor::randn(&[5, 4], 0.0, 1.0, &mut Rng::new(1));
    let again = loaded.gan("test").unwrap();
    assert_eq!(gan.sample(&z, None).unwrap().data(), again.sample(&z, None).unwrap().data());
}

#[test]
fn train_gan_writes_history_sample_grids_and_report_plots() {
    let dir = TempDir::new("gan-cli-train");
    let data = dir.join("bands");
    common::write_band_dataset(&data, 12, 256, 64);
    let out = dir.arg("run");
    let args = ["train", "gan", "--data", data.to_str().unwrap(), "--epochs", "2", "--batch-size", "32"];
    let run_dir = std::path::PathBuf::from(&out);
    let flags = ["--latent", "8", "--conditional", "--d-steps", "2", "--label-smoothing", "0.1", "--out", &out];
    let keep = ["--keep-epochs"];
    let run = backprop(&[&args[..], &flags[..], &keep[..]].concat());
    run.expect_success("train gan");
    let history = backprop::train::read_history(&run_dir.join("history.jsonl")).unwrap();
    assert_eq!(history.len(), 2);
    for key in ["discriminator_loss", "generator_loss", "d_x", "d_g_z", "sample_diversity"] {
        assert!(history.iter().all(|r| r.metrics[key].is_finite()), "{key}");
    }
    // With --d-steps 2 the discriminator's loss is the mean of both phases, and it is the train loss.
    assert!(history.iter().all(|r| r.train_loss == r.metrics["discriminator_loss"]), "{history:?}");
    for file in ["samples/epoch_001.png", "samples/epoch_002.png", "samples/progress.gif", "model.safetensors"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let loaded = backprop::models::load(&run_dir.join("model.safetensors")).unwrap();
    assert!(loaded.gan("test").unwrap().config().conditional);
    // --keep-epochs: each epoch's checkpoint; the last is the final model.
    let kept = |epoch: usize| run_dir.join(format!("epochs/epoch_{epoch:03}.safetensors"));
    assert!(backprop::models::load(&kept(1)).unwrap().gan("test").is_ok());
    let tensors = |path: std::path::PathBuf| backprop::checkpoint::Checkpoint::load(&path).unwrap().tensors;
    let (last, model) = (tensors(kept(2)), tensors(run_dir.join("model.safetensors")));
    assert!(last.keys().eq(model.keys()) && last.iter().all(|(k, t)| t.max_abs_diff(&model[k]) == 0.0));
    let report = backprop(&["report", &out]).expect_success("report");
    assert!(report.stdout.lines().any(|l| l.starts_with("GAN: ")), "the GAN's verdict: {}", report.stdout);
    assert!(run_dir.join("gan_losses.png").is_file() && run_dir.join("gan_outputs.png").is_file());
    // A run that fails before its first epoch is saved leaves the old run's files.
    let again = ["train", "gan", "--data", data.to_str().unwrap(), "--epochs", "1", "--batch-size", "32"];
    let diverging = backprop(&[&again[..], &flags[..], &keep[..], &["--lr", "1e30"]].concat());
    assert!(!diverging.success() && diverging.stderr.contains("became NaN"), "{}", diverging.stderr);
    assert!(run_dir.join("samples/epoch_002.png").is_file() && kept(2).is_file());
    // A shorter run into the same folder leaves none of the old run's sample
    // grids, nor its kept checkpoints (even without --keep-epochs).
    backprop(&[&again[..], &flags[..]].concat()).expect_success("train gan again");
    assert!(run_dir.join("samples/epoch_001.png").is_file() && !run_dir.join("samples/epoch_002.png").exists());
    assert!(!kept(1).exists() && !kept(2).exists(), "the old run's checkpoints are left");
    // One epoch cannot show a failure (the warnings look at two): the verdict says so.
    let report = backprop(&["report", &out]).expect_success("report of one epoch");
    assert!(report.stdout.contains("GAN: one epoch: too early to tell"), "{}", report.stdout);
}

/// `train gan`'s steps are PyTorch's: a small MLP GAN trained by [`GanStep`]
/// and the [`Trainer`] ends where PyTorch's reference recipe ends when it is
/// fed the same random numbers (initial weights, data order, classes, noise;
/// tests/fixtures/make_gan_step_fixture.py replays backprop's generator).
/// One case with one discriminator step; one conditional, with two
/// discriminator steps and label smoothing 0.1.
#[test]
fn train_gan_takes_pytorchs_steps_on_the_same_random_numbers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gan_steps.safetensors");
    let fixture = backprop::checkpoint::Checkpoint::load(&path).unwrap().tensors;
    let labels: Vec<usize> = fixture["labels"].data().iter().map(|&v| v as usize).collect();
    let data = Dataset::new(fixture["inputs"].clone(), labels, 3).unwrap();
    // CASES, LR, EPOCHS and BATCH of the script.
    for (case, seed, conditional, d_steps, label_smoothing) in
        [("plain", 5, false, 1, 0.0), ("conditional", 6, true, 2, 0.1)]
    {
        let config = GanConfig {
            generator_hidden: vec![5],
            discriminator_hidden: vec![6],
            conditional,
            ..GanConfig::mlp(3, [1, 2, 2], 3)
        };
        let gan = Gan::new(config, &mut Rng::new(seed)).unwrap();
        let training = GanTraining { batch_size: 4, d_steps, label_smoothing, seed };
        let mut step = GanStep::new(&gan, &data, training).unwrap();
        let d = Shared::new(Adam::new(gan.discriminator_parameters(), 0.01).betas(0.5, 0.999));
        let g = Adam::new(gan.generator_parameters(), 0.01).betas(0.5, 0.999);
        let mut trainer = Trainer::new(Box::new(d.clone()), TrainConfig { epochs: 3, ..Default::default() });
        for _ in 1..d_steps {
            trainer = trainer.and_optimizer(Box::new(d.clone()));
        }
        trainer.and_optimizer(Box::new(g)).run(&mut step).unwrap();
        for (name, p) in gan.generator_parameters().into_iter().chain(gan.discriminator_parameters()) {
            let expected = &fixture[&format!("{case}.{name}")];
            let diff = p.value().max_abs_diff(expected);
            assert!(
                diff < 1e-5,
                "{case}: {name} differs from PyTorch's by {diff}\nours {:?}\nPyTorch {expected:?}",
                p.value()
            );
        }
    }
}
