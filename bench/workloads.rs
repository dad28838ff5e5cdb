//! backprop's side of the benchmarks; `python3 bench/run.py` runs it next to
//! the same workloads in PyTorch (bench/torch_reference.py) and prints ratios.
//!
//! `cargo bench --bench workloads -- w1|w2|w3|w4|w5|w5conv|w6|w7 [--threads N] [--data DIR] [--epochs N] [--seed S] [--sizes 128,256] [--iters 2000] [--steps 100000] [--grad-stats] [--out G.safetensors]`
//!
//! W6 trains the default MLP GAN of `backprop train gan` on MNIST (default: ../shared/data/mnist) at
//! batch 64, as bench/torch_gan.py does; `--out` saves it for `backprop gan-score`.
//!
//! `--grad-stats` measures W1/W2 with gradient statistics on (`train --grad-stats`), for their cost.
//!
//! Prints one JSON line per result, in the format of torch_reference.py:
//! `{"framework":"backprop","workload":"w1","threads":2,"epochs":1,"seconds":0.4,"test_accuracy":0.8,"final_loss":0.05}`.
//! "seconds" times the training epochs only (data loading and test evaluation excluded).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use backprop::data::{load_mnist_dir, TextData};
use backprop::loss::Loss;
use backprop::nn::{Activation, Cnn, CnnConfig, Gpt, GptConfig, Init, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::tensor::{
    conv2d, conv2d_input_grad, conv2d_weight_grad, conv_bias_grad, matmul_into, Conv2dOptions, Rng,
};
use backprop::train::{evaluate, train_lm, LmConfig, TrainConfig, Trainer};
use backprop::Tensor;
use std::path::PathBuf;
use std::time::Instant;

struct Options {
    workload: String,
    threads: usize,
    data: Option<PathBuf>,
    epochs: usize,
    seed: u64,
    sizes: Vec<usize>,
    min_seconds: f64,
    iters: usize,
    /// Environment steps of W7's PPO run.
    steps: usize,
    /// W1/W2 with gradient statistics on.
    grad_stats: bool,
    /// W6: where to save the trained GAN.
    out: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        workload: String::new(),
        threads: 2,
        data: None,
        epochs: 1,
        seed: 0,
        sizes: vec![128, 256, 512, 1024],
        min_seconds: 0.5,
        iters: 2000,
        steps: 100_000,
        grad_stats: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--threads" => o.threads = value("--threads")?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--data" => o.data = Some(PathBuf::from(value("--data")?)),
            "--epochs" => o.epochs = value("--epochs")?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--seed" => o.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--min-seconds" => {
                o.min_seconds = value("--min-seconds")?.parse().map_err(|e| format!("--min-seconds: {e}"))?
            }
            "--iters" => o.iters = value("--iters")?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--steps" => o.steps = value("--steps")?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--grad-stats" => o.grad_stats = true,
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            "--sizes" => {
                o.sizes = value("--sizes")?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("--sizes: {e}")))
                    .collect::<Result<_, _>>()?
            }
            w if !w.starts_with('-') && o.workload.is_empty() => o.workload = w.to_string(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !["w1", "w2", "w3", "w4", "w5", "w5conv", "w6", "w7"].contains(&o.workload.as_str()) {
        return Err("name a workload: w1, w2, w3, w4, w5, w5conv, w6 or w7".into());
    }
    let cap = backprop::tensor::parallel::max_threads();
    if o.threads == 0 || o.threads > cap {
        return Err(format!("--threads must be from 1 to {cap} (4 per core) on this machine, got {}", o.threads));
    }
    Ok(o)
}

fn default_data_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [PathBuf::from("/usr/share/datasets/fashion-mnist"), root.join("../shared/data/fashion-mnist")]
        .into_iter()
        .find(|d| d.is_dir())
}

