//! Regression on CSV tables and time series through the `backprop` binary:
//! a linear function recovered to 3 decimals, sigmoid and ReLU networks far
//! ahead of a linear model on a piecewise-linear series, and one clean error
//! line for every kind of bad input.

mod common;

use common::{assert_clean_failure, backprop, Run, TempDir};
use std::fmt::Write;

/// The true function of the linear test.
fn truth(x1: f64, x2: f64) -> f64 {
    3.0 * x1 - 2.0 * x2 + 0.5
}

/// Deterministic uniform numbers in [lo, hi) (xorshift).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `id,x1,x2,city,y` rows of y = 3 x1 - 2 x2 + 0.5 (no noise); `city` is text.
fn linear_csv(rows: usize) -> String {
    let mut u = Uniform(0x9e37_79b9_7f4a_7c15);
    let mut s = String::from("id,x1,x2,city,y\n");
    for i in 0..rows {
        let (x1, x2) = (u.next(-2.0, 3.0), u.next(-4.0, 1.0));
        writeln!(s, "{i},{x1:.7},{x2:.7},\"Town {}, Shire\",{:.7}", i % 7, truth(x1, x2)).unwrap();
    }
    s
}

/// A piecewise-linear series: the tent-shaped map x' = 1.9 min(x, 1 - x), whose
/// next value is an |x|-shaped function of the current one.
fn tent_series_csv(points: usize) -> String {
    let mut s = String::from("t,value\n");
    let mut x = 0.3f64;
    for t in 0..points {
        writeln!(s, "{t},{x:.7}").unwrap();
        x = 1.9 * x.min(1.0 - x);
    }
    s
}

/// The predictions column of a `predict --csv` output, by header name.
fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    lines.map(|l| l.split(',').nth(col).unwrap_or("").to_string()).collect()
}

/// The validation error of the last epoch in `--json` output.
fn final_val_error(run: &Run) -> f64 {
    let last = run
        .stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("epoch").is_some())
        .unwrap_or_else(|| panic!("no epoch record in:\n{}", run.stdout));
    last["val_error"].as_f64().expect("a val_error")
}

#[test]
fn linear_model_recovers_a_linear_function_to_3_decimals() {
    let dir = TempDir::new("regression-linear");
    let data = dir.write("train.csv", linear_csv(1000).as_bytes());
    let out = dir.arg("run");
    let run = backprop(&[
        "train",
        "csv",
        "--file",
        data.to_str().unwrap(),
        "--target",
        "y",
        "--drop",
        "id",
        "--model",
        "linear",
        "--out",
        &out,
        "--threads",
        "2",
    ])
    .expect_success("train csv --model linear");
    assert!(run.stderr.contains("skipping column 'city'"), "{}", run.stderr);
    assert!(run.stdout.contains("x1, x2 -> y"), "{}", run.stdout);
    // New points, the unit vectors among them: prediction = b, b + w1, b + w2.
    let points = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (2.5, -3.5), (-1.75, 0.25), (10.0, 10.0)];
    let mut new = String::from("x1,x2\n");
    for (x1, x2) in points {
        writeln!(new, "{x1},{x2}").unwrap();
    }
    let new = dir.write("new.csv", new.as_bytes());
    let model = format!("{out}/model.safetensors");
    let pred = backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap()]).expect_success("predict");
    let got: Vec<f64> = column(&pred.stdout, "predicted_y").iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(got.len(), points.len(), "{}", pred.stdout);
    for ((x1, x2), p) in points.iter().zip(&got) {
        assert!((p - truth(*x1, *x2)).abs() < 1e-3, "f({x1}, {x2}) = {} but predicted {p}", truth(*x1, *x2));
    }
    let (b, w1, w2) = (got[0], got[1] - got[0], got[2] - got[0]);
    let worst = [(b - 0.5).abs(), (w1 - 3.0).abs(), (w2 + 2.0).abs()].into_iter().fold(0.0, f64::max);
    println!("recovered y = {w1:.5} x1 {w2:+.5} x2 {b:+.5}; largest coefficient error {worst:.2e}");
    assert!(worst < 1e-3);
    // --output writes the same table to a file.
    let file = dir.arg("preds.csv");
    backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap(), "--output", &file]).expect_success("-o");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pred.stdout);
    // ... but never over the model or the input table.
    let before = std::fs::read(&model).unwrap();
    let over_model = backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap(), "--output", &model]);
    assert_clean_failure(&over_model, &["--output", "is the model"]);
    let over_input =
        backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap(), "--output", new.to_str().unwrap()]);
    assert_clean_failure(&over_input, &["--output", "is the input table"]);
    assert_eq!(std::fs::read(&model).unwrap(), before, "the model is unchanged");
}

