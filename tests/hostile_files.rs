//! Files that declare sizes and values they cannot back (issue 9, items 2, 3,
//! 9, 13 and 14): each is refused with one line naming the file, before
//! anything is allocated or predicted, or read whole when it is valid.

mod common;

use backprop::checkpoint::Checkpoint;
use backprop::data::{load_idx_pair, load_mnist_test, read_idx};
use common::{assert_clean_failure, backprop, fixture, gunzip, gzip, idx_bytes, mnist_dir, TempDir};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An IDX folder whose four files are the given images and labels (train and test alike).
fn idx_folder(dir: &Path, image_dims: &[u32], pixels: &[u8], labels: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    for prefix in ["train", "t10k"] {
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx_bytes(image_dims, pixels)).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx_bytes(&[labels.len() as u32], labels)).unwrap();
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn zero_images_of_65535x65535_are_refused_before_any_model_is_built() {
    let dir = TempDir::new("hostile-zero-huge");
    let data = dir.join("data");
    idx_folder(&data, &[0, 65535, 65535], &[], &[]);
    let out = dir.join("out");
    let run = backprop(&["train", "mnist", "--data", arg(&data), "--out", arg(&out), "--epochs", "1"]);
    let line = assert_clean_failure(&run, &["train-images-idx3-ubyte", "0 images"]);
    assert!(line.contains("[0, 65535, 65535]"), "{line}");
    assert!(!out.join("model.safetensors").exists());
    // eval reads only the test pair, and refuses it the same way.
    let model = common::train_tiny_10x10(&dir);
    let eval = backprop(&["eval", "--model", arg(&model), "--data", arg(&data)]);
    assert_clean_failure(&eval, &["t10k-images-idx3-ubyte", "0 images"]);
}

#[test]
fn images_of_width_zero_are_refused() {
    let dir = TempDir::new("hostile-width-0");
    let data = dir.join("data");
    idx_folder(&data, &[3, 8, 0], &[], &[1, 2, 3]);
    let run = backprop(&["train", "mnist", "--data", arg(&data), "--out", &dir.arg("out"), "--epochs", "1"]);
    assert_clean_failure(&run, &["train-images-idx3-ubyte", "width 0"]);
    let e = load_idx_pair(&data.join("t10k-images-idx3-ubyte"), &data.join("t10k-labels-idx1-ubyte")).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "t10k-images-idx3-ubyte: images of width 0 (dimensions [3, 8, 0]); an image needs at least 1x1 pixels"
        ),
        "{e}"
    );
}

#[test]
fn an_empty_test_pair_is_refused_not_scored_as_0_percent() {
    let dir = TempDir::new("hostile-empty-test");
    let model = common::train_tiny_10x10(&dir);
    let data = dir.join("data10");
    fs::write(data.join("t10k-images-idx3-ubyte"), idx_bytes(&[0, 10, 10], &[])).unwrap();
    fs::write(data.join("t10k-labels-idx1-ubyte"), idx_bytes(&[0], &[])).unwrap();
    let eval = backprop(&["eval", "--model", arg(&model), "--data", arg(&data)]);
    assert_clean_failure(&eval, &["t10k-images-idx3-ubyte", "0 images"]);
    assert!(!eval.stdout.contains("accuracy"), "{}", eval.stdout);
}

#[test]
fn hdf5_labels_that_are_no_class_numbers_are_refused() {
    for (file, label) in
        [("labels_2e62.h5", "4611686018427387904"), ("labels_2e35.h5", "34359738368"), ("labels_1e6.h5", "1000000")]
    {
        let dir = TempDir::new(&format!("hostile-{file}"));
        let run = backprop(&["train", "images", "--data", &fixture(file), "--out", &dir.arg("out"), "--epochs", "1"]);
        let line =
            assert_clean_failure(&run, &[file, "train_set_y", &format!("label {label} at index 1"), "2 examples"]);
        assert!(line.contains("at most 65536"), "{line}");
        assert!(!dir.join("out/model.safetensors").exists());
    }
    let dir = TempDir::new("hostile-h5-width-0");
    let run = backprop(&["train", "images", "--data", &fixture("width_0.h5"), "--out", &dir.arg("out")]);
    assert_clean_failure(&run, &["width_0.h5", "train_set_x", "width 0"]);
    let run = backprop(&["train", "images", "--data", &fixture("classes_twice.h5"), "--out", &dir.arg("out")]);
    assert_clean_failure(&run, &["classes_twice.h5", "list_classes names 'cat' twice (entries 0 and 1)"]);
}

