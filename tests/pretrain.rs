//! Self-supervised pre-training (`backprop pretrain`) and the downstream task
//! with few labels (`train mnist --init-from --freeze --labels-per-class`,
//! `train gpt --init-from`): the loss's gradient, the views, the encoder's
//! names, a pre-trained encoder beating training from scratch at CI scale,
//! and bad input.

mod common;

use backprop::autograd::{gradcheck, GradcheckOptions};
use backprop::data::{Dataset, ImageShape};
use backprop::nn::{Cnn, CnnConfig, Module};
use backprop::pretrain::{labelled_subset, nt_xent, random_view, rotate90, warp_affine, Affine, Backbone, ViewOptions};
use backprop::tensor::Rng;
use backprop::Tensor;
use common::{assert_clean_failure, backprop, mnist_arg, TempDir};

#[test]
fn nt_xent_gradient_matches_finite_differences() {
    // Three examples seen twice, four values each.
    let z = Tensor::randn(&[6, 4], 0.0, 1.0, &mut Rng::new(3));
    for temperature in [0.5, 0.1] {
        let report =
            gradcheck(std::slice::from_ref(&z), |_, v| nt_xent(v[0], temperature), &GradcheckOptions::default());
        assert!(report.passed, "temperature {temperature}: {report:?}");
    }
}

#[test]
fn nt_xent_is_lowest_when_the_views_agree() {
    let g = backprop::Graph::no_grad();
    let base = Tensor::randn(&[4, 8], 0.0, 1.0, &mut Rng::new(1));
    let pairs = Tensor::concat(&[&base, &base], 0);
    let other = Tensor::concat(&[&base, &Tensor::randn(&[4, 8], 0.0, 1.0, &mut Rng::new(2))], 0);
    let agree = nt_xent(g.constant(pairs), 0.5).item();
    let random = nt_xent(g.constant(other), 0.5).item();
    assert!(agree < random, "{agree} vs {random}");
    // 2N - 1 candidates for each row: the loss of guessing is ln(2N - 1).
    let zeros = nt_xent(g.constant(Tensor::zeros(&[8, 8])), 0.5).item();
    assert!((zeros - 7f32.ln()).abs() < 1e-5, "{zeros}");
}

#[test]
fn rotations_and_views_keep_the_image() {
    let shape = ImageShape { height: 5, width: 5, channels: 2 };
    let image: Vec<f32> = (0..50).map(|i| i as f32).collect();
    let mut turned = image.clone();
    for k in 1..=4 {
        turned = rotate90(&turned, shape, 1);
        assert_eq!(turned == image, k == 4, "after {k} quarter turns");
    }
    assert_eq!(rotate90(&rotate90(&image, shape, 1), shape, 3), image);
    assert_eq!(rotate90(&image, shape, 2), rotate90(&rotate90(&image, shape, 1), shape, 1));
    // A view of a blank image without noise stays blank; with noise it differs each time.
    let options = ViewOptions { noise: 0.0, ..ViewOptions::default() };
    let blank = random_view(&[0.0; 50], shape, &options, &mut Rng::new(0));
    assert!(blank.iter().all(|&v| v == 0.0));
    let mut rng = Rng::new(0);
    let a = random_view(&image, shape, &ViewOptions::default(), &mut rng);
    let b = random_view(&image, shape, &ViewOptions::default(), &mut rng);
    assert_ne!(a, b);
}

/// Views with every transformation off: the image itself.
fn plain_views() -> ViewOptions {
    ViewOptions {
        min_scale: 1.0,
        max_aspect: 1.0,
        shift: 0.0,
        rotation: 0.0,
        shear: 0.0,
        elastic_alpha: 0.0,
        noise: 0.0,
        ..ViewOptions::default()
    }
}

