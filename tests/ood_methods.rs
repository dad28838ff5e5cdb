//! "I don't know" that works: every out-of-distribution score of `backprop
//! ood` (max softmax probability, max logit, energy, ODIN, Mahalanobis, k-NN,
//! an autoencoder's reconstruction error), `calibrate --method` storing one
//! that `predict` then answers "unknown" with, `train autoencoder` in the
//! course's normal-only set-up, `--classes`, and the bad inputs the issue
//! lists, each one error line.

mod common;

use common::{assert_clean_failure, backprop, gunzip, mnist_arg, write_band_dataset, TempDir};
use std::path::{Path, PathBuf};

fn fashion_arg() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist-1k").to_str().unwrap().to_string()
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// The first `n` test images of an IDX folder as PNG files.
fn write_test_pngs(dir: &str, root: &TempDir, prefix: &str, n: usize) -> Vec<PathBuf> {
    let bytes = gunzip(&std::fs::read(Path::new(dir).join("t10k-images-idx3-ubyte.gz")).unwrap());
    (0..n)
        .map(|i| {
            let path = root.join(&format!("{prefix}-{i}.png"));
            let pixels = bytes[16 + i * 784..16 + (i + 1) * 784].to_vec();
            image::GrayImage::from_raw(28, 28, pixels).unwrap().save(&path).unwrap();
            path
        })
        .collect()
}