#[test]
fn sigmoid_and_relu_networks_beat_a_linear_model_on_a_piecewise_linear_series() {
    let dir = TempDir::new("regression-series");
    let data = dir.write("series.csv", tent_series_csv(3000).as_bytes());
    let train = |name: &str, flags: &[&str]| {
        let out = dir.arg(name);
        let mut args = vec!["train", "csv", "--file", data.to_str().unwrap(), "--target", "value", "--window", "7"];
        args.extend_from_slice(&["--out", &out, "--json", "--threads", "2", "--epochs", "60"]);
        args.extend_from_slice(flags);
        let run = backprop(&args).expect_success(name);
        (final_val_error(&run), format!("{out}/model.safetensors"))
    };
    let (linear, _) = train("linear", &["--model", "linear"]);
    let (sigmoid, _) = train("sigmoid", &["--model", "mlp", "--activation", "sigmoid"]);
    let (relu, model) = train("relu", &["--model", "mlp", "--activation", "relu"]);
    println!("validation RMSE: linear {linear:.5}, sigmoid sum {sigmoid:.5}, relu {relu:.5}");
    assert!(sigmoid * 3.0 < linear, "sigmoid {sigmoid} vs linear {linear}");
    assert!(relu * 3.0 < linear, "relu {relu} vs linear {linear}");

    // predict --csv on a piece of the series: one prediction per full window, then a forecast.
    let text = tent_series_csv(30);
    let piece = dir.write("piece.csv", text.as_bytes());
    let pred = backprop(&["predict", "--model", &model, "--csv", piece.to_str().unwrap()]).expect_success("predict");
    let predicted = column(&pred.stdout, "predicted_value");
    let values: Vec<f64> = column(&text, "value").iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(predicted.len(), 31, "{}", pred.stdout);
    assert!(predicted[..7].iter().all(String::is_empty), "{}", pred.stdout);
    for (t, p) in predicted.iter().enumerate().skip(7) {
        let x = values[t - 1];
        let expected = 1.9 * x.min(1.0 - x);
        let p: f64 = p.parse().unwrap();
        assert!((p - expected).abs() < 0.05, "step {t}: predicted {p}, true {expected}");
    }
    assert!(pred.stdout.lines().last().unwrap().starts_with(",,"), "the forecast row has no t and value");
}

// ---------------------------------------------------------------- bad input

/// Writes `csv` and runs `train csv` on it with `flags` (one epoch unless `flags` say).
fn train_on(dir: &TempDir, csv: &str, flags: &[&str]) -> Run {
    let file = dir.write("data.csv", csv.as_bytes());
    let out = dir.arg("out");
    let mut args = vec!["train", "csv", "--file", file.to_str().unwrap(), "--out", &out];
    if !flags.contains(&"--epochs") {
        args.extend_from_slice(&["--epochs", "1"]);
    }
    args.extend_from_slice(flags);
    backprop(&args)
}

const GOOD: &str = "a,b,y\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n";

#[test]
fn non_numeric_cell_in_a_feature_column() {
    let dir = TempDir::new("regression-bad-cell");
    let csv = "a,b,y\n1,2,3\n4,five,6\n7,8,9\n";
    let run = train_on(&dir, csv, &["--target", "y", "--features", "a,b"]);
    assert_clean_failure(&run, &["data.csv", "line 3", "column 'b'", "'five' is not a number"]);
    // In the target column too.
    let csv = "a,y\n1,2\n4,?\n";
    assert_clean_failure(&train_on(&dir, csv, &["--target", "y"]), &["data.csv", "line 3", "column 'y'", "'?'"]);
}

