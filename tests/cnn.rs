//! The CNN model kind in the library: checkpoints written by PyTorch load and
//! give PyTorch's logits, batch-norm statistics survive save and load, bad
//! architectures and checkpoints get one-line errors, and Grad-CAM points at
//! the region a hand-built network looks at.

use backprop::data::Dataset;
use backprop::explain::grad_cam;
use backprop::models;
use backprop::nn::{Cnn, CnnConfig, Module};
use backprop::optim::Adam;
use backprop::tensor::Rng;
use backprop::train::{TrainConfig, Trainer};
use backprop::{Graph, Tensor};
use cnn_common::{light_and_dark_detector, two_squares};
use std::path::{Path, PathBuf};

mod cnn_common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-cnn-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("model.safetensors")
}

/// Evaluation-mode outputs of a module for a batch.
fn eval(model: &dyn Module, x: &Tensor) -> Tensor {
    let g = Graph::no_grad();
    model.forward(&g, g.constant(x.clone())).value()
}

#[test]
fn checkpoints_written_by_pytorch_give_pytorch_logits() {
    // tests/fixtures/make_cnn_fixture.py: conv/bn/pool/fc networks trained a few steps in PyTorch.
    for name in ["rgb", "grey"] {
        let loaded = models::load(&fixture(&format!("cnn_{name}.safetensors"))).unwrap();
        assert_eq!(loaded.model.kind(), "cnn");
        let classifier = loaded.classifier("test").unwrap();
        let expected = backprop::checkpoint::Checkpoint::load(&fixture(&format!("cnn_{name}_expected.safetensors")))
            .unwrap()
            .tensors;
        let (inputs, logits) = (&expected["inputs"], &expected["logits"]);
        assert_eq!(classifier.inputs, inputs.dim(1));
        let ours = eval(classifier.module, inputs);
        assert_eq!(ours.shape(), logits.shape());
        let diff = ours.max_abs_diff(logits);
        assert!(diff <= 1e-4, "{name}: logits differ from PyTorch's by {diff}\nours {ours:?}\nPyTorch {logits:?}");
        // The running statistics were loaded (PyTorch trained them away from 0 and 1).
        let cnn = classifier.cnn.unwrap();
        let stats: Vec<_> = cnn.buffers().into_iter().filter(|(n, _)| n.ends_with("running_mean")).collect();
        assert!(!stats.is_empty() && stats.iter().all(|(_, p)| p.value().data().iter().any(|v| v.abs() > 1e-3)));
    }
}

/// A small CNN with batch norm on 1x8x8 images, trained a few steps on random data.
fn trained_cnn() -> (Cnn, Tensor) {
    let config = CnnConfig::classifier("c4k3p1-bn-relu-mp2-fc8-bn-relu-drop0.2", [1, 8, 8], 3).unwrap();
    let cnn = Cnn::new(config, &mut Rng::new(1)).unwrap();
    let x = Tensor::rand_uniform(&[48, 64], 0.0, 1.0, &mut Rng::new(2));
    let labels = (0..48).map(|i| i % 3).collect();
    let data = Dataset::new(x.clone(), labels, 3).unwrap();
    let config = TrainConfig { epochs: 3, batch_size: 16, ..Default::default() };
    Trainer::new(Box::new(Adam::new(cnn.parameters(), 1e-2)), config).fit(&cnn, &data, None).unwrap();
    (cnn, x)
}

