//! `backprop doctor` on runs built to fail (a learning rate 100 times too
//! high, a deep sigmoid stack whose first layers stop learning, a small-data
//! run that overfits) and on the healthy default `train mnist`; `--grad-stats`
//! and `report`'s gradient-flow charts.

mod common;

use backprop::train::read_grad_stats;
use common::{assert_clean_failure, backprop, mnist_arg, TempDir};
use serde_json::Value;
use std::path::Path;

/// `train mnist` on the bundled data into `out`, with `extra` flags.
fn train(out: &Path, extra: &[&str]) {
    let (data, out) = (mnist_arg(), out.to_str().unwrap().to_string());
    let mut args = vec!["train", "mnist", "--data", &data, "--out", &out, "--threads", "2"];
    args.extend(extra);
    backprop(&args).expect_success("train mnist");
}

/// `doctor --json` on `run` (and `--compare`): the examination and the problems found, in order.
fn doctor(run: &Path, compare: Option<&Path>) -> (Value, Vec<String>) {
    let mut args = vec!["doctor".to_string(), run.to_str().unwrap().to_string(), "--json".into()];
    if let Some(c) = compare {
        args.extend(["--compare".to_string(), c.to_str().unwrap().to_string()]);
    }
    let out = backprop(&args).expect_success("doctor");
    let exam: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let problems = ["training", "validation"]
        .iter()
        .flat_map(|q| exam[q]["verdicts"].as_array().unwrap().clone())
        .map(|v| v["problem"].as_str().unwrap().to_string())
        .collect();
    (exam, problems)
}

/// The text report of `doctor` on `run`.
fn doctor_text(run: &Path) -> String {
    backprop(&["doctor", run.to_str().unwrap()]).expect_success("doctor").stdout
}

#[test]
fn the_healthy_default_run_gets_no_verdict() {
    let tmp = TempDir::new("doctor-healthy");
    let run = tmp.join("mnist");
    train(&run, &["--grad-stats"]);
    let (exam, problems) = doctor(&run, None);
    assert!(problems.is_empty(), "{exam:#}");
    assert_eq!(
        (exam["training"]["problem"].as_bool(), exam["validation"]["problem"].as_bool()),
        (Some(false), Some(false))
    );
    let text = doctor_text(&run);
    assert!(text.trim_end().ends_with("no problem found"), "{text}");
    // The figures it judged by: training accuracy, and the gap to validation.
    assert!(text.contains("1. Is the training loss too high? no: training accuracy "), "{text}");
    assert!(text.contains("2. Is validation much worse than training? no: validation accuracy 9"), "{text}");
    // 15 epochs of statistics, one entry per layer with figures in range.
    let stats = read_grad_stats(&run.join("grad_stats.jsonl")).unwrap();
    assert_eq!(stats.len(), 15);
    let layers: Vec<&str> = stats[0].layers.iter().map(|l| l.layer.as_str()).collect();
    assert_eq!(layers, ["layers.0", "layers.2", "layers.4"]);
    assert_eq!(stats[0].layers[0].params, 784 * 256 + 256);
    for l in &stats[0].layers {
        assert!(l.grad_norm > 1e-3 && l.grad_norm < 100.0, "{l:?}");
        let ratio = l.update_ratio.unwrap();
        assert!((1e-4..1e-1).contains(&ratio), "Adam at 1e-3 moves weights by about 1e-3 of their size: {l:?}");
    }
    assert_eq!(stats[0].layers[0].activation.as_deref(), Some("relu"));
    assert!(stats[0].layers[0].dead.unwrap() < 0.1 && stats[0].layers[2].dead.is_none());
}

#[test]
fn a_learning_rate_100_times_too_high() {
    let tmp = TempDir::new("doctor-lr");
    let run = tmp.join("lr");
    // Adam's usual rate is 1e-3.
    train(&run, &["--lr", "0.1", "--epochs", "5", "--grad-stats"]);
    let (exam, problems) = doctor(&run, None);
    assert_eq!(problems.first().map(String::as_str), Some("learning_rate_too_high"), "{exam:#}");
    assert!(!problems.contains(&"overfitting".to_string()), "{exam:#}");
    assert_eq!(exam["training"]["problem"], true);
    let finding = exam["training"]["verdicts"][0]["finding"].as_str().unwrap();
    assert!(finding.contains("times its weights' size in epoch 1 (about 0.001 is healthy)"), "{finding}");
    assert!(finding.contains("above that of guessing among 10 classes (ln 10 = 2.303)"), "{finding}");
    // The dead ReLUs the large steps left behind are named too.
    assert!(problems.contains(&"dead_units".to_string()), "{exam:#}");

    // Without gradient statistics the curve alone shows it: the first epoch's loss is worse than guessing.
    let bare = tmp.join("lr-bare");
    train(&bare, &["--lr", "0.1", "--epochs", "5"]);
    assert!(!bare.join("grad_stats.jsonl").exists());
    assert_eq!(doctor(&bare, None).1, ["learning_rate_too_high"]);
}

