//! Pre-training on photos (`backprop pretrain --data FILE.h5`) and the
//! downstream task of `train images` with `--init-from`, `--freeze encoder`
//! and `--labels-per-class`: the encoder's weights arrive in the fine-tuned
//! network (and stay put when frozen), and bad input fails in one line.

mod common;

use backprop::checkpoint::Checkpoint;
use common::{assert_clean_failure, backprop, fixture, TempDir};
use std::path::Path;

/// A small CNN for the 64x64 RGB fixture, without its output layer (added to fit the classes).
const ARCH: &str = "c8k3p1-bn-relu-mp4-c16k3p1-relu-mp4-fc32-relu";

/// Pre-trains `ARCH` by SimCLR on the cat/non-cat training images; returns the encoder's path.
fn pretrain(dir: &TempDir) -> String {
    let out = dir.arg("enc");
    let args = ["pretrain", "--task", "contrastive", "--data", &fixture("catvnoncat_train.h5"), "--arch", ARCH];
    let run =
        backprop(&[&args[..], &["--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", &out]].concat())
            .expect_success("pretrain on HDF5 photos");
    assert!(run.stdout.contains("unlabelled images"), "{}", run.stdout);
    let encoder = Checkpoint::load(&dir.join("enc/encoder.safetensors")).unwrap();
    assert!(encoder.metadata["backprop.input"].contains("\"channels\":3"), "{:?}", encoder.metadata);
    assert!(encoder.metadata.contains_key("backprop.normalize"), "the pixel scale is kept: {:?}", encoder.metadata);
    dir.arg("enc/encoder.safetensors")
}

fn train_images(dir: &TempDir, out: &str, extra: &[&str]) -> common::Run {
    let data = fixture("catvnoncat_train.h5");
    // `--arch` alone implies `--model cnn`.
    let base = ["train", "images", "--data", &data, "--arch", ARCH, "--epochs", "3", "--threads", "1"];
    backprop(&[&base[..], extra, &["--out", &dir.arg(out)]].concat())
}

#[test]
fn train_images_starts_from_a_pretrained_encoder() {
    let dir = TempDir::new("pretrain-images");
    let encoder_path = pretrain(&dir);
    let encoder = Checkpoint::load(Path::new(&encoder_path)).unwrap();

    // A linear probe: the encoder's tensors, batch-norm statistics included, arrive and stay as they were.
    let run = train_images(&dir, "probe", &["--init-from", &encoder_path, "--freeze", "encoder"])
        .expect_success("linear probe");
    assert!(run.stdout.contains("tensors from") && run.stdout.contains("linear probe"), "{}", run.stdout);
    let probe = Checkpoint::load(&dir.join("probe/model.safetensors")).unwrap();
    for name in
        ["layers.0.weight", "layers.4.weight", "layers.8.weight", "layers.1.running_mean", "layers.1.running_var"]
    {
        assert_eq!(probe.tensors[name], encoder.tensors[name], "{name} of the frozen encoder changed");
    }
    // Evaluation mode needs no batch statistics: a batch of one image trains. The inputs are
    // scaled as in pre-training, not fitted anew to the two labelled images.
    let one = ["--init-from", &encoder_path, "--freeze", "encoder", "--labels-per-class", "1", "--batch-size", "1"];
    train_images(&dir, "one", &one).expect_success("probe with batches of one image");
    let one = Checkpoint::load(&dir.join("one/model.safetensors")).unwrap();
    assert_eq!(one.metadata["backprop.normalize"], encoder.metadata["backprop.normalize"]);
    assert_eq!(one.metadata["backprop.freeze"], "encoder", "the probe is recorded: {:?}", one.metadata);
    assert_eq!(one.metadata["backprop.init_from"], encoder_path);
    assert_eq!(one.metadata["backprop.labels_per_class"], "1");
    // `--freeze encoder-weights`: the weights stay, batch norm follows the labelled batches.
    let run = train_images(&dir, "weights", &["--init-from", &encoder_path, "--freeze", "encoder-weights"])
        .expect_success("probe with batch statistics");
    assert!(run.stdout.contains("batch norm on batch statistics"), "{}", run.stdout);
    let weights = Checkpoint::load(&dir.join("weights/model.safetensors")).unwrap();
    assert_eq!(weights.tensors["layers.0.weight"], encoder.tensors["layers.0.weight"]);
    assert_ne!(weights.tensors["layers.1.running_mean"], encoder.tensors["layers.1.running_mean"]);

    // Fine-tuning on 5 labelled images per class: the encoder starts from the file and then learns.
    let run = train_images(&dir, "tuned", &["--init-from", &encoder_path, "--labels-per-class", "5"])
        .expect_success("fine-tune with 5 labels per class");
    assert!(run.stdout.contains("(10 train,"), "5 labels per class of 2 classes: {}", run.stdout);
    let tuned = Checkpoint::load(&dir.join("tuned/model.safetensors")).unwrap();
    let scratch = train_images(&dir, "scratch", &["--labels-per-class", "5"]).expect_success("scratch");
    assert!(!scratch.stdout.contains("tensors from"), "{}", scratch.stdout);
    let scratch = Checkpoint::load(&dir.join("scratch/model.safetensors")).unwrap();
    let distance = |a: &Checkpoint| {
        let (x, y) = (&a.tensors["layers.0.weight"], &encoder.tensors["layers.0.weight"]);
        x.data().iter().zip(y.data()).map(|(p, q)| (p - q).powi(2)).sum::<f32>().sqrt()
    };
    assert!(distance(&tuned) > 0.0, "fine-tuning leaves the encoder trainable");
    assert!(
        distance(&tuned) < distance(&scratch),
        "the fine-tuned encoder stays near the pre-trained one ({} vs scratch {})",
        distance(&tuned),
        distance(&scratch)
    );
}