/// How many of `images` `predict` calls unknown, checking each such line's "score < threshold".
fn unknowns(model: &str, images: &[PathBuf], extra: &[&str]) -> usize {
    let mut args: Vec<String> = vec!["predict".into(), "--model".into(), model.into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(images.iter().map(|p| p.to_str().unwrap().to_string()));
    let run = backprop(&args).expect_success("predict");
    let unknown: Vec<&str> = run.stdout.lines().filter(|l| l.contains(": unknown (")).collect();
    for line in &unknown {
        let (_, rest) = line.split_once(" score ").unwrap_or_else(|| line.split_once("probability ").unwrap());
        let (s, t) = rest.trim_end_matches(')').split_once(" < ").unwrap();
        assert!(s.parse::<f32>().unwrap() < t.parse::<f32>().unwrap(), "{line}");
    }
    unknown.len()
}

#[test]
fn every_method_scores_digits_against_clothes_and_calibrate_stores_one() {
    let root = TempDir::new("ood-methods");
    let run_dir = root.arg("run");
    let args = ["train", "mnist", "--hidden", "128", "--epochs", "3", "--out", &run_dir, "--threads", "2"];
    backprop(&args).expect_success("training");
    let model = root.arg("run/model.safetensors");

    // Every classifier score, one JSON object each; fitted on the training split only.
    let ood = ["ood", "--model", &model, "--in", &mnist_arg(), "--out", &fashion_arg()];
    let run = backprop(&[&ood[..], &["--method", "all", "--json"]].concat()).expect_success("ood --method all");
    let rows = json_lines(&run.stdout);
    let names: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(names, ["msp", "maxlogit", "energy", "odin", "mahalanobis", "knn"]);
    for r in &rows {
        for key in ["auroc", "aupr_in", "aupr_out", "fpr95"] {
            let v = r[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {r}"));
            assert!((0.0..=1.0).contains(&v), "{r}");
        }
        println!("{}: AUROC {:.4} FPR95 {:.4} {}", r["method"], r["auroc"], r["fpr95"], r["parameters"]);
        assert!(r["auroc"].as_f64().unwrap() > 0.6, "{r}");
        assert_eq!((r["in_examples"].as_u64(), r["out_examples"].as_u64()), (Some(1996), Some(1000)));
    }
    let auroc = |m: &str| rows.iter().find(|r| r["method"] == m).unwrap()["auroc"].as_f64().unwrap();
    // The feature-space score beats the softmax baseline on this pair.
    assert!(auroc("knn") > auroc("msp"), "knn {} vs msp {}", auroc("knn"), auroc("msp"));
    assert_eq!(rows[5]["parameters"]["bank"].as_u64(), Some(7204), "the bank is the training part: {}", rows[5]);
    let text = backprop(&[&ood[..], &["--method", "all"]].concat()).expect_success("ood table");
    assert!(text.stdout.lines().any(|l| l.starts_with("mahalanobis ")), "{}", text.stdout);

    // calibrate --method knn stores the bank and the threshold; info shows them.
    let run = backprop(&["calibrate", "--model", &model, "--data", &mnist_arg(), "--method", "knn", "--json"])
        .expect_success("calibrate --method knn");
    let c = &json_lines(&run.stdout)[0];
    assert_eq!(
        (c["method"].as_str(), c["key"].as_str(), c["examples"].as_u64()),
        (Some("knn"), Some("backprop.ood"), Some(800))
    );
    assert!(c["tpr_measured"].as_f64().unwrap() >= 0.95, "{c}");
    let info = backprop(&["info", &model]).expect_success("info").stdout;
    assert!(info.contains("unknown below: knn score"), "{info}");
    assert!(info.contains("ood.bank") && info.contains("(out-of-distribution detector)"), "{info}");
    backprop(&["eval", "--model", &model, "--data", &mnist_arg()]).expect_success("eval after calibrate");
    // ood reuses what calibrate stored.
    let run = backprop(&[&ood[..], &["--method", "knn", "--json"]].concat()).expect_success("ood knn");
    assert_eq!(json_lines(&run.stdout)[0]["fitted"], "stored by calibrate");
    // ... unless a flag sets the method's parameters: then it fits again with them.
    let run = backprop(&[&ood[..], &["--method", "knn", "--k", "3", "--json"]].concat()).expect_success("ood knn k 3");
    let row = &json_lines(&run.stdout)[0];
    assert!(row["fitted"].as_str().unwrap().starts_with("fitted on"), "{row}");
    assert_eq!(row["parameters"]["k"], 3, "{row}");

    // predict answers "unknown" with the stored method, far more often for clothes.
    let digits = write_test_pngs(&mnist_arg(), &root, "digit", 100);
    let clothes = write_test_pngs(&fashion_arg(), &root, "fashion", 100);
    let (on_digits, on_clothes) = (unknowns(&model, &digits, &[]), unknowns(&model, &clothes, &[]));
    println!("knn: unknown for {on_digits} of 100 digits, {on_clothes} of 100 clothes");
    assert!(on_clothes >= 70 && on_digits <= 20, "{on_clothes} clothes, {on_digits} digits");
    assert_eq!(unknowns(&model, &clothes, &["--reject-below", "0"]), 0, "the flag overrides the stored method");

    // serve answers with the stored method too.
    let server = common::serve::Server::start(Path::new(&model), &[]);
    let health = server.request("GET", "/health", b"").json();
    assert_eq!(health["ood_method"], "knn", "{health}");
    let pixels = |dir: &str, i: usize| -> Vec<f32> {
        let bytes = gunzip(&std::fs::read(Path::new(dir).join("t10k-images-idx3-ubyte.gz")).unwrap());
        bytes[16 + i * 784..16 + (i + 1) * 784].iter().map(|&b| f32::from(b) / 255.0).collect()
    };
    // The same verdicts as predict's, image by image.
    let args =
        [&["predict", "--model", &model][..], &clothes[..10].iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>()]
            .concat();
    let said = backprop(&args).expect_success("predict").stdout;
    let mut served_unknown = 0;
    for (i, line) in said.lines().enumerate() {
        let answer = server.predict(&pixels(&fashion_arg(), i));
        assert_eq!(
            answer["unknown"].as_bool(),
            Some(line.contains("unknown (knn score")),
            "{line}: {}",
            answer["ood_score"]
        );
        assert_eq!(answer["ood_method"], "knn");
        if answer["unknown"] == true {
            assert!(answer["ood_score"].as_f64().unwrap() < answer["threshold"].as_f64().unwrap());
            served_unknown += 1;
        }
    }
    assert!(served_unknown >= 3, "{served_unknown} of 10 clothes unknown: {said}");
    drop(server);

    // Calibrating MSP again replaces the stored detector with the plain threshold.
    backprop(&["calibrate", "--model", &model, "--data", &mnist_arg(), "--method", "msp"]).expect_success("msp");
    let info = backprop(&["info", &model]).expect_success("info").stdout;
    assert!(info.contains("backprop.reject_below: ") && !info.contains("ood.bank"), "{info}");
    let run = backprop(&[
        "calibrate",
        "--model",
        &model,
        "--data",
        &mnist_arg(),
        "--method",
        "odin",
        "--epsilon",
        "0.001",
        "--json",
    ])
    .expect_success("odin");
    assert_eq!(json_lines(&run.stdout)[0]["parameters"]["epsilon"].as_f64(), Some(0.001f32 as f64));

    // Bad input: one error line each.
    let digit = digits[0].to_str().unwrap();
    assert_clean_failure(&backprop(&[&ood[..], &["--method", "ae"]].concat()), &["--method", "--ae"]);
    assert_clean_failure(&backprop(&[&ood[..], &["--method", "bogus"]].concat()), &["--method", "bogus"]);
    assert_clean_failure(&backprop(&[&ood[..], &["--method", "knn", "--k", "0"]].concat()), &["--k"]);
    assert_clean_failure(&backprop(&[&ood[..], &["--method", "knn", "--k", "8000"]].concat()), &["--k", "7204"]);
    assert_clean_failure(
        &backprop(&["calibrate", "--model", &model, "--data", &mnist_arg(), "--method", "ae"]),
        &["--method", "autoencoder"],
    );
    assert_clean_failure(&backprop(&[&ood[..], &["--out-classes", "4-2"]].concat()), &["--out-classes"]);
    let ckpt = backprop::checkpoint::Checkpoint::load(Path::new(&model)).unwrap();
    let mut bad = ckpt.clone();
    bad.metadata.insert("backprop.ood".into(), r#"{"method":"knn","threshold":0.1,"tpr":0.95,"k":3}"#.into());
    let bad_path = root.join("bad.safetensors");
    bad.save_to(&bad_path).unwrap();
    assert_clean_failure(
        &backprop(&["predict", "--model", bad_path.to_str().unwrap(), digit]),
        &["backprop.ood", "ood.bank"],
    );
}

#[test]
fn an_autoencoder_trained_on_normal_digits_flags_the_others() {
    let root = TempDir::new("ood-ae");
    // The homework set-up: digits 0-4 are normal, 5-9 the anomalies of the test split.
    let out = root.arg("ae");
    let args = ["train", "autoencoder", "--classes", "0-4", "--epochs", "3", "--out", &out, "--threads", "2", "--json"];
    let run = backprop(&args).expect_success("train autoencoder");
    let summary = json_lines(run.stdout.lines().last().unwrap())[0].clone();
    let area = summary["anomaly_auroc"].as_f64().unwrap();
    println!("autoencoder on digits 0-4: ROC AUC {area:.4} against 5-9: {summary}");
    assert!(area > 0.6, "{summary}");
    assert_eq!((summary["normal_examples"].as_u64(), summary["anomalous_examples"].as_u64()), (Some(1025), Some(971)));
    let grid = image::open(root.join("ae/reconstructions.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * (84 + 2) + 2, 4 * (2 * 84 + 6) + 2));
    let ae = root.arg("ae/model.safetensors");
    let info = backprop(&["info", &ae]).expect_success("info").stdout;
    assert!(info.contains("kind: autoencoder"), "{info}");

    // A folder without t10k- files: scored on the held-out part of the training split, whose
    // digits 5-9 were never trained on.
    let train_only = root.join("train-only");
    common::copy_mnist(&train_only, &common::MNIST_FILES[2..]);
    let out = root.arg("ae-train-only");
    let data = train_only.to_str().unwrap();
    let args = ["train", "autoencoder", "--data", data, "--classes", "0-4", "--epochs", "1", "--out", &out, "--json"];
    let summary = json_lines(backprop(&args).expect_success("train-only").stdout.lines().last().unwrap())[0].clone();
    assert_eq!(summary["evaluated_on"], "validation", "{summary}");
    let (normal, anomalous) = (summary["normal_examples"].as_u64().unwrap(), summary["anomalous_examples"].as_u64());
    assert_eq!(normal + anomalous.unwrap(), summary["test_examples"].as_u64().unwrap(), "{summary}");
    let no_eval = backprop(&["train", "autoencoder", "--data", data, "--val-fraction", "0", "--out", &out]);
    assert_clean_failure(&no_eval, &["--val-fraction", "no t10k- test files"]);

    // The reconstruction error tells digits from clothes.
    let classifier = root.arg("clf/model.safetensors");
    backprop(&["train", "mnist", "--classes", "0-4", "--hidden", "32", "--epochs", "1", "--out", &root.arg("clf")])
        .expect_success("train mnist --classes");
    let info = backprop(&["info", &classifier]).expect_success("info").stdout;
    assert!(info.contains(r#"backprop.classes: ["0","1","2","3","4"]"#), "{info}");
    let mnist = mnist_arg();
    let ood = ["ood", "--model", &classifier, "--in", &mnist, "--classes", "0-4"];
    let run = backprop(&[&ood[..], &["--out", &fashion_arg(), "--method", "ae", "--ae", &ae, "--json"]].concat())
        .expect_success("ood --method ae");
    let r = &json_lines(&run.stdout)[0];
    assert!(r["auroc"].as_f64().unwrap() > 0.9, "{r}");
    assert_eq!(r["in_examples"].as_u64(), Some(1025), "only digits 0-4 are in-distribution: {r}");
    // Near-OOD: digits 5-9 of the same folder as the unknown, every method.
    let near =
        [&ood[..], &["--out", &mnist, "--out-classes", "5-9", "--method", "all", "--ae", &ae, "--json"]].concat();
    let rows = json_lines(&backprop(&near).expect_success("near ood").stdout);
    assert_eq!(rows.len(), 7, "every method including ae");
    assert!(rows.iter().all(|r| r["out_examples"].as_u64() == Some(971)), "{rows:?}");
    // The classes must be the model's, and disjoint when one folder is both sides.
    let msp = ["ood", "--model", &classifier, "--in", &mnist, "--out", &fashion_arg(), "--method", "msp"];
    assert_clean_failure(&backprop(&msp), &["--classes", "trained on classes 0,1,2,3,4"]);
    assert_clean_failure(&backprop(&[&msp[..], &["--classes", "5-9"]].concat()), &["--classes", "5-9", "0,1,2,3,4"]);
    let calibrate = ["calibrate", "--model", &classifier, "--data", &mnist, "--classes", "5-9", "--method", "knn"];
    assert_clean_failure(&backprop(&calibrate), &["--classes", "5-9"]);
    assert_clean_failure(
        &backprop(&[&ood[..], &["--out", &mnist, "--out-classes", "3-9", "--method", "msp"]].concat()),
        &["--out-classes", "class 3"],
    );
    assert_clean_failure(
        &backprop(&[&ood[..], &["--out", &fashion_arg(), "--method", "msp", "--ae", &ae]].concat()),
        &["--ae", "--method ae"],
    );

    // A variational, convolutional one trains too (loss = -ELBO).
    let vae = root.arg("vae");
    let args = [
        "train",
        "autoencoder",
        "--arch",
        "conv",
        "--variational",
        "--bottleneck",
        "8",
        "--epochs",
        "1",
        "--out",
        &vae,
        "--json",
    ];
    let summary = json_lines(backprop(&args).expect_success("vae").stdout.lines().last().unwrap())[0].clone();
    assert!(summary["test_loss"].as_f64().unwrap().is_finite(), "{summary}");

    // Bad input: an autoencoder of another input size, folders whose images differ in size.
    let band = root.join("band12");
    write_band_dataset(&band, 12, 40, 20);
    let band = band.to_str().unwrap().to_string();
    let small = root.arg("small");
    backprop(&["train", "autoencoder", "--data", &band, "--epochs", "1", "--out", &small]).expect_success("small ae");
    let small_ae = root.arg("small/model.safetensors");
    let base = ["ood", "--model", &classifier, "--in", &mnist_arg(), "--classes", "0-4", "--method", "ae"];
    let line = assert_clean_failure(
        &backprop(&[&base[..], &["--out", &fashion_arg(), "--ae", &small_ae]].concat()),
        &["144 inputs", "784 values"],
    );
    assert!(line.contains("small"), "{line}");
    assert_clean_failure(
        &backprop(&[&base[..], &["--out", &band, "--ae", &ae]].concat()),
        &["784 inputs", "144 values"],
    );
    assert_clean_failure(
        &backprop(&[&base[..], &["--out", &fashion_arg(), "--ae", &classifier]].concat()),
        &["not an autoencoder"],
    );
    let band10 = root.join("band10");
    write_band_dataset(&band10, 10, 30, 20);
    // Mahalanobis fitted on 27 images for 16 features works, with a warning.
    let tiny = common::train_tiny_10x10(&root);
    let (tiny, band10_arg, data10) = (tiny.to_str().unwrap(), band10.to_str().unwrap(), root.arg("data10"));
    let run = backprop(&["ood", "--model", tiny, "--in", band10_arg, "--out", &data10, "--method", "mahalanobis"]);
    let run = run.expect_success("mahalanobis on few images");
    assert!(
        run.stderr.contains("warning: the Mahalanobis covariance is fitted on 27 images for 16 features"),
        "{}",
        run.stderr
    );
    assert_clean_failure(
        &backprop(&[
            "train",
            "autoencoder",
            "--arch",
            "conv",
            "--data",
            band10.to_str().unwrap(),
            "--out",
            &root.arg("x"),
        ]),
        &["--arch", "multiples of 4", "10x10"],
    );
    assert_clean_failure(
        &backprop(&["train", "mnist", "--classes", "3-12", "--out", &root.arg("y")]),
        &["--classes", "12"],
    );
}

#[test]
fn classes_test_files_and_stored_settings() {
    let root = TempDir::new("ood-settings");
    let tiny = common::train_tiny_10x10(&root);
    let (model, data10) = (tiny.to_str().unwrap().to_string(), root.arg("data10"));
    // --classes names the classes the model was trained on: 5 of a 10-class model is refused up front.
    let ood = ["ood", "--model", &model, "--in", &data10, "--out", &data10, "--out-classes", "5-9"];
    let line = assert_clean_failure(
        &backprop(&[&ood[..], &["--classes", "0-4", "--method", "mahalanobis"]].concat()),
        &["--classes", "0-4", "5 classes", "the model has 10", "0,1,2,3,4,5,6,7,8,9"],
    );
    assert!(!line.contains("features"), "{line}");
    let calibrate = ["calibrate", "--model", &model, "--data", &data10, "--classes", "0-4", "--method", "mahalanobis"];
    assert_clean_failure(&backprop(&calibrate), &["--classes", "0-4", "the model has 10"]);

    // calibrate on a folder without t10k- files: the threshold as usual, no test check.
    let train_only = root.join("train-only");
    std::fs::create_dir_all(&train_only).unwrap();
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        std::fs::copy(root.join("data10").join(name), train_only.join(name)).unwrap();
    }
    let calibrated = root.join("calibrated.safetensors");
    std::fs::copy(&tiny, &calibrated).unwrap();
    let calibrated = calibrated.to_str().unwrap();
    let args = ["calibrate", "--model", calibrated, "--data", train_only.to_str().unwrap(), "--method", "knn"];
    let run = backprop(&[&args[..], &["--bank-size", "50"]].concat()).expect_success("calibrate without t10k files");
    assert!(run.stdout.contains("has no t10k- test files"), "{}", run.stdout);
    let run = backprop(&[&args[..], &["--bank-size", "50", "--json"]].concat()).expect_success("calibrate --json");
    let summary = &json_lines(&run.stdout)[0];
    assert_eq!(summary["examples"], 20, "the threshold is set on the 10% held out: {summary}");
    assert_eq!((summary["test_examples"].as_u64(), summary["test_tpr"].is_null()), (Some(0), true), "{summary}");
    assert_eq!(summary["parameters"]["bank"], 50, "{summary}");

    // ood --k 7 refits the stored k-NN with its stored bank size (50), not the default (all 180).
    let other = root.join("other10");
    write_band_dataset(&other, 10, 30, 20);
    let ood = ["ood", "--model", calibrated, "--in", &data10, "--out", other.to_str().unwrap(), "--method", "knn"];
    let rows = json_lines(&backprop(&[&ood[..], &["--k", "7", "--json"]].concat()).expect_success("refit").stdout);
    assert_eq!((rows[0]["parameters"]["k"].as_u64(), rows[0]["parameters"]["bank"].as_u64()), (Some(7), Some(50)));
    assert!(rows[0]["fitted"].as_str().unwrap().contains("as stored by calibrate"), "{}", rows[0]);
    let rows = json_lines(&backprop(&[&ood[..], &["--json"]].concat()).expect_success("stored").stdout);
    assert_eq!(rows[0]["fitted"], "stored by calibrate", "{}", rows[0]);
    // --seed and --val-fraction choose the images a method is fitted on: refused where nothing is fitted.
    let fit_flag = |extra: &[&str]| backprop(&[&ood[..], extra].concat());
    assert_clean_failure(&fit_flag(&["--seed", "3"]), &["--seed", "knn is used as calibrate stored it"]);
    let msp = [&ood[..ood.len() - 1], &["msp", "--val-fraction", "0.5"]].concat();
    assert_clean_failure(&backprop(&msp), &["--val-fraction", "msp fits nothing"]);
    fit_flag(&["--k", "7", "--seed", "3"]).expect_success("a refitted k-NN draws its bank with --seed");
    let calibrate = ["calibrate", "--model", calibrated, "--data", &data10, "--method", "msp", "--val-fraction", "0"];
    assert_clean_failure(&backprop(&[&calibrate[..], &["--seed", "3"]].concat()), &["--seed", "no validation part"]);
    // ood scores the test split of --in: without t10k- files, one line naming them.
    let ood = ["ood", "--model", calibrated, "--in", train_only.to_str().unwrap(), "--out", other.to_str().unwrap()];
    assert_clean_failure(&backprop(&[&ood[..], &["--method", "knn"]].concat()), &["t10k-images", "not found"]);
}
