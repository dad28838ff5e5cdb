//! The command line at numeric edges: powers and divisions by zero in
//! `graph`, NaN weights in `eval`/`predict`/`ood`, schedules that do not fit
//! the run, flags that would be ignored, momentum and thread counts out of range.

mod common;

use backprop::checkpoint::Checkpoint;
use backprop::Tensor;
use common::{assert_clean_failure, backprop, backprop_with_env, mnist_arg, Run, TempDir};
use std::time::{Duration, Instant};

/// The drawn values of `graph --expr EXPR --set SET` as `name = value` and
/// `dJ/dname = value` lines (Mermaid text, `<br/>` separated).
fn graph(expr: &str, set: &str) -> (Run, String) {
    let r = backprop(&["graph", "--expr", expr, "--set", set]).expect_success("graph");
    let text = r.stdout.replace("<br/>", "\n");
    (r, text)
}

#[test]
fn powers_follow_pytorch_at_negative_and_zero_bases() {
    let (r, text) = graph("x^y", "x=-2,y=2");
    for want in ["J = 4", "dJ/dx = -4", "dJ/dy = NaN"] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // ln(-2) is undefined, as in PyTorch; said on stderr, naming the variable.
    assert!(r.stderr.contains("warning: dJ/dy is NaN"), "{}", r.stderr);
    let (r, text) = graph("x^y", "x=0,y=2");
    for want in ["J = 0", "dJ/dx = 0", "dJ/dy = 0"] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // A constant base and a variable exponent: 2^y and (-8)^y, without exp(y ln x).
    let (_, text) = graph("2^y", "y=3");
    assert!(text.contains("J = 8") && text.contains("dJ/dy = 5.54518"), "{text}");
    let (_, text) = graph("(0-2)^y * 1", "y=3");
    assert!(text.contains("J = -8") && text.contains("dJ/dy = NaN"), "{text}");
}

#[test]
fn a_division_by_zero_is_drawn_as_pytorch_computes_it_with_a_warning() {
    let (r, text) = graph("a/b", "a=1,b=0");
    assert!(text.contains("J = inf") && text.contains("dJ/da = inf") && text.contains("dJ/db = -inf"), "{text}");
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert!(warnings[0].contains("warning: op 'div' (node n2) is inf"), "{}", r.stderr);
    assert!(r.stderr.contains("warning: dJ/db is -inf"), "{}", r.stderr);
}

/// A copy of `model` whose first bias holds one NaN.
fn with_nan_bias(model: &std::path::Path, dir: &TempDir) -> std::path::PathBuf {
    let mut ckpt = Checkpoint::load(model).unwrap();
    let (name, bias) = ckpt.tensors.iter().find(|(n, _)| n.ends_with("bias")).unwrap();
    let mut values = bias.data().to_vec();
    values[0] = f32::NAN;
    let (name, shape) = (name.clone(), bias.shape().to_vec());
    ckpt.tensors.insert(name, Tensor::from_vec(values, &shape));
    let path = dir.join("nan.safetensors");
    ckpt.save_to(&path).unwrap();
    path
}

/// Either the checkpoint is refused with one error line, or the run goes on
/// and says loudly on stderr that its numbers are meaningless.
fn refused_or_warned(r: &Run, warning: &[&str]) {
    if r.success() {
        let lower = r.stderr.to_lowercase();
        assert!(warning.iter().all(|w| lower.contains(&w.to_lowercase())), "no warning: {r:?}");
    } else {
        assert_clean_failure(r, &["nan"]);
    }
}

#[test]
fn nan_weights_are_never_reported_as_a_normal_result() {
    let dir = TempDir::new("nan-weights");
    let good = common::train_tiny_10x10(&dir);
    let bad = with_nan_bias(&good, &dir);
    let (bad, data) = (bad.to_str().unwrap(), dir.arg("data10"));
    let eval = backprop(&["eval", "--model", bad, "--data", &data]);
    refused_or_warned(&eval, &["warning: the test loss is NaN", "parameter 'layers.0.bias' holds 1 non-finite"]);
    // ood: NaN scores give no threshold.
    let ood = backprop(&["ood", "--model", bad, "--in", &data, "--out", &data]);
    assert_clean_failure(&ood, &["nan"]);
    // predict: the NaN probabilities are printed with a warning (or the model is refused).
    let image = dir.join("digit.png");
    image::GrayImage::from_pixel(10, 10, image::Luma([200u8])).save(&image).unwrap();
    let predict = backprop(&["predict", "--model", bad, image.to_str().unwrap()]);
    refused_or_warned(&predict, &["the probabilities are NaN", "layers.0.bias"]);
    if predict.success() {
        assert!(predict.stdout.contains("NaN"), "{predict:?}");
    }
    // The good model says nothing of the kind.
    let eval = backprop(&["eval", "--model", good.to_str().unwrap(), "--data", &data]).expect_success("eval");
    assert!(eval.stderr.is_empty(), "{}", eval.stderr);
}