#[test]
fn missing_value() {
    let dir = TempDir::new("regression-bad-missing");
    let csv = "a,b,y\n1,2,3\n4,,6\n7,8,9\n";
    assert_clean_failure(&train_on(&dir, csv, &["--target", "y"]), &["data.csv", "line 3", "column 'b'", "missing"]);
}

#[test]
fn ragged_row() {
    let dir = TempDir::new("regression-bad-ragged");
    let csv = "a,b,y\n1,2,3\n4,5,6\n7,8\n";
    let run = train_on(&dir, csv, &["--target", "y"]);
    assert_clean_failure(&run, &["data.csv", "line 4", "ragged", "2 fields", "3 columns"]);
}

#[test]
fn unknown_columns() {
    let dir = TempDir::new("regression-bad-columns");
    let run = train_on(&dir, GOOD, &["--target", "price"]);
    assert_clean_failure(&run, &["data.csv", "'price'", "--target", "columns are: a, b, y"]);
    let run = train_on(&dir, GOOD, &["--target", "y", "--drop", "id"]);
    assert_clean_failure(&run, &["data.csv", "'id'", "--drop"]);
    let run = train_on(&dir, GOOD, &["--target", "y", "--features", "a,c"]);
    assert_clean_failure(&run, &["data.csv", "'c'", "--features"]);
}

#[test]
fn empty_and_missing_files() {
    let dir = TempDir::new("regression-bad-files");
    assert_clean_failure(&train_on(&dir, "", &["--target", "y"]), &["data.csv", "empty"]);
    assert_clean_failure(&train_on(&dir, "a,y\n", &["--target", "y"]), &["data.csv", "no data rows"]);
    let missing = dir.arg("nope.csv");
    let run = backprop(&["train", "csv", "--file", &missing, "--target", "y"]);
    assert_clean_failure(&run, &["nope.csv", "no such file"]);
}

#[test]
fn window_longer_than_the_series() {
    let dir = TempDir::new("regression-bad-window");
    let run = train_on(&dir, "v\n1\n2\n3\n4\n5\n", &["--target", "v", "--window", "7"]);
    assert_clean_failure(&run, &["--window", "column 'v'", "data.csv", "too short", "5 values"]);
    let run = train_on(&dir, GOOD, &["--target", "a,y", "--window", "2"]);
    assert_clean_failure(&run, &["--window", "one --target"]);
}

#[test]
fn predict_csv_without_a_feature_column() {
    let dir = TempDir::new("regression-bad-predict");
    train_on(&dir, GOOD, &["--target", "y", "--model", "linear"]).expect_success("training");
    let new = dir.write("new.csv", b"a,c\n1,2\n");
    let model = dir.arg("out/model.safetensors");
    let run = backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap()]);
    assert_clean_failure(&run, &["new.csv", "'b'", "feature"]);
    // A classifier checkpoint is not a regression model.
    let tiny = common::train_tiny_10x10(&dir);
    let run = backprop(&["predict", "--model", tiny.to_str().unwrap(), "--csv", new.to_str().unwrap()]);
    assert_clean_failure(&run, &["not a regression model"]);
}

// ---------------------------------------------------------------- columns and scaling

