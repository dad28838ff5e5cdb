//! Explaining and attacking models: saliency and integrated gradients point at
//! the pixels a model uses, IG is complete, FGSM/PGD break the MNIST model, and
//! the `explain` / `attack` commands fail cleanly on bad input.

mod common;

use backprop::explain::{fgsm, integrated_gradients, pgd, saliency};
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::tensor::Rng;
use backprop::Tensor;
use common::{assert_clean_failure, backprop, mnist_arg, TempDir};

const SIDE: usize = 28;
/// The 5x5 patch the hand-built model looks at: rows and columns 10..15.
const PATCH: std::ops::Range<usize> = 10..15;

fn in_patch(i: usize) -> bool {
    PATCH.contains(&(i / SIDE)) && PATCH.contains(&(i % SIDE))
}

/// A 784-input linear model with two outputs whose weights are zero outside the patch.
fn patch_model(hidden: &[usize]) -> Mlp {
    let model = Mlp::new(MlpConfig::classifier(SIDE * SIDE, hidden, 2, Activation::Relu), &mut Rng::new(3));
    let (_, first) = &model.parameters()[0];
    let w = first.value();
    let d = SIDE * SIDE;
    let masked: Vec<f32> = w.data().iter().enumerate().map(|(k, &v)| if in_patch(k % d) { v } else { 0.0 }).collect();
    first.set_value(Tensor::from_vec(masked, w.shape()));
    model
}

fn random_image(seed: u64) -> Tensor {
    Tensor::rand_uniform(&[1, SIDE * SIDE], 0.0, 1.0, &mut Rng::new(seed))
}

fn mass_inside(attr: &Tensor) -> f64 {
    let total: f64 = attr.data().iter().map(|v| v.abs() as f64).sum();
    let inside: f64 = attr.data().iter().enumerate().filter(|(i, _)| in_patch(*i)).map(|(_, v)| v.abs() as f64).sum();
    assert!(total > 0.0, "all attributions are zero");
    inside / total
}

#[test]
fn saliency_of_a_patch_model_is_inside_the_patch() {
    for hidden in [&[][..], &[16][..]] {
        let model = patch_model(hidden);
        let x = random_image(5);
        for class in 0..2 {
            let s = saliency(&model, &x, class).unwrap();
            assert_eq!(s.shape(), &[SIDE * SIDE]);
            let m = mass_inside(&s);
            assert!(m >= 0.99, "hidden {hidden:?} class {class}: saliency mass inside the patch {m}");
            let ig = integrated_gradients(&model, &x, class, 32).unwrap();
            let m = mass_inside(&ig);
            assert!(m >= 0.99, "hidden {hidden:?} class {class}: IG mass inside the patch {m}");
        }
    }
    // Without a hidden layer the saliency is exactly the class's weight row.
    let model = patch_model(&[]);
    let w = model.parameters()[0].1.value();
    let s = saliency(&model, &random_image(9), 1).unwrap();
    assert_eq!(s.data(), &w.data()[SIDE * SIDE..]);
}

#[test]
fn integrated_gradients_are_complete() {
    let model = Mlp::new(MlpConfig::classifier(SIDE * SIDE, &[64, 32], 10, Activation::Relu), &mut Rng::new(11));
    let x = random_image(12);
    let score = |input: &Tensor, class: usize| backprop::explain::class_scores(&model, input).data()[class];
    for class in [0, 3, 7] {
        let ig = integrated_gradients(&model, &x, class, 256).unwrap();
        let sum: f32 = ig.data().iter().sum();
        let expected = score(&x, class) - score(&x.zeros_like(), class);
        let error = (sum - expected).abs();
        assert!(error <= 0.03 * expected.abs().max(0.1), "class {class}: IG sums to {sum}, f(x) - f(0) = {expected}");
    }
    // A smooth network too (tanh), with fewer steps.
    let model = Mlp::new(MlpConfig::classifier(SIDE * SIDE, &[32], 4, Activation::Tanh), &mut Rng::new(13));
    let ig = integrated_gradients(&model, &x, 2, 64).unwrap();
    let scores = |t: &Tensor| backprop::explain::class_scores(&model, t).data()[2];
    let expected = scores(&x) - scores(&x.zeros_like());
    let sum: f32 = ig.data().iter().sum();
    assert!((sum - expected).abs() <= 0.03 * expected.abs().max(0.1), "tanh: {sum} vs {expected}");
}