#[test]
fn affine_views_rotate_shear_and_distort() {
    let shape = ImageShape { height: 6, width: 6, channels: 2 };
    let image: Vec<f32> = (0..72).map(|i| (i as f32 * 0.37).sin()).collect();
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
    // A view with every transformation off is the image itself.
    let plain = plain_views();
    assert_eq!(random_view(&image, shape, &plain, &mut Rng::new(3)), image);
    assert_eq!(warp_affine(&image, shape, &Affine::IDENTITY, None), image);
    // Quarter turns through the affine path are rotate90's.
    for k in 1..4 {
        let turned = warp_affine(&image, shape, &Affine::rotation(90.0 * k as f32), None);
        assert!(close(&turned, &rotate90(&image, shape, k)), "{k} quarter turns");
    }
    // A 10-degree rotation moves the pixels, but keeps the centre's value on an odd-sided image.
    let odd = ImageShape { height: 5, width: 5, channels: 1 };
    let small: Vec<f32> = (0..25).map(|i| i as f32).collect();
    let tilted = warp_affine(&small, odd, &Affine::rotation(10.0), None);
    assert!((tilted[12] - 12.0).abs() < 1e-5 && !close(&tilted, &small), "{tilted:?}");
    // Rotations, shears and elastic distortion each change a view drawn from the same seed.
    for changed in [
        ViewOptions { rotation: 25.0, ..plain },
        ViewOptions { shear: 20.0, ..plain },
        ViewOptions { elastic_alpha: 34.0, ..plain },
    ] {
        let view = random_view(&image, shape, &changed, &mut Rng::new(3));
        assert!(!close(&view, &image), "{changed:?} left the image unchanged");
    }
    // A zero displacement field changes nothing; a field of whole pixels shifts the image.
    let zeros = vec![0.0; 2 * 36];
    assert_eq!(warp_affine(&image, shape, &Affine::IDENTITY, Some(&zeros)), image);
    let one_right: Vec<f32> = (0..72).map(|i| if i % 2 == 1 { 1.0 } else { 0.0 }).collect();
    let shifted = warp_affine(&image, shape, &Affine::IDENTITY, Some(&one_right));
    assert_eq!(&shifted[..2], &image[2..4]);
    assert_eq!(&shifted[10..12], &[0.0, 0.0]); // the last column reads beyond the border
}

#[test]
fn stroke_views_thicken_or_thin_the_strokes() {
    // A one-pixel vertical stroke down the middle of a 5x5 image.
    let shape = ImageShape { height: 5, width: 5, channels: 1 };
    let image: Vec<f32> = (0..25).map(|i| if i % 5 == 2 { 1.0 } else { 0.0 }).collect();
    let plain = plain_views();
    assert_eq!(plain.stroke, 0.0, "off by default");
    let ink = |v: &[f32]| v.iter().sum::<f32>();
    let (mut thicker, mut thinner) = (false, false);
    let mut rng = Rng::new(5);
    for _ in 0..20 {
        let view = random_view(&image, shape, &ViewOptions { stroke: 1.0, ..plain }, &mut rng);
        // The stroke's neighbours gain what its pixels keep or lose: a dilation spreads ink
        // to columns 1 and 3 only; an erosion of a one-pixel stroke takes ink from it.
        for r in 0..5 {
            assert_eq!(view[r * 5], 0.0, "column 0 is beyond a 3x3 dilation's reach");
            assert_eq!(view[r * 5 + 1], view[r * 5 + 3], "a dilation is symmetric");
        }
        thicker |= ink(&view) > ink(&image) + 1.0;
        thinner |= ink(&view) < ink(&image) - 1.0;
        assert!(view.iter().all(|&v| (0.0..=1.0).contains(&v)), "{view:?}");
    }
    assert!(thicker && thinner, "20 draws of up to a full dilation or erosion give both");
}

#[test]
fn projection_head_with_batch_norm_is_simclrs() {
    use backprop::pretrain::Task;
    let names = |bn: bool| -> Vec<(String, Vec<usize>)> {
        let head = Task::Contrastive.head(84, 784, bn, &mut Rng::new(0));
        head.parameters().into_iter().map(|(n, p)| (n, p.value().shape().to_vec())).collect()
    };
    let plain = names(false);
    assert!(plain.contains(&("layers.0.bias".to_string(), vec![128])), "{plain:?}");
    let with_bn = names(true);
    // Linear without bias, BatchNorm1d's scale and shift, ReLU, Linear to the 64 projections.
    let expected = [
        ("layers.0.weight", vec![128, 84]),
        ("layers.1.weight", vec![128]),
        ("layers.1.bias", vec![128]),
        ("layers.3.weight", vec![64, 128]),
    ];
    for (name, shape) in expected {
        assert!(with_bn.contains(&(name.to_string(), shape.clone())), "{name} {shape:?} not in {with_bn:?}");
    }
    assert!(!with_bn.iter().any(|(n, _)| n == "layers.0.bias"), "batch norm's shift replaces the bias");
}