#[test]
fn repeated_column_names_are_renamed_as_pandas_does_and_columns_take_numbers() {
    // Survey data repeats the same columns for each day; the last column is the target.
    let mut csv = String::from("cli,ili,tested_positive,cli,ili,tested_positive\n");
    let mut u = Uniform(7);
    for _ in 0..200 {
        let v: Vec<f64> = (0..5).map(|_| u.next(0.0, 1.0)).collect();
        let y = v[0] + 2.0 * v[3] - v[4] + 0.5 * v[2];
        writeln!(csv, "{:.6},{:.6},{:.6},{:.6},{:.6},{y:.6}", v[0], v[1], v[2], v[3], v[4]).unwrap();
    }
    let dir = TempDir::new("regression-repeated-names");
    let run = train_on(&dir, &csv, &["--target", "5", "--model", "linear", "--epochs", "200", "--drop", "ili"])
        .expect_success("repeated names");
    let note = "3 repeated column names renamed as pandas does (columns numbered from 0): cli -> cli.1 (column 3), \
                ili -> ili.1 (column 4), tested_positive -> tested_positive.1 (column 5)";
    assert!(run.stderr.contains(note), "{}", run.stderr);
    assert!(run.stdout.contains("cli, tested_positive, cli.1, ili.1 -> tested_positive.1"), "{}", run.stdout);
    let model = dir.arg("out/model.safetensors");
    let new = dir.write("new.csv", b"cli,ili,tested_positive,cli,ili,tested_positive\n1,0,0,0,0,\n0,0,0,1,0,\n");
    let pred = backprop(&["predict", "--model", &model, "--csv", new.to_str().unwrap()]).expect_success("predict");
    assert!(pred.stderr.contains("new.csv: 3 repeated column names renamed"), "{}", pred.stderr);
    let header = pred.stdout.lines().next().unwrap();
    // The table is written back with the names it was read with, as pandas' to_csv does.
    assert_eq!(header, "cli,ili,tested_positive,cli.1,ili.1,tested_positive.1,predicted_tested_positive.1");
    let p: Vec<f64> = column(&pred.stdout, "predicted_tested_positive.1").iter().map(|v| v.parse().unwrap()).collect();
    assert!((p[0] - 1.0).abs() < 0.02 && (p[1] - 2.0).abs() < 0.02, "{p:?}");
    // Names and numbers mixed; the same column twice, a number out of range, a target as a
    // feature: one error line after the note.
    let fails = |flags: &[&str], words: &[&str]| {
        let mut run = train_on(&dir, &csv, flags);
        let (note, error) = run.stderr.split_once('\n').unwrap();
        assert!(note.starts_with("note: ") && note.contains("renamed"), "{}", run.stderr);
        run.stderr = error.to_string();
        assert_clean_failure(&run, words);
    };
    fails(
        &["--target", "tested_positive.1", "--features", "0,cli.1,cli"],
        &["--features", "'0' and 'cli' are the same column ('cli')"],
    );
    fails(&["--target", "6"], &["data.csv", "no column number 6", "6 columns, numbered 0 to 5"]);
    fails(&["--target", "tested_positive.1", "--features", "5"], &["--features", "'tested_positive.1' is the target"]);
}

#[test]
fn normalize_none_learns_the_coefficients_in_the_data_units() {
    let dir = TempDir::new("regression-normalize-none");
    // Plain gradient descent on the raw columns, from zero weights.
    let flags = ["--target", "y", "--drop", "id", "--model", "linear", "--normalize", "none", "--init", "zeros"];
    let sgd = ["--optimizer", "sgd", "--lr", "0.05", "--schedule", "constant", "--epochs", "100"];
    train_on(&dir, &linear_csv(1000), &[&flags[..], &sgd[..]].concat()).expect_success("--normalize none");
    let ckpt = backprop::checkpoint::Checkpoint::load(&dir.join("out/model.safetensors")).unwrap();
    let (w, b) = (ckpt.tensors["layers.0.weight"].data().to_vec(), ckpt.tensors["layers.0.bias"].data()[0]);
    println!("y = {} x1 + {} x2 + {b}", w[0], w[1]);
    assert!((w[0] - 3.0).abs() < 1e-4 && (w[1] + 2.0).abs() < 1e-4 && (b - 0.5).abs() < 1e-4, "{w:?} {b}");
    assert!(ckpt.metadata["backprop.standardizer"].contains(r#""std":[1.0,1.0]"#));
    let run = train_on(&dir, GOOD, &["--target", "y", "--normalize", "unit"]);
    assert_clean_failure(&run, &["--normalize", "unit divides pixels by 255"]);
}

#[test]
fn a_line_break_inside_a_column_name_keeps_the_error_on_one_line() {
    // Found by the fuzz harness (fuzz/): a quoted header name holding a line break was
    // printed as is, so the error spanned two lines.
    let dir = TempDir::new("regression-name-with-newline");
    let run = train_on(&dir, "\"a\nb\",y\nfive,1\n2,3\n", &["--target", "y", "--features", "a\nb"]);
    assert_clean_failure(&run, &["data.csv", r"column 'a\nb'", "'five' is not a number"]);
}
