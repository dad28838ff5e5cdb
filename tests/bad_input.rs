//! Bad input never panics: every case exits non-zero with one line on stderr
//! that names the problem.

mod common;

use backprop::checkpoint::{self, CONFIG_KEY, KIND_KEY};
use backprop::{Param, Tensor};
use common::{assert_clean_failure, backprop, copy_mnist, gunzip, gzip, idx_bytes, mnist_arg, Run, TempDir};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// `train mnist --data DIR` with a short run into `dir/out`, plus `extra` flags.
fn train_on(data: &Path, dir: &TempDir, extra: &[&str]) -> Run {
    let out = dir.arg("out");
    let mut args =
        vec!["train", "mnist", "--data", data.to_str().unwrap(), "--out", &out, "--epochs", "1", "--threads", "2"];
    args.extend_from_slice(extra);
    backprop(&args)
}

/// `train mnist` on the bundled data with only `flags` added; the flags are
/// expected to be rejected before any training starts.
fn train_flags(dir: &TempDir, flags: &[&str]) -> Run {
    let out = dir.arg("out");
    let data = mnist_arg();
    let mut args = vec!["train", "mnist", "--data", &data, "--out", &out];
    args.extend_from_slice(flags);
    backprop(&args)
}

// ---------------------------------------------------------------- data files