fn train_gpt(dir: &TempDir, flags: &[&str]) -> Run {
    let text = dir.join("t.txt");
    if !text.exists() {
        std::fs::write(&text, "to be or not to be, that is the question.\n".repeat(20)).unwrap();
    }
    let (t, o) = (text.to_str().unwrap().to_string(), dir.arg("run"));
    let mut args = vec!["train", "gpt", "--text", &t, "--out", &o];
    // A tiny model unless `flags` say otherwise.
    for (flag, value) in [("--layers", "1"), ("--heads", "1"), ("--embd", "8")] {
        if !flags.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(flags);
    backprop(&args)
}

#[test]
fn a_warmup_that_does_not_fit_the_run_is_cut_or_refused() {
    let dir = TempDir::new("warmup");
    // The command's default (100 steps) in a 50-step run: cut to 5, with a note.
    let r = train_gpt(&dir, &["--iters", "50", "--eval-every", "50", "--block-size", "8"]).expect_success("gpt");
    assert!(r.stderr.contains("note: the default warmup of 100 steps does not fit a run of 50 steps"), "{}", r.stderr);
    assert!(r.stderr.contains("warming up for 5"), "{}", r.stderr);
    // The rate reached its peak and decayed to --min-lr's default by the last step.
    let history = std::fs::read_to_string(dir.join("run/history.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    let lr = last["lr"].as_f64().unwrap();
    assert!(lr < 1.1e-4, "final rate {lr}");
    // Given explicitly, a warmup as long as the run is refused.
    let r = train_gpt(&dir, &["--iters", "50", "--warmup", "50"]);
    assert_clean_failure(&r, &["--warmup", "not shorter than the run (50 steps)"]);
    let r = train_gpt(&dir, &["--iters", "50", "--warmup", "10", "--eval-every", "50", "--block-size", "8"]);
    assert!(r.expect_success("gpt").stderr.is_empty());
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    let dir = TempDir::new("ignored-flags");
    let train = |flags: &[&str]| {
        let (data, out) = (mnist_arg(), dir.arg("out"));
        let mut args = vec!["train", "mnist", "--data", &data, "--out", &out];
        args.extend_from_slice(flags);
        backprop(&args)
    };
    let cases: [(&[&str], &[&str]); 8] = [
        (&["--schedule", "constant", "--warmup", "10"], &["--warmup", "--schedule cosine", "ignored"]),
        (&["--schedule", "constant", "--min-lr", "1e-5"], &["--min-lr", "--schedule cosine"]),
        (&["--optimizer", "adam", "--momentum", "0.9"], &["--momentum", "--optimizer sgd"]),
        (&["--optimizer", "adamw", "--nesterov"], &["--nesterov", "--optimizer sgd"]),
        (&["--optimizer", "sgd", "--beta2", "0.99"], &["--beta2", "adam"]),
        (&["--optimizer", "sgd", "--nesterov"], &["--nesterov", "momentum above 0"]),
        (&["--optimizer", "sgd", "--momentum", "1000"], &["--momentum", "below 1", "1000"]),
        (&["--beta1", "1"], &["--beta1", "below 1"]),
    ];
    for (flags, words) in cases {
        assert_clean_failure(&train(flags), words);
    }
}

#[test]
fn a_thread_count_beyond_the_machine_is_refused_at_once() {
    let started = Instant::now();
    let cap = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
    for command in [&["eval", "--model", "absent.safetensors"][..], &["train", "mnist"]] {
        let args: Vec<&str> = command.iter().copied().chain(["--threads", "100000"]).collect();
        let line = assert_clean_failure(&backprop(&args), &["--threads", "100000"]);
        assert!(line.contains(&format!("at most {cap}")), "{line}");
    }
    // The same count from rayon's variable, on a command with --threads and one
    // without: refused as well, not tens of thousands of threads started.
    for command in [&["train", "mnist"][..], &["info", "absent.safetensors"]] {
        let run = backprop_with_env(command, &[("RAYON_NUM_THREADS", "100000")]);
        let line = assert_clean_failure(&run, &["RAYON_NUM_THREADS", "100000"]);
        assert!(line.contains(&format!("at most {cap}")), "{line}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

/// A feature column of values at f32's limit (finite, but x - mean overflows
/// f32) is standardised in f64 to finite values: training runs to the end,
/// and the model fits the other column.
#[test]
fn a_column_at_the_limit_of_f32_is_standardised_to_finite_values() {
    let dir = TempDir::new("huge-column");
    let mut csv = String::from("huge,x,y\n");
    for i in 0..100 {
        let huge = if i % 7 == 0 { "-3.4e38" } else { "3.4e38" };
        let x = (i * 37 % 100) as f32 / 100.0;
        csv.push_str(&format!("{huge},{x},{}\n", 2.0 * x + 1.0));
    }
    let file = dir.write("huge.csv", csv.as_bytes());
    let out = dir.arg("run");
    let args = ["train", "csv", "--file", file.to_str().unwrap(), "--target", "y", "--model", "linear"];
    let flags = ["--epochs", "60", "--lr", "0.05", "--out", &out];
    let r = backprop(&[&args[..], &flags[..]].concat()).expect_success("train csv");
    let last = r.stdout.lines().find(|l| l.starts_with("final rmse")).unwrap_or_else(|| panic!("{}", r.stdout));
    let train_rmse: f32 = last.split_whitespace().nth(3).unwrap().trim_end_matches(',').parse().unwrap();
    assert!(train_rmse < 0.01, "{last}");
}

/// Sizes far beyond the machine are refused before anything is allocated
/// (they aborted with "memory allocation of 32768000000 bytes failed").
#[test]
fn a_gpt_or_a_step_too_large_for_memory_is_refused_naming_the_flag() {
    let dir = TempDir::new("gpt-huge");
    assert_clean_failure(&train_gpt(&dir, &["--batch-size", "1000000"]), &["--batch-size", "values", "limit"]);
    assert_clean_failure(&train_gpt(&dir, &["--embd", "1000000"]), &["--embd", "parameters", "limit"]);
    assert_clean_failure(&train_gpt(&dir, &["--layers", "100000"]), &["--layers", "values for backward", "limit"]);
    let r = train_gpt(&dir, &["--layers", "100000", "--embd", "128"]);
    assert_clean_failure(&r, &["--layers", "parameters", "limit"]);
}