#[test]
fn batch_norm_statistics_survive_save_and_load() {
    let (cnn, x) = trained_cnn();
    let buffers = cnn.buffers();
    let names: Vec<&str> = buffers.iter().map(|(n, _)| n.as_str()).collect();
    for want in
        ["layers.1.running_mean", "layers.1.running_var", "layers.1.num_batches_tracked", "layers.6.running_mean"]
    {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let mean = &buffers.iter().find(|(n, _)| n == "layers.1.running_mean").unwrap().1;
    assert!(mean.value().data().iter().any(|v| v.abs() > 1e-3), "training moved the running mean");
    let before = eval(&cnn, &x);
    // Evaluation uses the running statistics: a batch of one gives the same row as in the batch.
    let one = eval(&cnn, &x.narrow(0, 5, 1));
    assert!(one.max_abs_diff(&before.narrow(0, 5, 1)) < 1e-5);

    let path = temp("bn");
    cnn.save(&path, &Default::default()).unwrap();
    let loaded = models::load(&path).unwrap();
    let after = eval(loaded.model.module(), &x);
    assert_eq!(before, after, "evaluation after loading differs from evaluation before saving");

    // Without its running statistics the file is refused, naming the tensor.
    let mut ckpt = backprop::checkpoint::Checkpoint::load(&path).unwrap();
    ckpt.tensors.remove("layers.1.running_var");
    ckpt.save_to(&path).unwrap();
    let e = models::load(&path).unwrap_err().to_string();
    assert!(e.contains("has no tensor 'layers.1.running_var'"), "{e}");
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn bad_configurations_in_checkpoints_are_refused_before_building() {
    let path = temp("hostile");
    let meta = |config: &str| {
        [
            (backprop::checkpoint::KIND_KEY.to_string(), "cnn".to_string()),
            (backprop::checkpoint::CONFIG_KEY.to_string(), config.to_string()),
        ]
        .into()
    };
    let cases = [
        // A network of 2^28 weights in an empty file: refused from its size alone.
        (
            r#"{"arch":"c65536k16-gap-fc10","input":[16,64,64]}"#,
            "needs 269156362 parameters but the file holds 0 values",
        ),
        (
            r#"{"arch":"c8k9-fc10","input":[1,4,4]}"#,
            "layer 0 (c8k9): a 9x9 kernel (dilation 1) does not fit the 1x4x4 input",
        ),
        (r#"{"arch":"c8k3-fc10","input":[1,0,4]}"#, "is not an image shape"),
        (r#"{"arch":"c8k3-relu","input":[1,8,8]}"#, "ends in feature maps, not class scores"),
        (r#"{"arch":"c8k3-oops","input":[1,8,8]}"#, "layer 1 (oops): unknown layer"),
        (r#"{"arch":3}"#, "bad CNN configuration"),
    ];
    for (config, want) in cases {
        backprop::checkpoint::save(&path, &[], &meta(config)).unwrap();
        let e = models::load(&path).unwrap_err().to_string();
        assert!(e.contains(want), "{config}: {e}");
        assert!(e.contains("model.safetensors") && !e.contains('\n'), "{e}");
    }
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn grad_cam_highlights_the_region_the_model_looks_at() {
    let cnn = light_and_dark_detector();
    let x = two_squares();
    let mean = |heat: &Tensor, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let n = (rows.len() * cols.len()) as f32;
        rows.flat_map(|r| cols.clone().map(move |c| (r, c))).map(|(r, c)| heat.data()[r * 12 + c]).sum::<f32>() / n
    };
    for (class, bright, dark) in [(0, (0..4, 0..4), (8..12, 8..12)), (1, (8..12, 8..12), (0..4, 0..4))] {
        let cam = grad_cam(&cnn, &x, class).unwrap();
        assert_eq!(cam.layer, 1, "the map is read after the convolution's ReLU");
        assert_eq!(cam.heat.shape(), &[12, 12]);
        let inside = mean(&cam.heat, bright.0.clone(), bright.1.clone());
        assert!(inside > 0.99, "class {class}: mean heat {inside} on its square");
        assert_eq!(mean(&cam.heat, dark.0, dark.1), 0.0, "class {class}: the other square is cold");
        assert_eq!(mean(&cam.heat, 5..7, 0..12), 0.0, "class {class}: the grey background is cold");
    }
    // The model's parameters got no gradient.
    assert!(cnn.parameters().iter().all(|(_, p)| p.grad().is_none()));
    // Bad arguments: one error each.
    assert!(grad_cam(&cnn, &x, 2).unwrap_err().to_string().contains("class 2 is out of range"));
    assert!(grad_cam(&cnn, &Tensor::zeros(&[1, 100]), 0).unwrap_err().to_string().contains("takes 144 values"));
}
