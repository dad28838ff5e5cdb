//! The `backprop` binary does what its features promise: trains MNIST to at
//! least 95%, evaluates, describes and applies its checkpoints, reproduces runs
//! from a seed and speaks JSON when asked.

mod common;

use common::{backprop, mnist_arg, TempDir};
use std::path::Path;

/// The `NN.NN` of the first "test accuracy NN.NN%" in `text`.
fn accuracy_text(text: &str) -> String {
    let start = text.find("test accuracy ").unwrap_or_else(|| panic!("no 'test accuracy' in:\n{text}")) + 14;
    let rest = &text[start..];
    let end = rest.find('%').unwrap_or_else(|| panic!("no '%' after 'test accuracy' in:\n{text}"));
    rest[..end].to_string()
}

/// Every line of `stdout` as JSON (panics naming the first line that is not).
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    assert!(!stdout.trim().is_empty(), "no output");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\nwhole output:\n{stdout}")))
        .collect()
}

/// The epoch lines of a `--json` run (objects with an `epoch` field) as
/// printed, with the `"seconds":...` field cut out.
fn epoch_lines_without_seconds(stdout: &str) -> Vec<String> {
    let values = json_lines(stdout);
    stdout
        .lines()
        .zip(values)
        .filter(|(_, v)| v.get("epoch").is_some())
        .map(|(line, _)| {
            let start = line.find("\"seconds\":").unwrap_or_else(|| panic!("no seconds field: {line}"));
            let end = start + line[start..].find([',', '}']).unwrap();
            // Drop the comma before the field too, so the rest stays JSON.
            let start = if line[..start].ends_with(',') { start - 1 } else { start };
            format!("{}{}", &line[..start], &line[end..])
        })
        .collect()
}

/// Writes a 28x28 grayscale PNG.
fn write_png(path: &Path, pixels: &[u8]) {
    let img = image::GrayImage::from_raw(28, 28, pixels.to_vec()).unwrap();
    img.save(path).unwrap();
}

/// `(class, top-3 percentages)` from a predict line `PATH: C (top 3: c p%, c p%, c p%)`.
fn parse_prediction(line: &str, path: &Path) -> (usize, Vec<(usize, f32)>) {
    let prefix = format!("{}: ", path.display());
    let rest = line.strip_prefix(&prefix).unwrap_or_else(|| panic!("line does not start with {prefix:?}: {line}"));
    let (class, top) = rest.split_once(" (top 3: ").unwrap_or_else(|| panic!("no top 3 in: {line}"));
    let top = top.strip_suffix(')').unwrap_or_else(|| panic!("no closing parenthesis: {line}"));
    let top: Vec<(usize, f32)> = top
        .split(", ")
        .map(|entry| {
            let (c, p) = entry.split_once(' ').unwrap();
            (c.parse().unwrap(), p.strip_suffix('%').unwrap().parse().unwrap())
        })
        .collect();
    (class.parse().unwrap_or_else(|_| panic!("class is not a number: {line}")), top)
}

/// Default training reaches >= 95% and writes its files; eval reproduces the
/// accuracy, info describes the model and predict classifies real digits
/// written as PNGs. One training run serves all four.
#[test]
fn default_training_then_eval_info_predict() {
    let dir = TempDir::new("cli-default");
    let out = dir.join("run");
    let out_arg = out.to_str().unwrap();
    let train = backprop(&["train", "mnist", "--data", &mnist_arg(), "--out", out_arg, "--threads", "2"])
        .expect_success("default training");
    let trained = accuracy_text(&train.stdout);
    let accuracy: f32 = trained.parse().unwrap();
    assert!(accuracy >= 95.0, "default training reached only {accuracy}%:\n{}", train.stdout);
    assert!(train.stdout.contains("784-256-128-10"), "{}", train.stdout);

    // The files of the run.
    let model = out.join("model.safetensors");
    assert!(model.is_file(), "no model.safetensors");
    let history = std::fs::read_to_string(out.join("history.jsonl")).expect("history.jsonl is written");
    let records: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 15, "one record per epoch:\n{history}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["epoch"], i + 1);
        assert!(r["train_loss"].as_f64().unwrap().is_finite());
        assert!(r["val_accuracy"].as_f64().unwrap() > 0.5);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "model.safetensors" && n != "history.jsonl")
        .collect();
    assert!(leftovers.is_empty(), "unexpected files in the run folder: {leftovers:?}");
    let model_arg = model.to_str().unwrap();

    // eval: the same test set gives the same accuracy.
    let eval =
        backprop(&["eval", "--model", model_arg, "--data", &mnist_arg(), "--threads", "2"]).expect_success("eval");
    assert_eq!(accuracy_text(&eval.stdout), trained, "eval:\n{}\ntrain:\n{}", eval.stdout, train.stdout);

    // info: architecture and parameter count.
    let info = backprop(&["info", model_arg]).expect_success("info");
    assert!(info.stdout.contains("784-256-128-10"), "{}", info.stdout);
    assert!(info.stdout.contains("total: 235146 parameters"), "{}", info.stdout);

    // predict: real test digits written as PNGs, plain and inverted.
    let data = backprop::data::load_mnist_dir(&common::mnist_dir()).unwrap();
    let mut plain = Vec::new();
    let mut inverted = Vec::new();
    let mut labels = Vec::new();
    for i in 0..10 {
        let (x, y) = data.test.batch(&[i]);
        let pixels: Vec<u8> = x.data().iter().map(|v| (v * 255.0).round() as u8).collect();
        let p = dir.join(&format!("digit{i}.png"));
        write_png(&p, &pixels);
        let q = dir.join(&format!("digit{i}-inverted.png"));
        write_png(&q, &pixels.iter().map(|v| 255 - v).collect::<Vec<_>>());
        plain.push(p);
        inverted.push(q);
        labels.push(y[0]);
    }
    let predict = |paths: &[std::path::PathBuf], invert: bool| -> Vec<usize> {
        let mut args = vec!["predict".to_string(), "--model".into(), model_arg.into()];
        if invert {
            args.push("--invert".into());
        }
        args.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
        let run = backprop(&args).expect_success("predict");
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), paths.len(), "one line per image:\n{}", run.stdout);
        lines
            .iter()
            .zip(paths)
            .map(|(line, path)| {
                let (class, top) = parse_prediction(line, path);
                assert!(class < 10, "{line}");
                assert_eq!(top.len(), 3, "{line}");
                assert_eq!(top[0].0, class, "the top-3 list starts with the class: {line}");
                assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "sorted: {line}");
                assert!(top.iter().all(|(c, p)| *c < 10 && (0.0..=100.0).contains(p)), "{line}");
                assert!(top.iter().map(|t| t.1).sum::<f32>() <= 100.5, "{line}");
                class
            })
            .collect()
    };
    let classes = predict(&plain, false);
    let right = classes.iter().zip(&labels).filter(|(c, y)| c == y).count();
    assert!(right >= 8, "only {right}/10 digits right: predicted {classes:?}, labels {labels:?}");
    let inverted_classes = predict(&inverted, true);
    assert_eq!(inverted_classes, classes, "--invert on inverted images gives the same classes");
}

