//! backprop's side of the benchmarks; `python3 bench/run.py` runs it next to
//! the same workloads in PyTorch (bench/torch_reference.py) and prints ratios.
//!
//! `cargo bench --bench workloads -- w1|w2|w3|w4 [--threads N] [--data DIR] [--epochs N] [--seed S] [--sizes 128,256] [--iters 2000] [--grad-stats]`
//!
//! `--grad-stats` measures W1/W2 with gradient statistics on (`train --grad-stats`), for their cost.
//!
//! Prints one JSON line per result, in the format of torch_reference.py:
//! `{"framework":"backprop","workload":"w1","threads":2,"epochs":1,"seconds":0.4,"test_accuracy":0.8,"final_loss":0.05}`.
//! "seconds" times the training epochs only (data loading and test evaluation excluded).

use backprop::data::{load_mnist_dir, TextData};
use backprop::loss::Loss;
use backprop::nn::{Activation, Gpt, GptConfig, Init, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::tensor::{matmul_into, Rng};
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
    grad_stats: bool,
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
        grad_stats: false,
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
            "--grad-stats" => o.grad_stats = true,
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
    if !["w1", "w2", "w3", "w4"].contains(&o.workload.as_str()) {
        return Err("name a workload: w1, w2, w3 or w4".into());
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
    rayon::ThreadPoolBuilder::new().num_threads(o.threads).build_global().expect("the thread pool starts once");
    let result = match o.workload.as_str() {
        "w3" => {
            matmul_gflops(&o);
            Ok(())
        }
        "w4" => baby_gpt(&o),
        _ => train_workload(&o),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// W1 (network.py: 784-30-10 sigmoid, quadratic cost, SGD 3.0, batch 10) or
/// W2 (784-256-128-10 ReLU, cross-entropy, Adam 1e-3, batch 64).
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
    // PyTorch's default Linear initialisation, as in the reference script.
    let config =
        MlpConfig { inputs: 784, hidden, outputs: 10, activation, output_activation, init: Init::PytorchDefault };
    let model = Mlp::new(config, &mut Rng::new(o.seed));
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
    let history = trainer.fit(&model, &data.train, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let test = evaluate(&model, &data.test, loss, 1000);
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

/// W3: square f32 matrix products, GFLOP/s = 2 n^3 reps / seconds.
fn matmul_gflops(o: &Options) {
    let mut rng = Rng::new(o.seed);
    for &n in &o.sizes {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let mut c = vec![0.0f32; n * n];
        let mut run = || matmul_into(&mut c, a.data(), false, b.data(), false, n, n, n, false);
        let (mut calls, t0) = (0, Instant::now());
        while calls < 3 || t0.elapsed().as_secs_f64() < 0.1 {
            run();
            calls += 1;
        }
        let (mut reps, t0) = (0u64, Instant::now());
        let seconds = loop {
            run();
            reps += 1;
            let s = t0.elapsed().as_secs_f64();
            if s >= o.min_seconds {
                break s;
            }
        };
        let gflops = 2.0 * (n as f64).powi(3) * reps as f64 / seconds / 1e9;
        eprintln!("w3 n={n}: {reps} reps in {seconds:.3} s = {gflops:.1} GFLOP/s");
        println!(
            "{{\"framework\":\"backprop\",\"workload\":\"w3\",\"threads\":{},\"size\":{n},\"reps\":{reps},\"seconds\":{seconds:.6},\"gflops\":{gflops:.3}}}",
            o.threads
        );
    }
}