#[test]
fn a_deep_sigmoid_stack_whose_first_layers_stop_learning() {
    let tmp = TempDir::new("doctor-sigmoid");
    let (deep, shallow) = (tmp.join("deep"), tmp.join("shallow"));
    let common = ["--activation", "sigmoid", "--optimizer", "sgd", "--epochs", "4", "--grad-stats"];
    train(&deep, &[&["--hidden", "32,32,32,32,32,32,32,32"][..], &common].concat());
    train(&shallow, &[&["--hidden", "32"][..], &common].concat());
    let (exam, problems) = doctor(&deep, None);
    assert_eq!(problems, ["vanishing_gradients"], "{exam:#}");
    let finding = exam["training"]["verdicts"][0]["finding"].as_str().unwrap();
    assert!(finding.contains("layers.0's gradient norm") && finding.contains("times layers.16's"), "{finding}");
    // Against the shallow run: the deeper model fits its training data worse.
    let (exam, problems) = doctor(&deep, Some(&shallow));
    assert_eq!(problems, ["vanishing_gradients", "deeper_is_worse"], "{exam:#}");
    let finding = exam["training"]["verdicts"][1]["finding"].as_str().unwrap();
    assert!(
        finding.contains("this model of 9 layers") && finding.contains("the shallower one of 2 layers"),
        "{finding}"
    );
    // The shallow one's gradients reach its first layer.
    let (exam, problems) = doctor(&shallow, None);
    assert!(!problems.iter().any(|p| p == "vanishing_gradients" || p == "deeper_is_worse"), "{exam:#}");

    // report plots the gradient flow, a line per layer, and names the problem.
    let out = backprop(&["report", deep.to_str().unwrap()]).expect_success("report");
    assert!(
        out.stdout.contains("gradient flow: vanishing gradients: at epoch 4, layers.0's gradient norm"),
        "{}",
        out.stdout
    );
    for stem in ["grad_norm", "update_ratio", "units"] {
        let png = image::open(deep.join(format!("{stem}.png"))).unwrap().to_rgb8();
        assert_eq!(png.dimensions(), (960, 600));
        let svg = std::fs::read_to_string(deep.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("layers.0") && svg.contains("layers.16"), "{stem}.svg has a line per layer");
    }
    let svg = std::fs::read_to_string(deep.join("grad_norm.svg")).unwrap();
    assert!(svg.contains(">1e-4<") || svg.contains("1e-4\n"), "ticks at powers of ten");
    assert!(svg.contains("1e-1") && svg.contains("1e-3"), "a log scale spans the layers' norms");
}

#[test]
fn a_small_data_run_that_overfits() {
    let tmp = TempDir::new("doctor-overfit");
    let run = tmp.join("small");
    // 4% of the 8,004 images for training (320), the rest for validation.
    train(&run, &["--val-fraction", "0.96", "--epochs", "30"]);
    let (exam, problems) = doctor(&run, None);
    assert_eq!(problems, ["overfitting"], "{exam:#}");
    assert_eq!(exam["training"]["problem"], false);
    let finding = exam["validation"]["verdicts"][0]["finding"].as_str().unwrap();
    assert!(finding.contains("points below training (100.00%)"), "{finding}");
    let advice = exam["validation"]["verdicts"][0]["advice"].as_str().unwrap();
    assert!(
        advice.contains("early stopping") && advice.contains("weight decay") && advice.contains("more training data")
    );
}

#[test]
fn doctor_refuses_what_is_not_a_run() {
    let tmp = TempDir::new("doctor-bad");
    assert_clean_failure(&backprop(&["doctor", &tmp.arg("missing")]), &["missing", "not a run folder"]);
    std::fs::create_dir_all(tmp.join("empty")).unwrap();
    assert_clean_failure(&backprop(&["doctor", &tmp.arg("empty")]), &["no history.jsonl"]);
    tmp.write("bad/history.jsonl", b"{\"epoch\": 1}\nnot json\n");
    assert_clean_failure(&backprop(&["doctor", &tmp.arg("bad")]), &["history.jsonl", "line 1"]);
    tmp.write("stats/history.jsonl", b"{\"epoch\":1,\"train_loss\":0.5,\"lr\":0.001,\"seconds\":1.0}\n");
    tmp.write("stats/grad_stats.jsonl", b"{\"epoch\":1,\"layers\":[{\"layer\":3}]}\n");
    assert_clean_failure(&backprop(&["doctor", &tmp.arg("stats")]), &["grad_stats.jsonl", "line 1"]);
    // A GAN's discriminator loss is no supervised loss: "not learning" would mislead.
    let gan = br#"{"epoch":1,"train_loss":1.28,"lr":0.0002,"seconds":1.0,"metrics":{"discriminator_loss":1.28,"generator_loss":0.72}}"#;
    tmp.write("gan/history.jsonl", gan);
    assert_clean_failure(&backprop(&["doctor", &tmp.arg("gan")]), &["GAN run", "backprop report"]);
}

#[test]
fn every_train_command_records_gradient_statistics() {
    let tmp = TempDir::new("doctor-csv");
    let mut csv = String::from("x1,x2,y\n");
    for i in 0..40 {
        let (a, b) = (i as f32 / 10.0, (i % 3) as f32);
        csv += &format!("{a},{b},{}\n", 2.0 * a - b);
    }
    let file = tmp.write("data.csv", csv.as_bytes());
    let out = tmp.arg("csv");
    let args = ["train", "csv", "--file", file.to_str().unwrap(), "--target", "y", "--hidden", "8", "--epochs", "3"];
    backprop(&[&args[..], &["--out", &out, "--grad-stats"]].concat()).expect_success("train csv");
    let stats = read_grad_stats(&tmp.join("csv/grad_stats.jsonl")).unwrap();
    assert_eq!(stats.len(), 3);
    let layers: Vec<(&str, usize)> = stats[0].layers.iter().map(|l| (l.layer.as_str(), l.params)).collect();
    assert_eq!(layers, [("layers.0", 2 * 8 + 8), ("layers.2", 8 + 1)]);
    // A later run without --grad-stats removes the stale file.
    backprop(&[&args[..], &["--out", &out]].concat()).expect_success("train csv");
    assert!(!tmp.join("csv/grad_stats.jsonl").exists());
}