/// The same seed gives byte-identical losses; another seed different ones.
#[test]
fn training_is_reproducible_from_the_seed() {
    let dir = TempDir::new("cli-repro");
    let run = |seed: &str, name: &str| {
        let out = dir.join(name);
        let r = backprop(&[
            "train",
            "mnist",
            "--data",
            &mnist_arg(),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--seed",
            seed,
            "--threads",
            "2",
            "--json",
        ])
        .expect_success("training with --json");
        let lines = epoch_lines_without_seconds(&r.stdout);
        assert_eq!(lines.len(), 2, "{}", r.stdout);
        assert!(lines.iter().all(|l| l.contains("\"val_loss\":") && l.contains("\"train_loss\":")), "{lines:?}");
        lines
    };
    let a = run("7", "a");
    let b = run("7", "b");
    assert_eq!(a, b, "two runs with seed 7 differ");
    let c = run("8", "c");
    for (x, y) in a.iter().zip(&c) {
        let (x, y): (serde_json::Value, serde_json::Value) =
            (serde_json::from_str(x).unwrap(), serde_json::from_str(y).unwrap());
        assert_ne!(x["train_loss"], y["train_loss"], "seeds 7 and 8 give the same train loss");
        assert_ne!(x["val_loss"], y["val_loss"], "seeds 7 and 8 give the same validation loss");
    }
}

/// With `--json`, every line on stdout is JSON: one record per epoch, then a summary.
#[test]
fn json_output_is_all_json() {
    let dir = TempDir::new("cli-json");
    let out = dir.join("run");
    let r = backprop(&[
        "train",
        "mnist",
        "--data",
        &mnist_arg(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "32",
        "--epochs",
        "2",
        "--threads",
        "2",
        "--json",
    ])
    .expect_success("training with --json");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "2 epoch records and a summary:\n{}", r.stdout);
    for (i, rec) in lines[..2].iter().enumerate() {
        assert_eq!(rec["epoch"], i + 1, "{rec}");
        for key in ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"] {
            assert!(rec[key].is_number(), "{key} missing in {rec}");
        }
    }
    let summary = &lines[2];
    let acc = summary["test_accuracy"].as_f64().unwrap_or_else(|| panic!("no test_accuracy in {summary}"));
    assert!((0.5..=1.0).contains(&acc), "{summary}");
    assert_eq!(summary["test_examples"], 1996, "{summary}");
    assert!(Path::new(summary["model"].as_str().unwrap()).is_file(), "{summary}");
    assert!(Path::new(summary["history"].as_str().unwrap()).is_file(), "{summary}");
}

/// The setup of Nielsen's network.py (784-30-10 sigmoid, quadratic loss, SGD
/// with lr 3, batches of 10) learns MNIST in three epochs.
#[test]
fn network_py_setup_learns() {
    let dir = TempDir::new("cli-networkpy");
    let out = dir.join("run");
    let r = backprop(&[
        "train",
        "mnist",
        "--data",
        &mnist_arg(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "30",
        "--activation",
        "sigmoid",
        "--loss",
        "quadratic",
        "--optimizer",
        "sgd",
        "--lr",
        "3",
        "--batch-size",
        "10",
        "--epochs",
        "3",
        "--schedule",
        "constant",
        "--threads",
        "2",
        "--json",
    ])
    .expect_success("network.py training");
    let lines = json_lines(&r.stdout);
    let acc = lines.last().unwrap()["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "network.py setup reached only {:.2}%:\n{}", 100.0 * acc, r.stdout);
    let info = backprop(&["info", out.join("model.safetensors").to_str().unwrap()]).expect_success("info");
    assert!(info.stdout.contains("784-30-10"), "{}", info.stdout);
}