#[test]
fn view_options_out_of_range_are_refused() {
    let base = ViewOptions::default();
    assert!(base.validate().is_ok());
    for (bad, field) in [
        (ViewOptions { rotation: 181.0, ..base }, "rotation"),
        (ViewOptions { rotation: -1.0, ..base }, "rotation"),
        (ViewOptions { shear: 61.0, ..base }, "shear"),
        (ViewOptions { elastic_alpha: -1.0, ..base }, "elastic_alpha"),
        (ViewOptions { elastic_sigma: 0.0, ..base }, "elastic_sigma"),
        (ViewOptions { min_scale: 0.0, ..base }, "min_scale"),
        (ViewOptions { max_aspect: 0.5, ..base }, "max_aspect"),
        (ViewOptions { noise: f32::NAN, ..base }, "noise"),
        (ViewOptions { stroke: 3.5, ..base }, "stroke"),
    ] {
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with(&format!("invalid value for {field}: must be")), "{e}");
    }
}

#[test]
fn labelled_subsets_are_balanced_seeded_and_nested() {
    let labels: Vec<usize> = (0..300).map(|i| (i * 7) % 10).collect();
    let data = Dataset::new(Tensor::from_vec((0..300).map(|i| i as f32).collect(), &[300, 1]), labels, 10).unwrap();
    let few = labelled_subset(&data, 3, 5, None).unwrap();
    let more = labelled_subset(&data, 12, 5, None).unwrap();
    for c in 0..10 {
        assert_eq!(few.labels.iter().filter(|&&l| l == c).count(), 3);
        assert_eq!(more.labels.iter().filter(|&&l| l == c).count(), 12);
    }
    assert!(few.inputs.data().iter().all(|x| more.inputs.data().contains(x)), "3 per class is part of 12 per class");
    assert_eq!(few, labelled_subset(&data, 3, 5, None).unwrap());
    assert_ne!(few, labelled_subset(&data, 3, 6, None).unwrap());
}

#[test]
fn the_encoder_is_every_layer_but_the_output_layer() {
    let config = |classes| CnnConfig::classifier("c4k3p1-bn-relu-mp2-fc16-relu", [1, 8, 8], classes).unwrap();
    let rotation = Cnn::new(config(4), &mut Rng::new(0)).unwrap();
    let digits = Cnn::new(config(10), &mut Rng::new(1)).unwrap();
    let backbone = Backbone::Cnn(&rotation);
    assert_eq!(backbone.head_prefix(), "layers.7.");
    assert_eq!(backbone.feature_dim(), 16);
    let names: Vec<String> = backbone.encoder_state().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"layers.1.running_mean".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("layers.7.")), "{names:?}");
    let dir = TempDir::new("pretrain-encoder");
    let path = dir.join("encoder.safetensors");
    backbone.save_encoder(&path, &Default::default()).unwrap();
    let head_before = digits.parameters().last().unwrap().1.value();
    assert_eq!(Backbone::Cnn(&digits).load_encoder(&path).unwrap(), names.len());
    let same = |a: &Cnn, b: &Cnn, name: &str| {
        let find = |m: &Cnn| m.state_dict().into_iter().find(|(n, _)| n == name).unwrap().1.value();
        find(a) == find(b)
    };
    assert!(same(&rotation, &digits, "layers.0.weight") && same(&rotation, &digits, "layers.1.running_var"));
    assert_eq!(digits.parameters().last().unwrap().1.value(), head_before, "the output layer keeps its weights");
}

/// The last line of stdout that starts with `test accuracy`, as a percentage.
fn test_accuracy(stdout: &str) -> f32 {
    let line = stdout.lines().find(|l| l.starts_with("test accuracy")).expect("a test accuracy line");
    line.split_whitespace().nth(2).unwrap().trim_end_matches('%').parse().unwrap()
}