fn main() {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // On one of the pool's threads, as `backprop` runs its commands (see `run_in_pool`).
    let result = backprop::tensor::parallel::run_in_pool(Some(o.threads), || run_workload(&o)).and_then(|r| r);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run_workload(o: &Options) -> backprop::Result<()> {
    match o.workload.as_str() {
        "w3" => {
            matmul_gflops(o);
            Ok(())
        }
        "w4" => baby_gpt(o),
        "w5conv" => {
            conv_gflops(o);
            Ok(())
        }
        "w6" => gan_workload(o),
        "w7" => rl_workload(o),
        _ => train_workload(o),
    }
}

/// The W5 network: conv(1->32, 5x5, pad 2)-ReLU-maxpool 2-conv(32->64, 5x5, pad 2)-ReLU-maxpool 2-
/// linear(3136->128)-ReLU-linear(128->10), as `nn.Sequential` in bench/torch_reference.py.
const W5_ARCH: &str = "c32k5p2-relu-mp2-c64k5p2-relu-mp2-fc128-relu-fc10";

/// W1 (network.py: 784-30-10 sigmoid, quadratic cost, SGD 3.0, batch 10),
/// W2 (784-256-128-10 ReLU, cross-entropy, Adam 1e-3, batch 64) or
/// W5 (the CNN of [`W5_ARCH`], cross-entropy, Adam 1e-3, batch 64).
fn train_workload(o: &Options) -> backprop::Result<()> {
    let dir = o.data.clone().or_else(default_data_dir).ok_or_else(|| {
        backprop::Error::invalid(
            "--data",
            "Fashion-MNIST not found: apt-get install dataset-fashion-mnist, or pass --data DIR",
        )
    })?;
    let data = load_mnist_dir(&dir)?;
    let (hidden, activation, output_activation, loss, batch_size) = match o.workload.as_str() {
        "w1" => (vec![30], Activation::Sigmoid, Activation::Sigmoid, Loss::Quadratic, 10),
        _ => (vec![256, 128], Activation::Relu, Activation::Identity, Loss::CrossEntropy, 64),
    };
    // PyTorch's default initialisation, as in the reference script.
    let model: Box<dyn Module> = if o.workload == "w5" {
        Box::new(Cnn::new(CnnConfig::classifier(W5_ARCH, [1, 28, 28], 10)?, &mut Rng::new(o.seed))?)
    } else {
        let config =
            MlpConfig { inputs: 784, hidden, outputs: 10, activation, output_activation, init: Init::PytorchDefault };
        Box::new(Mlp::new(config, &mut Rng::new(o.seed)))
    };
    let optimizer: Box<dyn Optimizer> = match o.workload.as_str() {
        "w1" => Box::new(Sgd::new(model.parameters(), 3.0)),
        _ => Box::new(Adam::new(model.parameters(), 1e-3)),
    };
    let cfg = TrainConfig { epochs: o.epochs, batch_size, seed: o.seed, loss, ..Default::default() };
    let started = Instant::now();
    let mut trainer = Trainer::new(optimizer, cfg);
    if o.grad_stats {
        trainer = trainer.with_grad_stats(None);
    }
    let history = trainer.fit(model.as_ref(), &data.train, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let test = evaluate(model.as_ref(), &data.test, loss, 1000);
    let accuracy = test.accuracy.unwrap_or(0.0);
    let final_loss = history.last().map(|r| r.train_loss).unwrap_or(f32::NAN);
    eprintln!("{}: {seconds:.3} s, final loss {final_loss:.5}, test accuracy {:.4}", o.workload, accuracy);
    println!(
        "{{\"framework\":\"backprop\",\"workload\":\"{}\",\"threads\":{},\"epochs\":{},\"batch_size\":{batch_size},\"seconds\":{seconds:.6},\"test_accuracy\":{:.6},\"final_loss\":{final_loss:.6}}}",
        o.workload, o.threads, o.epochs, accuracy
    );
    Ok(())
}

/// W4 "baby GPT": 4 layers, 4 heads, 128 channels, block 64, batch 12, no
/// dropout or biases, tied embeddings, AdamW (1e-3, betas 0.9/0.99, wd 0.1),
/// warmup 100, cosine to 1e-4, clip 1.0, on tiny Shakespeare.
fn baby_gpt(o: &Options) -> backprop::Result<()> {
    let text = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/tinyshakespeare/input.txt");
    let data = TextData::load(&text, 0.9)?;
    let config = GptConfig {
        vocab_size: data.tokenizer.vocab_size(),
        block_size: 64,
        layers: 4,
        heads: 4,
        embd: 128,
        dropout: 0.0,
        bias: false,
        tied: true,
    };
    let model = Gpt::new(config, &mut Rng::new(1337))?;
    let cfg = LmConfig { iters: o.iters, eval_every: o.iters, ..LmConfig::default() };
    let records = train_lm(&model, &data, &cfg, |_| Ok(()))?;
    let r = records.last().expect("one record at the end");
    let seconds = r.metrics["ms_per_step"] as f64 * o.iters as f64 / 1000.0;
    eprintln!("w4: {:.1} ms/step, validation loss {:.4}", r.metrics["ms_per_step"], r.val_loss.unwrap_or(f32::NAN));
    println!(
        "{{\"framework\":\"backprop\",\"workload\":\"w4\",\"threads\":{},\"iters\":{},\"seconds\":{seconds:.4},\"ms_per_iter\":{:.3},\"val_loss\":{:.4}}}",
        o.threads, o.iters, r.metrics["ms_per_step"], r.val_loss.unwrap_or(f32::NAN)
    );
    Ok(())
}

/// Times `run`: warm-up calls until both `warm` bounds (calls, seconds) are
/// passed, then timed calls until both `timed` bounds (repetitions, seconds)
/// are; returns the timed repetitions and their seconds.
fn time_reps(mut run: impl FnMut(), warm: (u64, f64), timed: (u64, f64)) -> (u64, f64) {
    let (mut calls, t0) = (0, Instant::now());
    while calls < warm.0 || t0.elapsed().as_secs_f64() < warm.1 {
        run();
        calls += 1;
    }
    let (mut reps, t0) = (0u64, Instant::now());
    loop {
        run();
        reps += 1;
        let s = t0.elapsed().as_secs_f64();
        if s >= timed.1 && reps >= timed.0 {
            return (reps, s);
        }
    }
}

/// W3: square f32 matrix products, GFLOP/s = 2 n^3 reps / seconds.
fn matmul_gflops(o: &Options) {
    let mut rng = Rng::new(o.seed);
    for &n in &o.sizes {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let mut c = vec![0.0f32; n * n];
        let run = || matmul_into(&mut c, a.data(), false, b.data(), false, n, n, n, false);
        let (reps, seconds) = time_reps(run, (3, 0.1), (1, o.min_seconds));
        let gflops = 2.0 * (n as f64).powi(3) * reps as f64 / seconds / 1e9;
        eprintln!("w3 n={n}: {reps} reps in {seconds:.3} s = {gflops:.1} GFLOP/s");
        println!(
            "{{\"framework\":\"backprop\",\"workload\":\"w3\",\"threads\":{},\"size\":{n},\"reps\":{reps},\"seconds\":{seconds:.6},\"gflops\":{gflops:.3}}}",
            o.threads
        );
    }
}

/// W5conv: one convolution's forward and backward (input, weight and bias
/// gradients) alone, at three shapes: the two convolutions of W5 and a
/// VGG-style 3x3 layer. GFLOP/s counts 2 N OC OH OW IC KH KW for the forward
/// pass and twice that for the backward pass (bias terms left out).
fn conv_gflops(o: &Options) {
    // (name, batch, in channels, side, out channels, kernel, padding)
    let shapes = [
        ("64x1x28x28 k5 -> 32", 64, 1, 28, 32, 5, 2),
        ("64x32x14x14 k5 -> 64", 64, 32, 14, 64, 5, 2),
        ("32x64x16x16 k3 -> 128", 32, 64, 16, 128, 3, 1),
    ];
    let mut rng = Rng::new(o.seed);
    for (name, n, c, side, oc, k, p) in shapes {
        let opts = Conv2dOptions { padding: [p, p], ..Default::default() };
        let x = Tensor::randn(&[n, c, side, side], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[oc, c, k, k], 0.0, 0.1, &mut rng);
        let b = Tensor::randn(&[oc], 0.0, 0.1, &mut rng);
        let flops = 3.0 * 2.0 * (n * oc * side * side * c * k * k) as f64;
        let run = || {
            let y = conv2d(&x, &w, Some(&b), opts);
            let dy = y.clone();
            let dx = conv2d_input_grad(&dy, &w, x.shape(), opts);
            let dw = conv2d_weight_grad(&x, &dy, w.shape(), opts);
            let db = conv_bias_grad(&dy);
            std::hint::black_box((dx, dw, db));
        };
        let (reps, seconds) = time_reps(run, (2, 0.2), (3, o.min_seconds.max(0.5)));
        let gflops = flops * reps as f64 / seconds / 1e9;
        eprintln!("w5conv {name}: {reps} reps in {seconds:.3} s = {gflops:.1} GFLOP/s");
        println!(
            "{{\"framework\":\"backprop\",\"workload\":\"w5conv\",\"threads\":{},\"size\":\"{name}\",\"reps\":{reps},\"seconds\":{seconds:.6},\"gflops\":{gflops:.3}}}",
            o.threads
        );
    }
}

/// W7: PPO on CartPole-v1 with the library's defaults (bench/torch_rl.py runs
/// the same in PyTorch) for `--steps` environment steps, timed without
/// evaluations; then the greedy return of 100 episodes (seeds 1000000..) and
/// the mean of the last 100 training episodes. Before it, one forward +
/// cross-entropy + backward + Adam step of a 4-64-64-2 tanh MLP at batch 1
/// and 64, in microseconds (mean of `--iters` steps after 200 warm-up steps).
fn rl_workload(o: &Options) -> backprop::Result<()> {
    use backprop::rl::{evaluate, mean_std, train, Algo, EnvName, RlConfig};
    for batch in [1, 64] {
        let us = mlp_step_micros(batch, o.iters);
        eprintln!("w7-step batch {batch}: {us:.1} us per step");
        println!(
            "{{\"framework\":\"backprop\",\"workload\":\"w7-step\",\"threads\":{},\"batch\":{batch},\"iters\":{},\"us_per_step\":{us:.2}}}",
            o.threads, o.iters
        );
    }
    let mut config = RlConfig::new(EnvName::CartPole, Algo::Ppo);
    config.steps = o.steps;
    config.seed = o.seed.max(1);
    // No evaluation during training: one single-episode check at the end (the
    // run's "best", so the final weights are kept), then the real one untimed.
    config.eval.every = o.steps;
    config.eval.episodes = 1;
    config.eval.target = None;
    let (agent, outcome) = train(&config)?;
    let seconds = outcome.seconds;
    let (mean, std) = mean_std(&evaluate(agent.policy(), 100, 1_000_000)?);
    let last = &agent.episodes().returns[agent.episodes().returns.len().saturating_sub(100)..];
    let train_return = last.iter().sum::<f32>() / last.len().max(1) as f32;
    eprintln!("w7: PPO {} steps in {seconds:.2} s; greedy return {mean:.1} +- {std:.1}, last 100 training episodes {train_return:.1}", outcome.env_steps);
    println!(
        "{{\"framework\":\"backprop\",\"workload\":\"w7\",\"threads\":{},\"env_steps\":{},\"seconds\":{seconds:.4},\"final_return\":{mean:.2},\"final_std\":{std:.2},\"train_return\":{train_return:.2}}}",
        o.threads, outcome.env_steps
    );
    Ok(())
}

/// Microseconds per training step of a 4-64-64-2 tanh MLP (Xavier init) on a
/// fixed random batch: forward, cross-entropy, backward, Adam (1e-3).
fn mlp_step_micros(batch: usize, iters: usize) -> f64 {
    use backprop::{loss, Graph};
    let mut rng = Rng::new(0);
    let model = Mlp::new(MlpConfig::classifier(4, &[64, 64], 2, Activation::Tanh), &mut rng);
    let mut adam = Adam::new(model.parameters(), 1e-3);
    let x = Tensor::randn(&[batch, 4], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|_| rng.below(2)).collect();
    let mut step = || {
        adam.zero_grad();
        let g = Graph::new();
        let l = loss::cross_entropy(model.forward(&g, g.constant(x.clone())), &labels);
        g.backward(l);
        adam.step();
    };
    (0..200).for_each(|_| step());
    let started = Instant::now();
    (0..iters).for_each(|_| step());
    1e6 * started.elapsed().as_secs_f64() / iters.max(1) as f64
}

/// W6: the default MLP GAN of `backprop train gan` (GanConfig::mlp, Adam 2e-4, betas 0.5/0.999,
/// batch 64, one discriminator step per generator step) on MNIST's 60,000 training images, as
/// bench/torch_gan.py trains it in PyTorch.
fn gan_workload(o: &Options) -> backprop::Result<()> {
    use backprop::gan::{Gan, GanConfig, GanStep, GanTraining};
    use backprop::optim::Shared;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = o.data.clone().unwrap_or_else(|| root.join("../shared/data/mnist"));
    let mut train = backprop::data::load_mnist_dir_optional_test(&dir)?.0;
    train.inputs.map_inplace(|v| v * 2.0 - 1.0);
    let gan = Gan::new(GanConfig::mlp(100, [1, 28, 28], train.num_classes), &mut Rng::new(o.seed))?;
    let training = GanTraining { batch_size: 64, seed: o.seed, ..Default::default() };
    let mut step = GanStep::new(&gan, &train, training)?;
    let d = Shared::new(Adam::new(gan.discriminator_parameters(), 2e-4).betas(0.5, 0.999));
    let g = Adam::new(gan.generator_parameters(), 2e-4).betas(0.5, 0.999);
    let config = TrainConfig { epochs: o.epochs, ..Default::default() };
    let start = Instant::now();
    let history = Trainer::new(Box::new(d), config).and_optimizer(Box::new(g)).run(&mut step)?;
    // Training time only: each epoch's seconds less the diversity check at its end is not split
    // out; it is one generator pass over 256 noise vectors, well under 1% of an epoch.
    let seconds = start.elapsed().as_secs_f64();
    let m = &history.last().expect("at least one epoch").metrics;
    eprintln!(
        "w6: MLP GAN, {} epoch(s) of {} in {seconds:.2} s; D loss {:.3}, G loss {:.3}",
        o.epochs,
        dir.display(),
        m["discriminator_loss"],
        m["generator_loss"]
    );
    if let Some(out) = &o.out {
        gan.save(out, &Default::default())?;
    }
    println!(
        "{{\"framework\":\"backprop\",\"workload\":\"w6\",\"threads\":{},\"epochs\":{},\"seconds\":{seconds:.4},\"d_loss\":{},\"g_loss\":{}}}",
        o.threads, o.epochs, m["discriminator_loss"], m["generator_loss"]
    );
    Ok(())
}