#[test]
fn bad_input_gets_one_line() {
    let dir = TempDir::new("pretrain-images-bad");
    let encoder_path = pretrain(&dir);
    // An encoder of another network.
    let other = ["--arch", "c4k3p1-relu-mp4-fc8-relu", "--init-from", &encoder_path];
    let data = fixture("catvnoncat_train.h5");
    let run = backprop(
        &[&["train", "images", "--data", &data, "--model", "cnn"][..], &other, &["--out", &dir.arg("x")]].concat(),
    );
    assert_clean_failure(&run, &["encoder.safetensors", "does not fit", "layers.0.weight"]);
    // Zero labels, and more labels than a class has.
    assert_clean_failure(&train_images(&dir, "x", &["--labels-per-class", "0"]), &["--labels-per-class", "at least 1"]);
    assert_clean_failure(
        &train_images(&dir, "x", &["--labels-per-class", "5000"]),
        &["--labels-per-class", "5000", "class 0 ('non-cat') has only"],
    );
    // Photo flags on an IDX folder.
    let run = backprop(&["pretrain", "--task", "rotation", "--data", &common::mnist_arg(), "--size", "32"]);
    assert_clean_failure(&run, &["--size", "IDX folder"]);
    // --size resizes folder images; an HDF5 file's keep their size, so it is refused, not ignored.
    let run = backprop(&["pretrain", "--task", "rotation", "--data", &data, "--size", "32", "--out", &dir.arg("x")]);
    assert_clean_failure(&run, &["--size", "catvnoncat_train.h5", "HDF5"]);
    assert_clean_failure(&train_images(&dir, "x", &["--size", "32"]), &["--size", "catvnoncat_train.h5", "HDF5"]);
    // The encoder saw inputs scaled by --normalize standard: another scale downstream is refused.
    assert_clean_failure(
        &train_images(&dir, "x", &["--init-from", &encoder_path, "--normalize", "unit"]),
        &["--normalize", "pre-trained on inputs scaled by --normalize standard", "unit"],
    );
    // A logistic regression has no encoder to start from or to scale the learning rate of.
    let logistic = |extra: &[&str]| {
        let args = ["train", "images", "--data", &data, "--model", "logistic", "--out", &dir.arg("x")];
        backprop(&[&args[..], extra].concat())
    };
    let line = assert_clean_failure(&logistic(&["--init-from", &encoder_path]), &["--init-from", "logistic"]);
    assert!(!line.contains("mlp network"), "{line}");
    assert_clean_failure(&logistic(&["--encoder-lr-scale", "0.1"]), &["--encoder-lr-scale", "logistic regression"]);
}