#[test]
fn a_gzip_file_of_several_members_is_read_whole() {
    let dir = TempDir::new("hostile-multi-gz");
    let raw = gunzip(&fs::read(mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap());
    // What `cat a.gz b.gz c.gz` makes: zcat and Python's gzip read it whole.
    let cut = [raw.len() / 3, 2 * raw.len() / 3];
    let mut members = gzip(&raw[..cut[0]]);
    members.extend(gzip(&raw[cut[0]..cut[1]]));
    members.extend(gzip(&raw[cut[1]..]));
    let data = dir.join("test-only");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("t10k-images-idx3-ubyte.gz"), &members).unwrap();
    fs::copy(mnist_dir().join("t10k-labels-idx1-ubyte.gz"), data.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let array = read_idx(&data.join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(array.dims, vec![1996, 28, 28]);
    assert_eq!(array.data, raw[16..]);
    assert_eq!(load_mnist_test(&data).unwrap(), load_mnist_test(&mnist_dir()).unwrap());
}

#[test]
fn gzip_data_past_the_declared_size_is_refused_without_inflating_it() {
    let dir = TempDir::new("hostile-gz-trailing");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&idx_bytes(&[1, 28, 28], &[9; 784])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap(); // 256 MiB of zeros, about 1 MB compressed
    }
    let path = dir.write("t10k-images-idx3-ubyte.gz", &enc.finish().unwrap());
    let started = std::time::Instant::now();
    let e = read_idx(&path).unwrap_err().to_string();
    let seconds = started.elapsed().as_secs_f64();
    assert!(e.contains("t10k-images-idx3-ubyte.gz: unexpected trailing bytes at byte offset 800"), "{e}");
    // Inflating 256 MiB takes about a second; reading 801 bytes of it, milliseconds.
    assert!(seconds < 0.5, "took {seconds:.2}s: the trailing data was inflated");
}

#[test]
fn eval_attack_and_gradcheck_accept_a_folder_with_only_the_test_files() {
    let dir = TempDir::new("hostile-t10k-only");
    let model = common::train_tiny_10x10(&dir);
    let test_only = dir.join("test-only");
    fs::create_dir_all(&test_only).unwrap();
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        fs::copy(dir.join("data10").join(name), test_only.join(name)).unwrap();
    }
    let full = backprop(&["eval", "--model", arg(&model), "--data", &dir.arg("data10")]).expect_success("eval");
    let only = backprop(&["eval", "--model", arg(&model), "--data", arg(&test_only)]).expect_success("eval t10k");
    let accuracy = |s: &str| s.split("test accuracy ").nth(1).unwrap().split('%').next().unwrap().to_string();
    assert_eq!(accuracy(&only.stdout), accuracy(&full.stdout));
    assert!(only.stdout.contains("(50 images"), "{}", only.stdout);
    backprop(&["attack", "--model", arg(&model), "--data", arg(&test_only), "--limit", "10", "--out", &dir.arg("atk")])
        .expect_success("attack on the test files only");
    backprop(&["gradcheck", "--model", arg(&model), "--data", arg(&test_only), "--batch", "2", "--samples", "2"])
        .expect_success("gradcheck on the test files only");
}