#[test]
fn truncated_raw_idx_images() {
    let dir = TempDir::new("bad-truncated-raw");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-images-idx3-ubyte.gz"]);
    let raw = gunzip(&fs::read(common::mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap());
    fs::write(data.join("t10k-images-idx3-ubyte"), &raw[..raw.len() - 1000]).unwrap();
    let line = assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-images-idx3-ubyte", "truncated"]);
    assert!(line.contains(&format!("found {}", raw.len() - 16 - 1000)), "{line}");
    // eval reads the same folder and reports the same problem.
    let model = common::train_tiny_10x10(&dir);
    let eval = backprop(&["eval", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_clean_failure(&eval, &["t10k-images-idx3-ubyte", "truncated"]);
}

#[test]
fn truncated_gzip_idx_images() {
    let dir = TempDir::new("bad-truncated-gz");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-images-idx3-ubyte.gz"]);
    let gz = fs::read(common::mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap();
    fs::write(data.join("t10k-images-idx3-ubyte.gz"), &gz[..gz.len() / 2]).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-images-idx3-ubyte.gz", "gzip"]);
}

#[test]
fn gzip_of_a_truncated_idx_file() {
    let dir = TempDir::new("bad-gz-of-truncated");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-images-idx3-ubyte.gz"]);
    let raw = gunzip(&fs::read(common::mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap());
    fs::write(data.join("t10k-images-idx3-ubyte.gz"), gzip(&raw[..raw.len() - 5])).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-images-idx3-ubyte.gz", "truncated"]);
}

#[test]
fn garbled_idx_magic() {
    let dir = TempDir::new("bad-magic");
    let data = dir.join("data");
    copy_mnist(&data, &["train-images-idx3-ubyte.gz"]);
    let mut raw = gunzip(&fs::read(common::mnist_dir().join("train-images-idx3-ubyte.gz")).unwrap());
    raw[..4].copy_from_slice(b"PK\x03\x04");
    fs::write(data.join("train-images-idx3-ubyte"), &raw).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["train-images-idx3-ubyte", "magic"]);
}

#[test]
fn gzip_with_garbage_inside() {
    let dir = TempDir::new("bad-gz-garbage");
    let data = dir.join("data");
    copy_mnist(&data, &["train-labels-idx1-ubyte.gz"]);
    let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
    bytes.extend_from_slice(b"this is not deflate data at all, just some text that goes on and on");
    fs::write(data.join("train-labels-idx1-ubyte.gz"), &bytes).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["train-labels-idx1-ubyte.gz", "gzip"]);
}

#[test]
fn gzip_of_garbage_is_not_idx() {
    let dir = TempDir::new("bad-gz-not-idx");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-labels-idx1-ubyte.gz"]);
    fs::write(data.join("t10k-labels-idx1-ubyte.gz"), gzip(b"hello, this is a text file")).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-labels-idx1-ubyte.gz", "magic"]);
    // Not compressed at all, under a .gz name: the message says so.
    fs::write(data.join("t10k-labels-idx1-ubyte.gz"), b"not gzip, not IDX").unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-labels-idx1-ubyte.gz", "not gzip-compressed"]);
}

#[test]
fn empty_idx_file() {
    let dir = TempDir::new("bad-empty-idx");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-labels-idx1-ubyte.gz"]);
    fs::write(data.join("t10k-labels-idx1-ubyte"), b"").unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-labels-idx1-ubyte", "too short"]);
}

#[test]
fn label_count_differs_from_image_count() {
    let dir = TempDir::new("bad-label-count");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-labels-idx1-ubyte.gz"]);
    let raw = gunzip(&fs::read(common::mnist_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap());
    let labels = &raw[8..raw.len() - 3];
    fs::write(data.join("t10k-labels-idx1-ubyte"), idx_bytes(&[labels.len() as u32], labels)).unwrap();
    let line = assert_clean_failure(&train_on(&data, &dir, &[]), &["1996 images", "1993 labels"]);
    assert!(line.contains("t10k-labels-idx1-ubyte"), "{line}");
}

#[test]
fn labels_given_as_images() {
    let dir = TempDir::new("bad-label-dims");
    let data = dir.join("data");
    copy_mnist(&data, &["train-labels-idx1-ubyte.gz"]);
    fs::copy(common::mnist_dir().join("train-images-idx3-ubyte.gz"), data.join("train-labels-idx1-ubyte.gz")).unwrap();
    assert_clean_failure(&train_on(&data, &dir, &[]), &["train-labels-idx1-ubyte.gz", "1-D labels"]);
}

#[test]
fn train_and_test_images_of_different_sizes() {
    let dir = TempDir::new("bad-mixed-sizes");
    let data = dir.join("data");
    common::write_band_dataset(&data, 10, 200, 50);
    // 28x28 test images with the 10x10 training images.
    fs::remove_file(data.join("t10k-images-idx3-ubyte")).unwrap();
    fs::remove_file(data.join("t10k-labels-idx1-ubyte")).unwrap();
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        fs::copy(common::mnist_dir().join(name), data.join(name)).unwrap();
    }
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-images-idx3-ubyte.gz", "784", "100"]);
}

#[test]
fn missing_data_folder() {
    let dir = TempDir::new("bad-missing-data");
    let r = train_on(Path::new("/nonexistent"), &dir, &[]);
    assert_clean_failure(&r, &["/nonexistent", "does not exist"]);
    let model = common::train_tiny_10x10(&dir);
    let eval = backprop(&["eval", "--model", model.to_str().unwrap(), "--data", "/nonexistent"]);
    assert_clean_failure(&eval, &["/nonexistent", "does not exist"]);
}

#[test]
fn data_path_is_a_file() {
    let dir = TempDir::new("bad-data-file");
    let file = dir.write("notafolder", b"x");
    assert_clean_failure(&train_on(&file, &dir, &[]), &["notafolder", "not a folder"]);
}

#[test]
fn data_folder_missing_one_file() {
    let dir = TempDir::new("bad-missing-file");
    let data = dir.join("data");
    copy_mnist(&data, &["t10k-labels-idx1-ubyte.gz"]);
    assert_clean_failure(&train_on(&data, &dir, &[]), &["t10k-labels-idx1-ubyte", "not found"]);
}

// ---------------------------------------------------------------- flags

#[test]
fn bad_learning_rates() {
    let dir = TempDir::new("bad-lr");
    assert_clean_failure(&train_flags(&dir, &["--lr", "-1"]), &["--lr", "-1", "positive"]);
    assert_clean_failure(&train_flags(&dir, &["--lr", "abc"]), &["--lr", "abc", "not a number"]);
    assert_clean_failure(&train_flags(&dir, &["--lr", "0"]), &["--lr", "positive"]);
    assert_clean_failure(&train_flags(&dir, &["--lr", "nan"]), &["--lr", "positive"]);
    assert_clean_failure(&train_flags(&dir, &["--lr", "inf"]), &["--lr", "positive"]);
    // Beyond f32's range: not "not positive" (1e-300 is positive).
    assert_clean_failure(&train_flags(&dir, &["--lr", "1e-300"]), &["--lr", "1e-300", "32-bit"]);
    assert_clean_failure(&train_flags(&dir, &["--lr", "1e300"]), &["--lr", "1e300", "32-bit"]);
}

#[test]
fn bad_sizes_and_counts() {
    let dir = TempDir::new("bad-sizes");
    assert_clean_failure(&train_flags(&dir, &["--hidden", "abc"]), &["--hidden", "abc", "layer size"]);
    assert_clean_failure(&train_flags(&dir, &["--hidden", "64,0"]), &["--hidden", "at least 1"]);
    assert_clean_failure(&train_flags(&dir, &["--batch-size", "0"]), &["--batch-size", "at least 1"]);
    assert_clean_failure(&train_flags(&dir, &["--batch-size", "-5"]), &["--batch-size", "-5"]);
    assert_clean_failure(&train_flags(&dir, &["--epochs", "-3"]), &["--epochs", "-3"]);
    assert_clean_failure(&train_flags(&dir, &["--epochs", "2.5"]), &["--epochs", "2.5"]);
    assert_clean_failure(&train_flags(&dir, &["--hidden", "-5"]), &["--hidden", "-5"]);
    assert_clean_failure(&train_flags(&dir, &["--seed", "-1"]), &["--seed", "-1", "whole number"]);
    assert_clean_failure(&train_flags(&dir, &["--threads", "-2"]), &["--threads", "-2"]);
    assert_clean_failure(&train_flags(&dir, &["--epochs", "0"]), &["--epochs", "at least 1"]);
    assert_clean_failure(&train_flags(&dir, &["--threads", "0"]), &["--threads", "at least 1"]);
    assert_clean_failure(&train_flags(&dir, &["--val-fraction", "1.5"]), &["--val-fraction"]);
    assert_clean_failure(&train_flags(&dir, &["--momentum", "-0.5"]), &["--momentum"]);
    assert_clean_failure(&train_flags(&dir, &["--seed", "x"]), &["--seed"]);
    // So many epochs that the schedule's step count would wrap around.
    let huge = usize::MAX.to_string();
    assert_clean_failure(&train_flags(&dir, &["--epochs", &huge]), &["--epochs", &huge, "more steps than"]);
}

#[test]
fn unknown_names() {
    let dir = TempDir::new("bad-names");
    assert_clean_failure(&train_flags(&dir, &["--activation", "swish"]), &["--activation", "swish", "relu"]);
    assert_clean_failure(&train_flags(&dir, &["--loss", "hinge"]), &["--loss", "hinge", "cross-entropy"]);
    assert_clean_failure(&train_flags(&dir, &["--optimizer", "lbfgs"]), &["--optimizer", "lbfgs", "sgd, adam, adamw"]);
    assert_clean_failure(&train_flags(&dir, &["--schedule", "step"]), &["--schedule", "step", "constant, cosine"]);
    assert_clean_failure(&train_flags(&dir, &["--epoch", "2"]), &["--epoch", "did you mean '--epochs'"]);
    assert_clean_failure(&train_flags(&dir, &["--no-such-flag"]), &["--no-such-flag"]);
    assert_clean_failure(&backprop(&["train", "cifar"]), &["cifar"]);
    assert_clean_failure(&backprop(&["frobnicate"]), &["frobnicate"]);
    assert_clean_failure(&backprop(&["trian"]), &["trian", "did you mean 'train'"]);
}

#[test]
fn every_training_set_held_out_for_validation() {
    let dir = TempDir::new("bad-all-validation");
    let data = dir.join("data");
    common::write_band_dataset(&data, 10, 1, 10);
    // One training image, rounded into the validation set: nothing left to train on.
    assert_clean_failure(&train_on(&data, &dir, &["--val-fraction", "0.9"]), &["training"]);
}

#[test]
fn diverging_loss_suggests_a_lower_learning_rate() {
    let dir = TempDir::new("bad-diverge");
    let r = train_flags(&dir, &["--optimizer", "sgd", "--lr", "1e30", "--schedule", "constant", "--hidden", "32"]);
    // One error line, and under it (indented) where the NaN came from (tests/anomaly.rs).
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.starts_with("error: ") && r.stderr.lines().next().unwrap().contains("diverged"), "{r:?}");
    assert!(r.stderr.lines().skip(1).all(|l| l.starts_with("  ")), "{r:?}");
    assert!(r.stderr.contains("a lower learning rate"), "{r:?}");
    assert!(!dir.join("out/model.safetensors").exists(), "a diverged run must not save a model");
}

#[test]
fn a_run_that_fails_keeps_the_history_of_the_previous_run() {
    let dir = TempDir::new("bad-keep-history");
    let old = "{\"epoch\":1,\"train_loss\":0.5,\"lr\":0.001,\"seconds\":1.0}\n";
    dir.write("out/history.jsonl", old.as_bytes());
    let r = train_flags(&dir, &["--optimizer", "sgd", "--lr", "1e30", "--schedule", "constant", "--hidden", "32"]);
    assert!(r.code == Some(1) && r.stderr.starts_with("error: ") && r.stderr.contains("diverged"), "{r:?}");
    assert_eq!(fs::read_to_string(dir.join("out/history.jsonl")).unwrap(), old);
}

#[test]
fn a_network_too_large_to_allocate_is_refused_before_it_is_built() {
    let dir = TempDir::new("bad-huge-hidden");
    let r = train_flags(&dir, &["--hidden", "100000000000"]);
    assert_clean_failure(&r, &["--hidden", "parameters", "limit"]);
    let r = train_flags(&dir, &["--hidden", "18446744073709551615,2"]);
    assert_clean_failure(&r, &["--hidden", "parameters"]);
}

#[test]
fn a_final_learning_rate_above_the_peak_is_refused() {
    let dir = TempDir::new("bad-min-lr");
    let r = train_flags(&dir, &["--min-lr", "0.5", "--lr", "0.01"]);
    assert_clean_failure(&r, &["--min-lr", "above the learning rate"]);
    let r = train_flags(&dir, &["--warmup", "-3"]);
    assert_clean_failure(&r, &["--warmup", "whole number"]);
}

// ---------------------------------------------------------------- checkpoints

#[test]
fn model_of_another_input_size() {
    let dir = TempDir::new("bad-arch");
    let model = common::train_tiny_10x10(&dir);
    let model_arg = model.to_str().unwrap();
    let info = backprop(&["info", model_arg]).expect_success("info on the tiny model");
    assert!(info.stdout.contains("100-16-10"), "{}", info.stdout);
    let eval = backprop(&["eval", "--model", model_arg, "--data", &mnist_arg(), "--threads", "2"]);
    let line = assert_clean_failure(&eval, &["model.safetensors", "100 inputs", "784"]);
    assert!(line.contains("the model takes 100 inputs but the data has 784"), "{line}");
    // It does evaluate on data of its own size.
    let own = backprop(&["eval", "--model", model_arg, "--data", dir.join("data10").to_str().unwrap()]);
    assert!(own.stdout.contains("test accuracy"), "{own:?}");
}

#[test]
fn images_of_another_shape_with_the_same_pixel_count() {
    // 14x56 images have the 784 values of a 28x28 digit; they are still refused.
    let dir = TempDir::new("bad-shape");
    let model = dir.join("m.safetensors");
    save_mlp(&model, 784, 10, &[("layers.0.weight", &[10, 784]), ("layers.0.bias", &[10])]);
    let data = dir.join("wide");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("t10k-images-idx3-ubyte"), common::idx_bytes(&[2, 14, 56], &[0; 2 * 784])).unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), common::idx_bytes(&[2], &[3, 7])).unwrap();
    let eval = backprop(&["eval", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_clean_failure(&eval, &["m.safetensors", "28x28", "14x56", "wide"]);
}

#[test]
fn model_with_fewer_outputs_than_classes() {
    let dir = TempDir::new("bad-classes");
    let model = dir.join("m.safetensors");
    save_mlp(&model, 784, 3, &[("layers.0.weight", &[3, 784]), ("layers.0.bias", &[3])]);
    let eval = backprop(&["eval", "--model", model.to_str().unwrap(), "--data", &mnist_arg()]);
    assert_clean_failure(&eval, &["m.safetensors", "3 outputs", "10 classes", "label", "at example"]);
}

/// Writes a checkpoint claiming to be an MLP `inputs -> outputs` (no hidden
/// layer) holding zero tensors of the given names and shapes.
fn save_mlp(path: &Path, inputs: usize, outputs: usize, tensors: &[(&str, &[usize])]) {
    save_mlp_hidden(path, inputs, &[], outputs, tensors)
}

/// Like [`save_mlp`], with hidden layers in the stored configuration.
fn save_mlp_hidden(path: &Path, inputs: usize, hidden: &[usize], outputs: usize, tensors: &[(&str, &[usize])]) {
    let params: Vec<(String, Param)> =
        tensors.iter().map(|(n, s)| (n.to_string(), Param::new(Tensor::zeros(s)))).collect();
    let config = format!(
        r#"{{"inputs":{inputs},"hidden":{hidden:?},"outputs":{outputs},"activation":"relu","output_activation":"identity","init":"he"}}"#
    );
    let meta: BTreeMap<String, String> =
        [(KIND_KEY.to_string(), "mlp".to_string()), (CONFIG_KEY.to_string(), config)].into_iter().collect();
    checkpoint::save(path, &params, &meta).unwrap();
}

#[test]
fn tensors_that_do_not_match_the_stored_config() {
    let dir = TempDir::new("bad-tensor-shape");
    // A valid 4 -> 3 MLP first, to be sure the config text is right.
    let good = dir.join("good.safetensors");
    save_mlp(&good, 4, 3, &[("layers.0.weight", &[3, 4]), ("layers.0.bias", &[3])]);
    let info = backprop(&["info", good.to_str().unwrap()]).expect_success("info on a valid handmade checkpoint");
    assert!(info.stdout.contains("4-3"), "{}", info.stdout);

    let wrong = dir.join("wrong.safetensors");
    save_mlp(&wrong, 4, 3, &[("layers.0.weight", &[3, 5]), ("layers.0.bias", &[3])]);
    for args in [vec!["info", wrong.to_str().unwrap()], vec!["eval", "--model", wrong.to_str().unwrap()]] {
        assert_clean_failure(&backprop(&args), &["wrong.safetensors", "layers.0.weight", "[3, 5]", "[3, 4]"]);
    }
    let png = dir.write("x.png", &[]);
    let predict = backprop(&["predict", "--model", wrong.to_str().unwrap(), png.to_str().unwrap()]);
    assert_clean_failure(&predict, &["wrong.safetensors", "layers.0.weight"]);

    let missing = dir.join("missing.safetensors");
    save_mlp(&missing, 4, 3, &[("layers.0.weight", &[3, 4])]);
    assert_clean_failure(&backprop(&["info", missing.to_str().unwrap()]), &["missing.safetensors", "layers.0.bias"]);

    // A configuration far bigger than the tensors must not be built at all
    // (it would allocate 40 GB, or overflow).
    let huge = dir.join("huge.safetensors");
    save_mlp_hidden(&huge, 100_000, &[100_000], 10, &[("layers.0.weight", &[3, 4]), ("layers.0.bias", &[3])]);
    assert_clean_failure(&backprop(&["info", huge.to_str().unwrap()]), &["huge.safetensors", "layers.0.weight"]);
    let overflow = dir.join("overflow.safetensors");
    save_mlp_hidden(&overflow, 1 << 40, &[1 << 40], 10, &[("layers.0.weight", &[3, 4])]);
    for args in [vec!["info", overflow.to_str().unwrap()], vec!["eval", "--model", overflow.to_str().unwrap()]] {
        assert_clean_failure(&backprop(&args), &["overflow.safetensors", "layers.0.weight"]);
    }

    let extra = dir.join("extra.safetensors");
    save_mlp(&extra, 4, 3, &[("layers.0.weight", &[3, 4]), ("layers.0.bias", &[3]), ("layers.9.weight", &[2])]);
    assert_clean_failure(&backprop(&["info", extra.to_str().unwrap()]), &["extra.safetensors", "layers.9.weight"]);
}

#[test]
fn checkpoint_with_bad_metadata() {
    let dir = TempDir::new("bad-metadata");
    let params = vec![("w".to_string(), Param::new(Tensor::zeros(&[2, 2])))];
    let path = dir.join("badcfg.safetensors");
    let meta: BTreeMap<String, String> =
        [(KIND_KEY.to_string(), "mlp".to_string()), (CONFIG_KEY.to_string(), "{not json".to_string())]
            .into_iter()
            .collect();
    checkpoint::save(&path, &params, &meta).unwrap();
    assert_clean_failure(&backprop(&["info", path.to_str().unwrap()]), &["badcfg.safetensors", "configuration"]);
    let eval = backprop(&["eval", "--model", path.to_str().unwrap(), "--data", &mnist_arg()]);
    assert_clean_failure(&eval, &["badcfg.safetensors", "configuration"]);

    // A plain safetensors file without backprop's metadata: info lists it, eval explains.
    let plain = dir.join("plain.safetensors");
    checkpoint::save(&plain, &params, &BTreeMap::new()).unwrap();
    let info = backprop(&["info", plain.to_str().unwrap()]).expect_success("info on a plain safetensors file");
    assert!(info.stdout.contains("total: 4 parameters"), "{}", info.stdout);
    let eval = backprop(&["eval", "--model", plain.to_str().unwrap(), "--data", &mnist_arg()]);
    assert_clean_failure(&eval, &["plain.safetensors", "backprop.kind"]);
}

#[test]
fn predict_with_a_bad_image_shape_in_the_checkpoint() {
    let dir = TempDir::new("bad-image-meta");
    let model = dir.join("m.safetensors");
    let params: Vec<(String, Param)> = vec![
        ("layers.0.weight".into(), Param::new(Tensor::zeros(&[3, 4]))),
        ("layers.0.bias".into(), Param::new(Tensor::zeros(&[3]))),
    ];
    let config =
        r#"{"inputs":4,"hidden":[],"outputs":3,"activation":"relu","output_activation":"identity","init":"he"}"#;
    let meta: BTreeMap<String, String> = [
        (KIND_KEY.to_string(), "mlp".to_string()),
        (CONFIG_KEY.to_string(), config.to_string()),
        ("backprop.input".to_string(), r#"{"image":[5,5]}"#.to_string()),
    ]
    .into_iter()
    .collect();
    checkpoint::save(&model, &params, &meta).unwrap();
    let png = dir.join("d.png");
    image::GrayImage::from_raw(2, 2, vec![0, 255, 128, 7]).unwrap().save(&png).unwrap();
    let r = backprop(&["predict", "--model", model.to_str().unwrap(), png.to_str().unwrap()]);
    assert_clean_failure(&r, &["m.safetensors", "5x5", "4 inputs"]);

    // A (hand-made) model without outputs has no class to print.
    let no_outputs = dir.join("no-outputs.safetensors");
    save_mlp(&no_outputs, 4, 0, &[("layers.0.weight", &[0, 4]), ("layers.0.bias", &[0])]);
    let r = backprop(&["predict", "--model", no_outputs.to_str().unwrap(), png.to_str().unwrap()]);
    assert_clean_failure(&r, &["no-outputs.safetensors", "no outputs"]);
}

#[test]
fn not_a_safetensors_file() {
    let dir = TempDir::new("bad-not-safetensors");
    let text = dir.write("model.safetensors", b"this is a text file, not a checkpoint\n");
    let empty = dir.write("empty.safetensors", b"");
    let huge = dir.write("huge.safetensors", &u64::MAX.to_le_bytes());
    let png = dir.join("digit.png");
    image::GrayImage::new(28, 28).save(&png).unwrap();
    for path in [&text, &empty, &huge] {
        let name = path.file_name().unwrap().to_str().unwrap();
        let p = path.to_str().unwrap();
        assert_clean_failure(&backprop(&["info", p]), &[name, "safetensors"]);
        assert_clean_failure(&backprop(&["eval", "--model", p, "--data", &mnist_arg()]), &[name, "safetensors"]);
        assert_clean_failure(&backprop(&["predict", "--model", p, png.to_str().unwrap()]), &[name, "safetensors"]);
    }
    // The reason in words, not the parser's internal names.
    assert_clean_failure(&backprop(&["info", text.to_str().unwrap()]), &["plausible header length"]);
    let whole = std::fs::read(common::train_tiny_10x10(&dir)).unwrap();
    let cut = dir.write("cut.safetensors", &whole[..whole.len() - 10]);
    assert_clean_failure(&backprop(&["info", cut.to_str().unwrap()]), &["cut.safetensors", "truncated"]);
}

#[test]
fn missing_checkpoint_file() {
    let dir = TempDir::new("bad-missing-ckpt");
    let path = dir.join("nope.safetensors");
    let p = path.to_str().unwrap();
    let png = dir.join("digit.png");
    image::GrayImage::new(28, 28).save(&png).unwrap();
    assert_clean_failure(&backprop(&["info", p]), &["nope.safetensors", "no such file"]);
    assert_clean_failure(
        &backprop(&["eval", "--model", p, "--data", &mnist_arg()]),
        &["nope.safetensors", "no such file"],
    );
    assert_clean_failure(
        &backprop(&["predict", "--model", p, png.to_str().unwrap()]),
        &["nope.safetensors", "no such file"],
    );
    // A folder where the file should be.
    assert_clean_failure(&backprop(&["info", dir.path().to_str().unwrap()]), &[dir.path().to_str().unwrap()]);
}

#[test]
fn missing_required_arguments() {
    assert_clean_failure(&backprop(&["eval"]), &["--model"]);
    assert_clean_failure(&backprop(&["predict", "--model", "m.safetensors"]), &["IMAGE"]);
    assert_clean_failure(&backprop(&["info"]), &["FILE"]);
}

// ---------------------------------------------------------------- predict

#[test]
fn predict_on_files_that_are_not_images() {
    let dir = TempDir::new("bad-predict-image");
    let model = common::train_tiny_10x10(&dir);
    let model_arg = model.to_str().unwrap();
    let text = dir.write("x.png", b"not an image, just text\n");
    let r = backprop(&["predict", "--model", model_arg, text.to_str().unwrap()]);
    assert_clean_failure(&r, &["x.png", "not a readable"]);
    // A PNG signature followed by garbage.
    let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
    broken.extend_from_slice(&[0xff; 64]);
    let broken = dir.write("broken.png", &broken);
    assert_clean_failure(&backprop(&["predict", "--model", model_arg, broken.to_str().unwrap()]), &["broken.png"]);
    let missing = dir.join("missing.png");
    assert_clean_failure(
        &backprop(&["predict", "--model", model_arg, missing.to_str().unwrap()]),
        &["missing.png", "no such file"],
    );
    // A good image first does not hide the bad one after it.
    let good = dir.join("good.png");
    image::GrayImage::new(10, 10).save(&good).unwrap();
    let r = backprop(&["predict", "--model", model_arg, good.to_str().unwrap(), text.to_str().unwrap()]);
    assert_clean_failure(&r, &["x.png"]);
    assert!(r.stdout.contains("good.png"), "the good image is still classified: {}", r.stdout);
}

// ---------------------------------------------------------------- atomic writes

#[test]
fn a_failed_write_leaves_the_old_checkpoint_intact() {
    let dir = TempDir::new("bad-atomic");
    let path = dir.join("model.safetensors");
    checkpoint::write_atomically(&path, b"good bytes").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"good bytes");

    // The target is a non-empty folder: the rename fails, the folder stays.
    let blocked = dir.join("blocked.safetensors");
    fs::create_dir_all(blocked.join("inside")).unwrap();
    assert!(checkpoint::write_atomically(&blocked, b"new bytes").is_err());
    assert!(blocked.join("inside").is_dir());

    // A parent that is a file: nothing can be written, nothing changes.
    let file = dir.write("plainfile", b"keep me");
    let e = checkpoint::write_atomically(&file.join("model.safetensors"), b"new bytes").unwrap_err();
    assert!(e.to_string().contains("plainfile"), "{e}");
    assert_eq!(fs::read(&file).unwrap(), b"keep me");

    // A failing write aimed at the good checkpoint's folder entry: make the
    // temp file impossible to create by putting a folder at its name.
    let pid = std::process::id();
    let tmp = dir.join(&format!(".model.safetensors.{pid}.tmp"));
    fs::create_dir_all(tmp.join("x")).unwrap();
    assert!(checkpoint::write_atomically(&path, b"bad bytes").is_err());
    assert_eq!(fs::read(&path).unwrap(), b"good bytes", "the old checkpoint was corrupted");
    fs::remove_dir_all(&tmp).unwrap();

    // A successful save replaces the file and leaves no temporary files behind.
    let w = Param::new(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    checkpoint::save(&path, &[("w".into(), w)], &BTreeMap::new()).unwrap();
    let c = checkpoint::Checkpoint::load(&path).unwrap();
    assert_eq!(c.tensors["w"].data(), &[1.0, 2.0, 3.0]);
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "blocked.safetensors" && n != "plainfile")
        .collect();
    names.sort();
    assert_eq!(names, vec!["model.safetensors".to_string()], "temporary files left behind");
}

#[test]
fn training_into_an_out_path_that_is_a_file() {
    let dir = TempDir::new("bad-out-file");
    let data = dir.join("data10");
    common::write_band_dataset(&data, 10, 200, 50);
    let file = dir.write("taken", b"x");
    let r = backprop(&[
        "train",
        "mnist",
        "--data",
        data.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
        "--epochs",
        "1",
        "--threads",
        "2",
    ]);
    assert_clean_failure(&r, &["--out", "taken", "not a folder"]);
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn training_when_model_path_is_a_folder_keeps_it() {
    let dir = TempDir::new("bad-out-model-dir");
    let data = dir.join("data10");
    common::write_band_dataset(&data, 10, 200, 50);
    let out = dir.join("run");
    fs::create_dir_all(out.join("model.safetensors").join("keep")).unwrap();
    let r = backprop(&[
        "train",
        "mnist",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--threads",
        "2",
    ]);
    assert_clean_failure(&r, &["model.safetensors"]);
    assert!(out.join("model.safetensors").join("keep").is_dir());
    let left: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}