/// `train mnist --arch ARCH` on 10 labels per class of the bundled digits
/// (batch 32, `epochs`, 2 threads, `extra` flags), into `dir/name`: its test accuracy.
fn ten_labels(dir: &TempDir, arch: &str, epochs: &str, name: &str, extra: &[&str]) -> f32 {
    let (data, out) = (mnist_arg(), dir.arg(name));
    let mut args = vec!["train", "mnist", "--data", &data, "--arch", arch, "--labels-per-class", "10"];
    args.extend_from_slice(&["--batch-size", "32", "--epochs", epochs, "--threads", "2", "--out", &out]);
    args.extend_from_slice(extra);
    test_accuracy(&backprop(&args).expect_success(name).stdout)
}

/// CI scale: SimCLR pre-training on 4,000 of the bundled digits (labels
/// ignored) for 4 epochs, then 10 labels per class. A linear probe of the
/// pre-trained encoder beats linear probes of the same encoder at its random
/// initialisation, fine-tuning it does at least as well as training the same
/// network from scratch, and `report` plots the runs.
#[test]
fn pretrained_encoder_beats_a_random_one_with_ten_labels_per_class() {
    let dir = TempDir::new("pretrain-ci");
    let data = mnist_arg();
    let arch = "c8k5p2-bn-relu-mp2-c16k5-bn-relu-mp2-fc64-bn-relu";
    let pre = dir.arg("pre");
    let run = backprop(&[
        "pretrain",
        "--task",
        "contrastive",
        "--data",
        &data,
        "--arch",
        arch,
        "--limit",
        "4000",
        "--epochs",
        "4",
        "--batch-size",
        "128",
        "--threads",
        "2",
        "--out",
        &pre,
    ])
    .expect_success("pretrain");
    assert!(run.stdout.contains("contrastive loss"), "{}", run.stdout);
    let encoder = dir.arg("pre/encoder.safetensors");
    let downstream = |name: &str, extra: &[&str]| ten_labels(&dir, arch, "40", name, extra);
    let probe = downstream("probe", &["--init-from", &encoder, "--freeze", "encoder", "--lr", "0.01"]);
    // The random encoder probed both ways: its batch norm as initialised
    // (the identity), or normalising with batch statistics; the better counts.
    let random_probe = downstream("random-probe", &["--freeze", "encoder", "--lr", "0.01"])
        .max(downstream("random-probe-batch", &["--freeze", "encoder-weights", "--lr", "0.01"]));
    let tuned = downstream("tuned", &["--init-from", &encoder]);
    let scratch = downstream("scratch", &[]);
    assert!(
        probe >= random_probe + 3.0,
        "probe of the pre-trained encoder {probe}% vs of a random one {random_probe}%"
    );
    assert!(tuned >= scratch - 1.0, "fine-tuned {tuned}% vs scratch {scratch}%");
    for run_dir in [&pre, &dir.arg("tuned")] {
        backprop(&["report", run_dir]).expect_success("report");
        assert!(std::path::Path::new(run_dir).join("loss.png").is_file(), "{run_dir}/loss.png");
    }
}

/// `train mnist --augment` (random affine maps and elastic distortions of
/// the digits, Simard et al. 2003) is worth points when labels are few: 10
/// per class, the same network and steps, with and without it, averaged
/// over two seeds (single seeds gained +1.2 to +5.8 points on the 1,996
/// test digits, seeds 1-4, 2026-12-02).
#[test]
fn augmentation_helps_with_ten_labels_per_class() {
    let dir = TempDir::new("augment-ci");
    let arch = "c8k5p2-bn-relu-mp2-c16k5-bn-relu-mp2-fc64-bn-relu";
    let mean = |augment: bool| {
        let runs = ["1", "2"].map(|seed| {
            let mut extra = vec!["--seed", seed];
            extra.extend(augment.then_some("--augment"));
            ten_labels(&dir, arch, "120", &format!("seed{seed}-{augment}"), &extra)
        });
        (runs.iter().sum::<f32>() / 2.0, runs)
    };
    let ((plain, plain_runs), (augmented, augmented_runs)) = (mean(false), mean(true));
    assert!(
        augmented >= plain + 1.5,
        "with --augment {augmented}% {augmented_runs:?} vs without {plain}% {plain_runs:?} (mean of seeds 1, 2)"
    );
}