#[test]
fn train_mnist_accepts_a_folder_with_only_the_training_files() {
    let dir = TempDir::new("hostile-train-only");
    let data = dir.join("data");
    common::write_band_dataset(&data, 10, 200, 50);
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        fs::remove_file(data.join(name)).unwrap();
    }
    let out = dir.arg("out");
    let run = backprop(&["train", "mnist", "--data", arg(&data), "--out", &out, "--hidden", "16", "--epochs", "3"])
        .expect_success("train mnist without test files");
    assert!(run.stdout.contains("(180 train, 20 validation, 0 test images)"), "{}", run.stdout);
    assert!(run.stdout.contains("validation accuracy") && run.stdout.contains("(20 images)"), "{}", run.stdout);
    let json = backprop(&["train", "mnist", "--data", arg(&data), "--out", &out, "--epochs", "1", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(json.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["validation_examples"], 20, "{summary}");
    // Nothing left to evaluate on: refused before training.
    let run = backprop(&["train", "mnist", "--data", arg(&data), "--out", &out, "--val-fraction", "0"]);
    assert_clean_failure(&run, &["--val-fraction", "no t10k- test files"]);
    // One test file without the other is still a missing file.
    fs::write(data.join("t10k-images-idx3-ubyte"), idx_bytes(&[1, 10, 10], &[0; 100])).unwrap();
    let run = backprop(&["train", "mnist", "--data", arg(&data), "--out", &out]);
    assert_clean_failure(&run, &["t10k-labels-idx1-ubyte", "not found"]);
}

/// Trains a linear CSV model on y = 2 a - b and returns the checkpoint.
fn csv_model(dir: &TempDir) -> PathBuf {
    let mut text = String::from("a,b,y\n");
    for i in 0..40 {
        let (a, b) = (i as f32 / 10.0, (i % 7) as f32);
        text += &format!("{a},{b},{}\n", 2.0 * a - b);
    }
    let data = dir.write("train.csv", text.as_bytes());
    let out = dir.join("csv");
    backprop(&[
        "train",
        "csv",
        "--file",
        arg(&data),
        "--target",
        "y",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--out",
        arg(&out),
    ])
    .expect_success("train csv");
    out.join("model.safetensors")
}

#[test]
fn a_standardiser_that_does_not_fit_is_refused_not_used() {
    let dir = TempDir::new("hostile-standardizer");
    let model = csv_model(&dir);
    let rows = dir.write("new.csv", b"a,b\n1,2\n");
    let good = Checkpoint::load(&model).unwrap();
    let cases = [
        (
            r#"{"inputs":{"mean":[0,0],"std":[1]},"targets":{"mean":[0],"std":[1]}}"#,
            "2 means and 1 standard deviations",
        ),
        (
            r#"{"inputs":{"mean":[0,0],"std":[1,0]},"targets":{"mean":[0],"std":[1]}}"#,
            "column 'b': standard deviation 0",
        ),
        (
            r#"{"inputs":{"mean":[0,0],"std":[1,1]},"targets":{"mean":[0],"std":[-2]}}"#,
            "column 'y': standard deviation -2",
        ),
    ];
    for (i, (scalers, words)) in cases.into_iter().enumerate() {
        let mut bad = good.clone();
        bad.metadata.insert("backprop.standardizer".into(), scalers.into());
        let path = dir.join(&format!("bad{i}.safetensors"));
        bad.save_to(&path).unwrap();
        let run = backprop(&["predict", "--model", arg(&path), "--csv", arg(&rows)]);
        assert_clean_failure(&run, &[&format!("bad{i}.safetensors"), "backprop.standardizer", words]);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_clean_failure(&backprop(&["info", arg(&path)]), &["backprop.standardizer", words]);
    }
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let dir = TempDir::new("hostile-nan-weights");
    let model = common::train_tiny_10x10(&dir);
    let mut ckpt = Checkpoint::load(&model).unwrap();
    let bias = ckpt.tensors.get_mut("layers.2.bias").unwrap();
    bias.data_mut()[3] = f32::NAN;
    let bad = dir.join("nan.safetensors");
    ckpt.save_to(&bad).unwrap();
    let png = dir.join("d.png");
    image::GrayImage::new(10, 10).save(&png).unwrap();
    let data = dir.arg("data10");
    for args in [
        vec!["eval", "--model", arg(&bad), "--data", &data],
        vec!["predict", "--model", arg(&bad), arg(&png)],
        vec!["ood", "--model", arg(&bad), "--in", &data, "--out", &data],
        vec!["info", arg(&bad)],
    ] {
        let line = assert_clean_failure(&backprop(&args), &["nan.safetensors", "layers.2.bias", "NaN at index 3"]);
        assert!(line.contains("1 non-finite of 10 values"), "{line}");
    }
}

#[test]
fn class_names_and_pixel_scales_that_do_not_fit_are_refused_at_load() {
    let dir = TempDir::new("hostile-image-meta");
    let out = dir.join("run");
    backprop(&["train", "images", "--data", &fixture("catvnoncat_train.h5"), "--out", arg(&out), "--epochs", "1"])
        .expect_success("train images");
    let good = Checkpoint::load(&out.join("model.safetensors")).unwrap();
    let cases = [
        ("backprop.classes", r#"["a","b","c"]"#, "names 3 classes but the model has 1 outputs"),
        ("backprop.normalize", r#"{"mean":0.5,"std":0}"#, "with S > 0"),
        ("backprop.normalize", r#"{"mean":1e999,"std":1}"#, "backprop.normalize"),
        ("backprop.input", r#"{"image":[64,32],"channels":3}"#, "64x32x3 images but the model takes 12288 inputs"),
        ("backprop.reject_below", "1.5", "not a probability"),
        ("backprop.loss", "hinge", "unknown loss 'hinge'"),
    ];
    for (i, (key, value, words)) in cases.into_iter().enumerate() {
        let mut bad = good.clone();
        bad.metadata.insert(key.into(), value.into());
        let path = dir.join(&format!("bad{i}.safetensors"));
        bad.save_to(&path).unwrap();
        assert_clean_failure(&backprop(&["info", arg(&path)]), &[&format!("bad{i}.safetensors"), key, words]);
        let png = dir.join("cat.png");
        image::RgbImage::new(64, 64).save(&png).unwrap();
        let run = backprop(&["predict", "--model", arg(&path), arg(&png)]);
        assert_clean_failure(&run, &[&format!("bad{i}.safetensors"), words]);
    }
}
