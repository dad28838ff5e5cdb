//! `backprop report` (loss/accuracy plots, the overfitting verdict) and
//! `train mnist --early-stopping`.

mod common;

use backprop::train::{diagnose, read_history};
use common::{assert_clean_failure, backprop, mnist_arg, Run, TempDir};
use std::path::Path;

/// The curves' colours (see src/train/plot.rs): training blue, validation red.
const TRAIN_RGB: [u8; 3] = [31, 119, 180];
const VALIDATION_RGB: [u8; 3] = [214, 39, 40];

fn train(out: &Path, extra: &[&str]) -> Run {
    let data = mnist_arg();
    let mut args = vec!["train", "mnist", "--data", &data, "--hidden", "32", "--threads", "2"];
    let out = out.to_str().unwrap().to_string();
    args.extend(["--out", &out]);
    args.extend(extra);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    backprop(&args).expect_success("train mnist")
}

/// Pixels within a small distance of `rgb`.
fn count_near(img: &image::RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 24)).count()
}

fn check_png(path: &Path) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    let (w, h) = img.dimensions();
    assert!((640..=2000).contains(&w) && (400..=1500).contains(&h), "{}: odd size {w}x{h}", path.display());
    let white = count_near(&img, [255, 255, 255]);
    assert!(white > (w * h / 2) as usize, "{}: mostly not background", path.display());
    for (name, rgb) in [("training", TRAIN_RGB), ("validation", VALIDATION_RGB)] {
        let n = count_near(&img, rgb);
        assert!(n > 300, "{}: only {n} pixels of the {name} colour", path.display());
    }
}

fn check_svg(path: &Path) {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{}", path.display());
    assert!(svg.contains("#1F77B4") && svg.contains("#D62728"), "{}: a curve is missing", path.display());
}

#[test]
fn report_plots_a_real_run_as_png_and_svg() {
    let tmp = TempDir::new("report-run");
    let run_dir = tmp.join("run");
    train(&run_dir, &["--epochs", "4"]);
    let run = backprop(&["report", run_dir.to_str().unwrap()]).expect_success("report");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("best validation loss "), "{}", lines[0]);
    for stem in ["loss", "accuracy"] {
        check_png(&run_dir.join(format!("{stem}.png")));
        check_svg(&run_dir.join(format!("{stem}.svg")));
    }
    let svg = std::fs::read_to_string(run_dir.join("loss.svg")).unwrap();
    assert!(svg.contains(lines[0]), "the verdict is not the caption");

    // A history file and --out elsewhere.
    let plots = tmp.join("plots");
    let history = run_dir.join("history.jsonl");
    backprop(&["report", history.to_str().unwrap(), "--out", plots.to_str().unwrap()]).expect_success("report --out");
    assert!(plots.join("loss.png").is_file() && plots.join("accuracy.svg").is_file());
}

/// A history where validation loss bottoms out at `best` and then changes by
/// `val_step` per epoch while training loss keeps falling.
fn synthetic(epochs: usize, best: usize, val_step: f32) -> String {
    (1..=epochs)
        .map(|e| {
            let train = 1.0 / e as f32;
            let val = if e <= best { 0.5 + 1.0 / e as f32 } else { 0.5 + 1.0 / best as f32 + val_step * (e - best) as f32 };
            format!(
                "{{\"epoch\":{e},\"train_loss\":{train},\"val_loss\":{val},\"train_accuracy\":{},\"val_accuracy\":{},\"lr\":0.001,\"seconds\":0.1}}\n",
                1.0 - train / 2.0,
                1.0 - val / 3.0
            )
        })
        .collect()
}