#[test]
fn bad_input_gets_one_line() {
    let dir = TempDir::new("pretrain-bad");
    let data = mnist_arg();
    let pre = dir.arg("pre");
    backprop(&[
        "pretrain",
        "--task",
        "denoise",
        "--data",
        &data,
        "--arch",
        "c4k3-relu-mp2-fc16-relu",
        "--limit",
        "64",
        "--epochs",
        "1",
        "--out",
        &pre,
    ])
    .expect_success("pretrain");
    let encoder = dir.arg("pre/encoder.safetensors");
    let out = dir.arg("out");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "mnist", "--data", &data, "--epochs", "1", "--out", &out];
        args.extend_from_slice(extra);
        backprop(&args)
    };
    // An encoder of another architecture: the tensors that differ are named.
    let line = assert_clean_failure(
        &train(&["--arch", "c8k3-relu-mp2-fc16-relu", "--init-from", &encoder]),
        &["encoder.safetensors", "does not fit", "layers.0.weight is [4, 1, 3, 3] in the file but [8, 1, 3, 3]"],
    );
    assert!(line.contains("layers.4.weight is [16, 676] in the file but [16, 1352]"), "{line}");
    assert_clean_failure(&train(&["--init-from", &encoder]), &["does not fit this mlp network"]);
    // A checkpoint that is not an encoder.
    train(&["--hidden", "8"]).expect_success("a small MLP");
    let model = dir.join("model.safetensors");
    std::fs::copy(dir.join("out/model.safetensors"), &model).unwrap();
    assert_clean_failure(
        &train(&["--hidden", "8", "--init-from", model.to_str().unwrap()]),
        &["holds a model of kind 'mlp', not a pre-trained encoder"],
    );
    assert_clean_failure(&train(&["--labels-per-class", "0"]), &["--labels-per-class", "at least 1"]);
    assert_clean_failure(
        &train(&["--labels-per-class", "5000"]),
        &["--labels-per-class", "5000 per class", "has only"],
    );
    assert_clean_failure(&train(&["--freeze", "encoder", "--hidden", ""]), &["--freeze", "no encoder to freeze"]);
    assert_clean_failure(
        &train(&["--freeze", "encoder", "--encoder-lr-scale", "0.1"]),
        &["--encoder-lr-scale", "--freeze encoder keeps fixed"],
    );
    assert_clean_failure(&train(&["--encoder-lr-scale", "0"]), &["--encoder-lr-scale", "positive"]);
    // --init zeros contradicts --init-from, and freezes a useless encoder with --freeze.
    let arch = "c4k3-relu-mp2-fc16-relu";
    assert_clean_failure(
        &train(&["--arch", arch, "--init", "zeros", "--init-from", &encoder]),
        &["--init", "--init-from", "one of the two"],
    );
    assert_clean_failure(&train(&["--init", "zeros", "--freeze", "encoder"]), &["--init", "all-zero encoder"]);
    let huge = usize::MAX.to_string();
    assert_clean_failure(
        &backprop(&["pretrain", "--task", "rotation", "--data", &data, "--epochs", &huge, "--out", &pre]),
        &["--epochs", "more steps than"],
    );
    // A logistic regression has no encoder: named as such, not as an "mlp network".
    let line = assert_clean_failure(&train(&["--hidden", "", "--init-from", &encoder]), &["--init-from", "logistic"]);
    assert!(!line.contains("mlp network"), "{line}");
    assert_clean_failure(
        &train(&["--hidden", "", "--encoder-lr-scale", "0.1"]),
        &["--encoder-lr-scale", "logistic regression", "no encoder"],
    );
    // An MLP encoder keeps its activation: another one downstream is refused, naming both.
    let mlp_pre = dir.arg("mlp-pre");
    let args = ["pretrain", "--task", "rotation", "--data", &data, "--hidden", "16", "--activation", "tanh"];
    backprop(&[&args[..], &["--limit", "64", "--epochs", "1", "--out", &mlp_pre]].concat())
        .expect_success("pretrain a tanh MLP");
    let mlp_encoder = dir.arg("mlp-pre/encoder.safetensors");
    assert_clean_failure(
        &train(&["--hidden", "16", "--init-from", &mlp_encoder]),
        &["--activation", "pre-trained with --activation tanh", "relu"],
    );
    let run = train(&["--hidden", "16", "--activation", "tanh", "--init-from", &mlp_encoder])
        .expect_success("the same activation");
    assert!(run.stdout.contains("tensors from"), "{}", run.stdout);
    // --temperature is the contrastive task's only.
    assert_clean_failure(
        &backprop(&["pretrain", "--task", "rotation", "--data", &data, "--temperature", "0.3", "--out", &pre]),
        &["--temperature", "contrastive", "not of rotation"],
    );
    assert_clean_failure(
        &backprop(&["pretrain", "--task", "rotation", "--data", &data, "--hidden", "", "--out", &pre]),
        &["--hidden", "no encoder"],
    );
    assert_clean_failure(
        &backprop(&["pretrain", "--task", "contrastive", "--data", &data, "--distributed", "--out", &pre]),
        &["--distributed", "pre-training runs on one process"],
    );
    let pretrain = |extra: &[&str]| {
        let mut args = vec!["pretrain", "--data", &data, "--limit", "64", "--epochs", "1", "--out", &pre];
        args.extend_from_slice(extra);
        backprop(&args)
    };
    assert_clean_failure(
        &pretrain(&["--task", "contrastive", "--rotation", "200"]),
        &["--rotation", "from 0 to 180 degrees, got 200"],
    );
    assert_clean_failure(&pretrain(&["--task", "contrastive", "--shear", "75"]), &["--shear", "from 0 to 60 degrees"]);
    assert_clean_failure(&pretrain(&["--task", "contrastive", "--rotation", "-5"]), &["--rotation", ">= 0"]);
    assert_clean_failure(&pretrain(&["--task", "contrastive", "--stroke", "4"]), &["--stroke", "from 0 to 3 pixels"]);
    // SimCLR's head with batch norm, and stroke views, train.
    let run = pretrain(&["--task", "contrastive", "--projection-bn", "--stroke", "1.5", "--batch-size", "16"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_clean_failure(
        &pretrain(&["--task", "denoise", "--projection-bn"]),
        &["--projection-bn", "contrastive", "not of denoise"],
    );
    // A last fc layer is the output layer: one that does not fit the classes was meant as the encoder's.
    assert_clean_failure(
        &pretrain(&["--task", "rotation", "--arch", "c4k3-relu-fc16"]),
        &["--arch", "ends with fc16", "unlabelled", "-fc16-relu"],
    );
    // Unlabelled images need no labels file: an IDX folder with train-images only.
    let images_only = dir.join("images-only");
    std::fs::create_dir_all(&images_only).unwrap();
    let name = "train-images-idx3-ubyte.gz";
    std::fs::copy(std::path::Path::new(&data).join(name), images_only.join(name)).unwrap();
    let run = backprop(&[
        "pretrain",
        "--task",
        "rotation",
        "--data",
        images_only.to_str().unwrap(),
        "--limit",
        "64",
        "--epochs",
        "1",
        "--out",
        &dir.arg("images-only-run"),
    ]);
    let stdout = run.expect_success("no labels file").stdout;
    assert!(stdout.contains("on 64 unlabelled images"), "{stdout}");
    // A folder where the encoder goes is refused before the first epoch.
    std::fs::create_dir_all(dir.join("taken/encoder.safetensors")).unwrap();
    assert_clean_failure(
        &backprop(&["pretrain", "--task", "rotation", "--data", &data, "--limit", "64", "--out", &dir.arg("taken")]),
        &["--out", "encoder.safetensors is a folder"],
    );
    // Hostile noise and temperatures: the loss would sit at chance (or overflow) and the encoder never train.
    assert_clean_failure(&pretrain(&["--task", "contrastive", "--noise", "1e30"]), &["--noise", "from 0 to 1"]);
    assert_clean_failure(&pretrain(&["--task", "denoise", "--noise", "2"]), &["--noise", "from 0 to 1", "got 2"]);
    assert_clean_failure(
        &pretrain(&["--task", "contrastive", "--temperature", "1e-30"]),
        &["--temperature", "from 0.01 to 10"],
    );
    assert_clean_failure(
        &pretrain(&["--task", "contrastive", "--elastic-sigma", "0"]),
        &["--elastic-sigma", "positive"],
    );
    assert_clean_failure(
        &pretrain(&["--task", "denoise", "--elastic-alpha", "30"]),
        &["--elastic-alpha", "views of the contrastive task, not of denoise"],
    );
    // Batch norm needs two images per batch: a batch of 1 is refused, a last batch of 1 joins the one before.
    let bn = ["--arch", "c4k3-bn-relu-mp2-fc8-relu"];
    assert_clean_failure(
        &pretrain(&[&bn[..], &["--task", "rotation", "--batch-size", "1"]].concat()),
        &["--batch-size", "batch norm"],
    );
    pretrain(&[&bn[..], &["--task", "denoise", "--batch-size", "9"]].concat()).expect_success("64 = 7 x 9 + 1");
    let one = ["pretrain", "--data", &data, "--limit", "1", "--task", "rotation", "--out", &pre];
    assert_clean_failure(&backprop(&[&one[..], &bn[..]].concat()), &["--limit", "1 image", "batch norm"]);
    let contrastive = [&one[..one.len() - 3], &["contrastive", "--out", &pre]].concat();
    assert_clean_failure(&backprop(&contrastive), &["--limit", "1 images", "at least 2"]);
    // A GPT fine-tuned on a text with characters its vocabulary lacks.
    let gpt = dir.arg("gpt");
    let text = dir.write("first.txt", "abc abc cab bac\n".repeat(20).as_bytes());
    backprop(&[
        "train",
        "gpt",
        "--text",
        text.to_str().unwrap(),
        "--layers",
        "1",
        "--heads",
        "1",
        "--embd",
        "8",
        "--block-size",
        "8",
        "--batch-size",
        "2",
        "--iters",
        "2",
        "--eval-every",
        "2",
        "--out",
        &gpt,
    ])
    .expect_success("train gpt");
    let second = dir.write("second.txt", "abc xyz! cab\n".repeat(5).as_bytes());
    assert_clean_failure(
        &backprop(&[
            "train",
            "gpt",
            "--text",
            second.to_str().unwrap(),
            "--init-from",
            &dir.arg("gpt/model.safetensors"),
            "--iters",
            "2",
            "--out",
            &dir.arg("gpt2"),
        ]),
        &["second.txt", "4 characters are not in the model's vocabulary", "'!' (5)", "'x' (5)"],
    );
}

#[test]
fn gpt_fine_tunes_from_a_checkpoint() {
    let dir = TempDir::new("pretrain-gpt");
    let first = dir.write("first.txt", "the cat sat on the mat. ".repeat(40).as_bytes());
    let second = dir.write("second.txt", "a cat on a hat. ".repeat(40).as_bytes());
    let flags = ["--batch-size", "8", "--eval-every", "20", "--threads", "2"];
    let base = dir.arg("base");
    let mut args = vec![
        "train",
        "gpt",
        "--text",
        first.to_str().unwrap(),
        "--layers",
        "1",
        "--heads",
        "2",
        "--embd",
        "16",
        "--block-size",
        "8",
        "--iters",
        "60",
        "--out",
        &base,
    ];
    args.extend_from_slice(&flags);
    backprop(&args).expect_success("pre-train");
    let tuned = dir.arg("tuned");
    let init = dir.arg("base/model.safetensors");
    let mut args = vec![
        "train",
        "gpt",
        "--text",
        second.to_str().unwrap(),
        "--init-from",
        &init,
        "--iters",
        "20",
        "--out",
        &tuned,
    ];
    args.extend_from_slice(&flags);
    // The file sets the shape: a flag that would set it too is refused, not ignored.
    for shape_flag in [&["--layers", "2"][..], &["--block-size", "16"], &["--untied"]] {
        assert_clean_failure(&backprop(&[&args[..], shape_flag].concat()), &[shape_flag[0], "--init-from"]);
    }
    args.extend_from_slice(&["--dropout", "0.2"]);
    let run = backprop(&args).expect_success("fine-tune");
    assert!(run.stdout.contains("fine-tuning the GPT of"), "{}", run.stdout);
    // The vocabulary (and so the embedding) is the pre-trained model's, not the second text's own.
    let ckpt = backprop::checkpoint::Checkpoint::load(&dir.join("tuned/model.safetensors")).unwrap();
    let (model, tokenizer) = backprop::nn::Gpt::from_checkpoint(&ckpt).unwrap();
    assert_eq!(tokenizer.chars().len(), "the cat sat on mat.".chars().collect::<std::collections::BTreeSet<_>>().len());
    assert_eq!(model.config().embd, 16);
    assert_eq!(model.config().dropout, 0.2, "--dropout applies to fine-tuning");
}