#[test]
fn attribution_and_attacks_leave_parameter_gradients_alone() {
    let model = patch_model(&[8]);
    let x = random_image(1);
    saliency(&model, &x, 0).unwrap();
    integrated_gradients(&model, &x, 1, 4).unwrap();
    let adv = fgsm(&model, &x, &[1], 0.1).unwrap();
    assert!(model.parameters().iter().all(|(_, p)| p.grad().is_none()));
    // FGSM moves every pixel the loss depends on by eps (or to the [0, 1] border).
    let moved = adv.data().iter().zip(x.data()).filter(|(a, b)| (*a - *b).abs() > 1e-6).count();
    assert!(moved > 0 && moved <= 25, "FGSM changed {moved} pixels");
    let p = pgd(&model, &x, &[1], 0.1, 5, 0.03).unwrap();
    let max = p.data().iter().zip(x.data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= 0.1 + 1e-6 && p.data().iter().all(|v| (0.0..=1.0).contains(v)), "PGD left the ball: {max}");
}

#[test]
fn library_rejects_bad_arguments_with_errors() {
    let model = patch_model(&[]);
    let x = random_image(2);
    assert!(saliency(&model, &x, 2).is_err());
    assert!(integrated_gradients(&model, &x, 0, 0).is_err());
    assert!(saliency(&model, &Tensor::zeros(&[2, SIDE * SIDE]), 0).is_err());
    assert!(fgsm(&model, &x, &[0, 1], 0.1).is_err());
    assert!(fgsm(&model, &x, &[5], 0.1).is_err());
    assert!(fgsm(&model, &x, &[0], f32::NAN).is_err());
    assert!(pgd(&model, &x, &[0], 0.1, 0, 0.01).is_err());
}

/// `clean accuracy A%, ... accuracy B% (...)` -> (A, B).
fn accuracies(stdout: &str) -> (f64, f64) {
    let numbers: Vec<f64> = stdout
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').strip_suffix('%'))
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers.len() >= 2, "no accuracies in: {stdout}");
    (numbers[0], numbers[1])
}