#[test]
fn verdict_flags_overfitting_only_when_validation_loss_rises() {
    let tmp = TempDir::new("report-verdict");
    let over = tmp.write("over/history.jsonl", synthetic(10, 6, 0.05).as_bytes());
    let good = tmp.write("good/history.jsonl", synthetic(10, 10, 0.0).as_bytes());

    let d = diagnose(&read_history(&over).unwrap());
    assert_eq!((d.best.map(|b| b.0), d.epochs_since_best, d.overfitting()), (Some(6), 4, true));
    let d = diagnose(&read_history(&good).unwrap());
    assert_eq!((d.best.map(|b| b.0), d.epochs_since_best, d.overfitting()), (Some(10), 0, false));

    let run = backprop(&["report", over.to_str().unwrap()]).expect_success("report");
    let verdict = run.stdout.lines().next().unwrap();
    assert!(verdict.starts_with("best validation loss 0.6667 at epoch 6;"), "{verdict}");
    assert!(verdict.ends_with("validation loss rose for the last 4 epochs while training loss fell: overfitting"));
    let run = backprop(&["report", good.to_str().unwrap()]).expect_success("report");
    let verdict = run.stdout.lines().next().unwrap();
    assert!(verdict.starts_with("best validation loss 0.6000 at epoch 10;"), "{verdict}");
    assert!(verdict.ends_with("no sign of overfitting"), "{verdict}");
    check_png(&tmp.join("over/loss.png"));
    check_png(&tmp.join("good/accuracy.png"));
}

#[test]
fn report_rejects_bad_histories_with_one_line() {
    let tmp = TempDir::new("report-bad");
    let run = backprop(&["report", tmp.arg("missing.jsonl").as_str()]);
    assert_clean_failure(&run, &["missing.jsonl", "no such file"]);
    let run = backprop(&["report", tmp.arg("").as_str()]);
    assert_clean_failure(&run, &["history.jsonl"]);
    let empty = tmp.write("empty.jsonl", b"\n");
    assert_clean_failure(&backprop(&["report", empty.to_str().unwrap()]), &["empty.jsonl", "no epoch records"]);
    let garbage = tmp.write("garbage.jsonl", b"{\"epoch\":1,\"train_loss\":0.5,\"lr\":0.1,\"seconds\":1}\nnot json\n");
    assert_clean_failure(&backprop(&["report", garbage.to_str().unwrap()]), &["garbage.jsonl", "line 2"]);
    assert_clean_failure(&backprop(&["report"]), &["RUN_DIR_OR_HISTORY"]);
}

/// The `test accuracy ...% (... images), test loss ...` figures of a train or eval run.
fn test_figures(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.contains("test accuracy")).expect("a test accuracy line");
    let start = line.find("test accuracy").unwrap();
    let acc = line[start..].split_whitespace().nth(2).unwrap().to_string();
    let loss = line.split("loss ").nth(1).unwrap().split(|c: char| c == ';' || c.is_whitespace()).next().unwrap();
    format!("{acc} {loss}")
}

#[test]
fn early_stopping_stops_and_keeps_the_best_weights() {
    let tmp = TempDir::new("report-early");
    let run_dir = tmp.join("es");
    // A high constant learning rate overfits within a few epochs.
    let flags = ["--lr", "0.01", "--schedule", "constant"];
    let run = train(&run_dir, &[&["--epochs", "30", "--early-stopping", "2"][..], &flags].concat());
    let history = read_history(&run_dir.join("history.jsonl")).unwrap();
    assert!(history.len() < 30, "did not stop early: {} epochs", history.len());
    let (best, _) = diagnose(&history).best.unwrap();
    assert_eq!(history.len(), best + 2, "stops 2 epochs after the best one");
    assert!(run.stdout.contains(&format!("kept epoch {best}")), "{}", run.stdout);

    // The checkpoint holds the restored best weights: eval agrees with training's summary ...
    let model = run_dir.join("model.safetensors");
    let eval = backprop(&["eval", "--model", model.to_str().unwrap(), "--data", &mnist_arg(), "--threads", "2"]);
    let eval = eval.expect_success("eval");
    assert_eq!(test_figures(&eval.stdout), test_figures(&run.stdout));
    // ... and with a run of exactly `best` epochs (same seed, constant learning rate).
    let plain_dir = tmp.join("plain");
    let best_epochs = best.to_string();
    let plain = train(&plain_dir, &[&["--epochs", best_epochs.as_str()][..], &flags].concat());
    assert_eq!(test_figures(&plain.stdout), test_figures(&run.stdout));
}

#[test]
fn early_stopping_needs_a_validation_set() {
    let tmp = TempDir::new("report-early-bad");
    let args = ["train", "mnist", "--early-stopping", "2", "--val-fraction", "0", "--out", &tmp.arg("x")];
    assert_clean_failure(&backprop(&args), &["--early-stopping", "--val-fraction"]);
}
