//! "I don't know": an MNIST model tells digits from Fashion-MNIST clothes by
//! its maximum softmax probability (`backprop ood`), stores a rejection
//! threshold (`backprop calibrate`) and answers "unknown" with it
//! (`backprop predict`); bad input ends in one error line.
//!
//! Measured (MLP 784-256-128-10, 5 epochs, seed 1, 2 threads, MNIST test
//! split against the bundled 1,000 Fashion-MNIST test images): AUROC 0.816,
//! FPR at 95% TPR 0.666; `calibrate --tpr 0.95` stores 0.675 (95.0% of the
//! 800 validation digits, 93.8% of the test digits kept), and `predict` then
//! says "unknown" to 14 of the first 200 test digits and 68 of the first 200
//! clothes. Seeds 2 and 3 give AUROC 0.784 and 0.792, so the bound below
//! leaves that much room.

mod common;

use common::{assert_clean_failure, backprop, gunzip, mnist_arg, train_tiny_10x10, write_band_dataset, TempDir};
use std::path::{Path, PathBuf};

fn fashion_arg() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist-1k").to_str().unwrap().to_string()
}

/// Writes the first `n` 28x28 test images of an IDX folder as PNG files `prefix-i.png`.
fn write_test_pngs(dir: &str, root: &TempDir, prefix: &str, n: usize) -> Vec<PathBuf> {
    let bytes = gunzip(&std::fs::read(Path::new(dir).join("t10k-images-idx3-ubyte.gz")).unwrap());
    let pixels = &bytes[16..];
    (0..n)
        .map(|i| {
            let path = root.join(&format!("{prefix}-{i}.png"));
            image::GrayImage::from_raw(28, 28, pixels[i * 784..(i + 1) * 784].to_vec()).unwrap().save(&path).unwrap();
            path
        })
        .collect()
}