#[test]
fn cli_explain_and_attack_the_mnist_model() {
    let dir = TempDir::new("explain-cli");
    let out = dir.arg("run");
    backprop(&["train", "mnist", "--data", &mnist_arg(), "--epochs", "3", "--out", &out, "--threads", "2"])
        .expect_success("train");
    let model = dir.arg("run/model.safetensors");

    // FGSM at eps 0.1 breaks the model; PGD is at least as strong.
    let fgsm_run = backprop(&["attack", "--model", &model, "--data", &mnist_arg(), "--eps", "0.1", "--threads", "2"])
        .expect_success("attack fgsm");
    let (clean, attacked) = accuracies(&fgsm_run.stdout);
    println!("{}", fgsm_run.stdout.trim());
    assert!(clean >= 90.0, "clean accuracy {clean}: {}", fgsm_run.stdout);
    assert!(attacked <= clean - 40.0, "FGSM eps 0.1 only lowered accuracy from {clean} to {attacked}");
    let saved = dir.join("examples");
    let pgd_run = backprop(&[
        "attack",
        "--model",
        &model,
        "--data",
        &mnist_arg(),
        "--eps",
        "0.1",
        "--method",
        "pgd",
        "--steps",
        "10",
        "--save",
        "2",
        "--out",
        saved.to_str().unwrap(),
        "--threads",
        "2",
    ])
    .expect_success("attack pgd");
    println!("{}", pgd_run.stdout.trim());
    let (pgd_clean, pgd_attacked) = accuracies(&pgd_run.stdout);
    assert_eq!(pgd_clean, clean);
    assert!(pgd_attacked <= attacked, "PGD {pgd_attacked}% is weaker than FGSM {attacked}%");
    let pngs = std::fs::read_dir(&saved).unwrap().count();
    assert_eq!(pngs, 6, "expected 2 triples of PNGs");

    // Limit: only the first images.
    let limited = backprop(&["attack", "--model", &model, "--data", &mnist_arg(), "--eps", "0.05", "--limit", "100"])
        .expect_success("attack --limit");
    assert!(limited.stdout.contains("(100 images"), "{}", limited.stdout);

    // explain: a test digit as PNG, its heat map beside it.
    let data = backprop::data::load_mnist_dir(std::path::Path::new(&mnist_arg())).unwrap();
    let pixels: Vec<u8> = data.test.inputs.data()[..SIDE * SIDE].iter().map(|v| (v * 255.0).round() as u8).collect();
    let digit = dir.join("digit.png");
    image::GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels).unwrap().save(&digit).unwrap();
    let run = backprop(&["explain", "--model", &model, digit.to_str().unwrap()]).expect_success("explain");
    assert!(run.stdout.contains(&format!(": {} (", data.test.labels[0])), "{}", run.stdout);
    let map = image::open(dir.join("digit_saliency.png")).unwrap();
    assert!(map.width() >= 2 * 280 && map.height() == 280, "{}x{}", map.width(), map.height());
    let maps = dir.join("maps");
    backprop(&[
        "explain",
        "--model",
        &model,
        "--method",
        "ig",
        "--steps",
        "16",
        "--out",
        maps.to_str().unwrap(),
        digit.to_str().unwrap(),
    ])
    .expect_success("explain ig");
    assert!(maps.join("digit_ig.png").is_file());
    // An --out that is a file is refused before any work, naming it.
    let afile = dir.write("afile", b"x");
    let afile = afile.to_str().unwrap();
    common::assert_clean_failure(
        &backprop(&["explain", "--model", &model, "--out", afile, digit.to_str().unwrap()]),
        &["--out", "afile", "is a file, not a folder"],
    );
    let attack = ["attack", "--model", &model, "--data", &mnist_arg(), "--limit", "5", "--save", "1", "--out", afile];
    common::assert_clean_failure(&backprop(&attack), &["--out", "afile", "is a file, not a folder"]);
    // Two images of one name into one folder: two maps, neither overwritten.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(&digit, other.join("digit.png")).unwrap();
    let out = maps.to_str().unwrap();
    let both = [digit.to_str().unwrap(), other.join("digit.png").to_str().unwrap()].map(str::to_string);
    backprop(&["explain", "--model", &model, "--out", out, &both[0], &both[1]]).expect_success("explain twice");
    assert!(maps.join("digit_saliency.png").is_file() && maps.join("digit_2_saliency.png").is_file());

    // Bad input: one line on stderr, no panic.
    let digit_arg = digit.to_str().unwrap();
    let r = backprop(&["explain", "--model", &model, "--method", "lime", digit_arg]);
    assert_clean_failure(&r, &["lime"]);
    let r = backprop(&["explain", "--model", &model, "--class", "10", digit_arg]);
    assert_clean_failure(&r, &["class"]);
    let text = dir.write("notes.png", b"this is not an image");
    let r = backprop(&["explain", "--model", &model, text.to_str().unwrap()]);
    assert_clean_failure(&r, &["notes.png"]);
    let r = backprop(&["explain", "--model", &dir.arg("missing.safetensors"), digit_arg]);
    assert_clean_failure(&r, &["missing.safetensors"]);
    for eps in ["0", "1.5", "abc", "-0.1", "nan"] {
        let r = backprop(&["attack", "--model", &model, "--data", &mnist_arg(), "--eps", eps]);
        assert_clean_failure(&r, &["eps"]);
    }
    let r = backprop(&["attack", "--model", &model, "--data", &mnist_arg(), "--method", "cw"]);
    assert_clean_failure(&r, &["cw"]);
    let r = backprop(&["attack", "--model", &model, "--data", &mnist_arg(), "--method", "pgd", "--steps", "0"]);
    assert_clean_failure(&r, &["steps"]);
    let r = backprop(&["attack", "--model", &dir.arg("missing.safetensors"), "--data", &mnist_arg()]);
    assert_clean_failure(&r, &["missing.safetensors"]);
}

#[test]
fn cli_attack_rejects_data_of_another_size() {
    let dir = TempDir::new("attack-mismatch");
    // A model of 4 inputs saved by the library.
    let model = Mlp::new(MlpConfig::classifier(4, &[], 10, Activation::Relu), &mut Rng::new(0));
    let path = dir.join("small.safetensors");
    model.save(&path, &Default::default()).unwrap();
    let r = backprop(&["attack", "--model", path.to_str().unwrap(), "--data", &mnist_arg()]);
    assert_clean_failure(&r, &["4 inputs", "784"]);
}