/// How many lines of a `predict` run say "unknown"; checks the line format.
fn unknowns(model: &str, images: &[PathBuf], extra: &[&str]) -> usize {
    let mut args = vec!["predict".to_string(), "--model".into(), model.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(images.iter().map(|p| p.to_str().unwrap().to_string()));
    let run = backprop(&args).expect_success("predict");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), images.len(), "{}", run.stdout);
    lines
        .iter()
        .filter(|l| {
            let unknown = l.contains(": unknown (max probability ");
            if unknown {
                let (_, rest) = l.split_once("(max probability ").unwrap();
                let (p, t) = rest.trim_end_matches(')').split_once(" < ").unwrap();
                assert!(p.parse::<f32>().unwrap() < t.parse::<f32>().unwrap(), "{l}");
            }
            unknown
        })
        .count()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn mnist_model_says_unknown_to_fashion() {
    let root = TempDir::new("ood");
    let out = root.arg("run");
    // The bundled MLP as `train mnist` builds it by default (seed 1, 15 epochs): training is
    // deterministic for a seed and thread count, so the AUROC below is reproducible.
    backprop(&["train", "mnist", "--data", &mnist_arg(), "--out", &out, "--threads", "2"]).expect_success("training");
    let model = root.arg("run/model.safetensors");

    // AUROC and FPR at 95% TPR of the max softmax probability.
    let run = backprop(&["ood", "--model", &model, "--in", &mnist_arg(), "--out", &fashion_arg(), "--json"])
        .expect_success("ood --json");
    let v = json(&run.stdout);
    let (auroc, fpr) = (v["auroc"].as_f64().unwrap(), v["fpr_at_tpr"].as_f64().unwrap());
    println!("AUROC {auroc:.4}, FPR at 95% TPR {fpr:.4}, threshold {}", v["threshold"]);
    assert!(auroc > 0.8 && auroc <= 1.0, "AUROC {auroc}");
    assert!(fpr < 0.9, "FPR at 95% TPR {fpr}");
    assert!((v["tpr_measured"].as_f64().unwrap() - 0.95).abs() < 0.01, "{v}");
    assert_eq!((v["in_examples"].as_u64(), v["out_examples"].as_u64()), (Some(1996), Some(1000)));
    let text =
        backprop(&["ood", "--model", &model, "--in", &mnist_arg(), "--out", &fashion_arg()]).expect_success("ood");
    assert!(text.stdout.contains(&format!("AUROC {auroc:.4}")), "{}", text.stdout);
    assert!(text.stdout.contains("FPR at 95% TPR"), "{}", text.stdout);

    // Before calibrating, predict names a class for everything.
    let digits = write_test_pngs(&mnist_arg(), &root, "digit", 200);
    let clothes = write_test_pngs(&fashion_arg(), &root, "fashion", 200);
    assert_eq!(unknowns(&model, &clothes, &[]), 0);

    // Calibrate: the threshold lands in the checkpoint and `info` shows it.
    let run = backprop(&["calibrate", "--model", &model, "--data", &mnist_arg(), "--tpr", "0.95", "--json"])
        .expect_success("calibrate");
    let c = json(&run.stdout);
    let threshold = c["threshold"].as_f64().unwrap();
    println!("calibrated threshold {threshold:.4}: {c}");
    assert!(threshold > 0.1 && threshold < 1.0, "{c}");
    assert_eq!(c["examples"].as_u64(), Some(800), "the held-out validation split: {c}");
    assert!(c["tpr_measured"].as_f64().unwrap() >= 0.95, "{c}");
    let info = backprop(&["info", &model]).expect_success("info");
    let line = info.stdout.lines().find(|l| l.starts_with("backprop.reject_below: ")).expect(&info.stdout);
    let stored: f64 = line["backprop.reject_below: ".len()..].parse().unwrap();
    assert!((stored - threshold).abs() < 1e-6, "{line} vs {threshold}");
    // The checkpoint still works as before.
    backprop(&["eval", "--model", &model, "--data", &mnist_arg()]).expect_success("eval after calibrate");

    // With the stored threshold, clothes are "unknown" more often than digits.
    let (on_digits, on_clothes) = (unknowns(&model, &digits, &[]), unknowns(&model, &clothes, &[]));
    println!("unknown: {on_digits} of 200 digits, {on_clothes} of 200 clothes");
    assert!(on_clothes > 2 * on_digits, "{on_clothes} clothes vs {on_digits} digits");
    assert!(on_digits <= 40, "{on_digits} of 200 digits unknown");
    // The flag overrides the stored threshold.
    assert_eq!(unknowns(&model, &clothes, &["--reject-below", "0"]), 0);
    assert!(unknowns(&model, &clothes, &["--reject-below", "0.999"]) >= on_clothes);

    // Bad input: one error line, no panic.
    let digit = digits[0].to_str().unwrap();
    for (args, words) in [
        (vec!["calibrate", "--model", &model, "--data", &mnist_arg(), "--tpr", "0"], vec!["--tpr"]),
        (vec!["calibrate", "--model", &model, "--data", &mnist_arg(), "--tpr", "1.5"], vec!["--tpr"]),
        (vec!["ood", "--model", &model, "--in", &mnist_arg(), "--out", &fashion_arg(), "--tpr", "-1"], vec!["--tpr"]),
        (vec!["predict", "--model", &model, "--reject-below", "2", digit], vec!["--reject-below"]),
        (vec!["predict", "--model", &model, "--reject-below", "x", digit], vec!["--reject-below"]),
        (vec!["ood", "--model", &model, "--in", &mnist_arg(), "--out", &root.arg("missing")], vec!["missing", "exist"]),
        (vec!["ood", "--model", &model, "--in", &root.arg("missing"), "--out", &fashion_arg()], vec!["missing"]),
        (vec!["ood", "--model", &model, "--in", &mnist_arg(), "--out", &root.arg("run")], vec!["t10k-images"]),
        (vec!["calibrate", "--model", &model, "--data", &root.arg("missing")], vec!["missing"]),
        (vec!["calibrate", "--model", &model, "--data", &fashion_arg()], vec!["train-images"]),
        // A method's parameter given to a method that has none would be ignored without a word.
        (vec!["calibrate", "--model", &model, "--data", &mnist_arg(), "--k", "5"], vec!["--k", "knn"]),
        (
            vec![
                "ood",
                "--model",
                &model,
                "--in",
                &mnist_arg(),
                "--out",
                &fashion_arg(),
                "--method",
                "knn",
                "--epsilon",
                "0.01",
            ],
            vec!["--epsilon", "odin"],
        ),
        (
            vec!["ood", "--model", &root.arg("nope.safetensors"), "--in", &mnist_arg(), "--out", &fashion_arg()],
            vec!["nope"],
        ),
    ] {
        assert_clean_failure(&backprop(&args), &words);
    }

    // Images of another size than the model takes.
    let band = root.join("band10");
    write_band_dataset(&band, 10, 30, 20);
    let band = band.to_str().unwrap();
    let line = assert_clean_failure(
        &backprop(&["ood", "--model", &model, "--in", &mnist_arg(), "--out", band]),
        &["784 inputs", "100 values"],
    );
    assert!(line.contains("band10"), "{line}");
    assert_clean_failure(&backprop(&["calibrate", "--model", &model, "--data", band]), &["784 inputs"]);
    let tiny = train_tiny_10x10(&root);
    assert_clean_failure(
        &backprop(&["ood", "--model", tiny.to_str().unwrap(), "--in", band, "--out", &fashion_arg()]),
        &["100 inputs", "784 values"],
    );

    // A corrupt stored threshold is reported, not ignored.
    let ckpt = backprop::checkpoint::Checkpoint::load(Path::new(&model)).unwrap();
    let mut bad = ckpt.clone();
    bad.metadata.insert("backprop.reject_below".into(), "1.7".into());
    let bad_path = root.join("bad.safetensors");
    bad.save_to(&bad_path).unwrap();
    assert_clean_failure(&backprop(&["predict", "--model", bad_path.to_str().unwrap(), digit]), &["reject_below"]);
}
