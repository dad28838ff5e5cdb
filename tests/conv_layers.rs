//! Batch-norm layers in training and evaluation graphs (running statistics,
//! PyTorch's fixture), stable statistics, and the buffers of a CNN surviving
//! a checkpoint: evaluation after reloading equals evaluation before saving.

mod common;

use backprop::checkpoint::{self, Checkpoint};
use backprop::nn::{
    BatchNorm, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Init, LeakyRelu, Linear, MaxPool2d, Module, Sequential,
};
use backprop::tensor::{batch_norm_stats, Conv2dOptions, Rng};
use backprop::{Graph, Tensor};
use common::TempDir;
use std::path::Path;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::new(seed))
}

/// `max |a - b| <= tol * max |b|`.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    let scale = b.data().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let err = a.max_abs_diff(b);
    assert!(err <= tol * scale, "{what}: max error {err} exceeds {tol} x {scale}");
}

/// Per-channel mean and biased variance of `[N, C, *]` in f64, the plain way.
fn stats_f64(x: &Tensor) -> (Vec<f64>, Vec<f64>) {
    let (n, c) = (x.dim(0), x.dim(1));
    let s = x.numel() / (n * c);
    let values = |ch: usize| (0..n).flat_map(move |i| (0..s).map(move |j| (i * c + ch) * s + j));
    let m = (n * s) as f64;
    let mean: Vec<f64> = (0..c).map(|ch| values(ch).map(|i| x.data()[i] as f64).sum::<f64>() / m).collect();
    let var = (0..c).map(|ch| values(ch).map(|i| (x.data()[i] as f64 - mean[ch]).powi(2)).sum::<f64>() / m).collect();
    (mean, var)
}

#[test]
fn training_updates_running_statistics_and_evaluation_uses_them() {
    let bn = BatchNorm2d::new(3);
    bn.weight.set_value(Tensor::from_vec(vec![1.5, 0.5, 2.0], &[3]));
    bn.bias.set_value(Tensor::from_vec(vec![0.1, -0.2, 0.3], &[3]));
    let x = randn(&[4, 3, 3, 2], 1).add(&Tensor::from_vec(vec![5.0, -2.0, 0.0], &[3, 1, 1]));
    let (mean, var) = stats_f64(&x);
    let m = 4.0 * 3.0 * 2.0;
    for step in 1..=2 {
        let g = Graph::new();
        let y = bn.forward(&g, g.leaf(x.clone())).value();
        // The batch's own statistics normalise in training.
        let (ym, yv) = stats_f64(&y);
        for ch in 0..3 {
            let (w, b) = (bn.weight.value().data()[ch] as f64, bn.bias.value().data()[ch] as f64);
            assert!((ym[ch] - b).abs() < 1e-5, "step {step} channel {ch}: mean {}", ym[ch]);
            assert!(
                (yv[ch] - w * w * var[ch] / (var[ch] + 1e-5)).abs() < 1e-4,
                "step {step} channel {ch}: var {}",
                yv[ch]
            );
        }
        // running = (1 - 0.1)^step * initial + (1 - 0.9^step) * batch, with the unbiased variance.
        let keep = 0.9f64.powi(step);
        for ch in 0..3 {
            let want_mean = (1.0 - keep) * mean[ch];
            let want_var = keep + (1.0 - keep) * var[ch] * m / (m - 1.0);
            assert!((bn.running_mean.value().data()[ch] as f64 - want_mean).abs() < 1e-5);
            assert!((bn.running_var.value().data()[ch] as f64 - want_var).abs() < 1e-5);
        }
        assert_eq!(bn.num_batches_tracked.value().item(), step as f32);
        assert_eq!(bn.num_batches_tracked.value().shape(), &[] as &[usize]);
    }
    // Evaluation graphs (no_grad, and inputs_only as saliency and attacks
    // use) normalise with the running statistics and change nothing.
    let (rm, rv) = (bn.running_mean.value(), bn.running_var.value());
    let want: Vec<f32> = (0..x.numel())
        .map(|i| {
            let ch = i / 6 % 3;
            let (w, b) = (bn.weight.value().data()[ch], bn.bias.value().data()[ch]);
            (x.data()[i] - rm.data()[ch]) / (rv.data()[ch] + 1e-5).sqrt() * w + b
        })
        .collect();
    let want = Tensor::from_vec(want, x.shape());
    let g = Graph::no_grad();
    assert_close("no_grad", &bn.forward(&g, g.constant(x.clone())).value(), &want, 1e-6);
    let g = Graph::inputs_only();
    let xv = g.leaf(x.clone());
    let y = bn.forward(&g, xv);
    assert_close("inputs_only", &y.value(), &want, 1e-6);
    // The input gradient in evaluation is weight / sqrt(running_var + eps).
    let dx = g.backward(y.sum()).wrt(xv).unwrap().clone();
    let ch1 = bn.weight.value().data()[1] / (rv.data()[1] + 1e-5).sqrt();
    assert!((dx.data()[6] - ch1).abs() < 1e-6, "{} vs {ch1}", dx.data()[6]);
    assert_eq!((bn.running_mean.value(), bn.running_var.value()), (rm, rv));
    assert_eq!(bn.num_batches_tracked.value().item(), 2.0);
    assert!(bn.weight.grad().is_none(), "inputs_only must leave parameters alone");
}

#[test]
fn statistics_keep_their_precision_when_the_mean_dwarfs_the_spread() {
    // Channel 0 is 1e4 + N(0, 1): a one-pass E[x^2] - E[x]^2 in f32 loses
    // every digit of its variance; two passes in f64 keep them.
    let mut x = randn(&[256, 2], 7);
    x.data_mut().iter_mut().step_by(2).for_each(|v| *v += 1e4);
    let (mean, var) = batch_norm_stats(&x);
    let (mean_ref, var_ref) = stats_f64(&x);
    for ch in 0..2 {
        assert!((mean.data()[ch] as f64 - mean_ref[ch]).abs() <= 1e-3, "mean {ch}");
        assert!(
            (var.data()[ch] as f64 / var_ref[ch] - 1.0).abs() < 1e-5,
            "var {ch}: {} vs {}",
            var.data()[ch],
            var_ref[ch]
        );
    }
    let g = Graph::new();
    let (y, _, _) = g.leaf(x).batch_norm_train(None, None, 0.0);
    let (ym, yv) = stats_f64(&y.value());
    assert!(ym[0].abs() < 1e-3 && (yv[0] - 1.0).abs() < 1e-3, "normalised channel 0: mean {} var {}", ym[0], yv[0]);
}

#[test]
#[should_panic(
    expected = "batch_norm_train: needs more than one value per channel to compute a variance, got input [1, 4]"
)]
fn a_single_value_per_channel_cannot_be_normalised_in_training() {
    let g = Graph::new();
    BatchNorm1d::new(4).forward(&g, g.leaf(Tensor::zeros(&[1, 4])));
}

#[test]
#[should_panic(expected = "BatchNorm2d: input must be [N, C, H, W], got [4, 3]")]
fn batch_norm_2d_refuses_a_2d_input() {
    let g = Graph::no_grad();
    BatchNorm2d::new(3).forward(&g, g.constant(Tensor::zeros(&[4, 3])));
}

#[test]
#[should_panic(expected = "BatchNorm1d: input [4, 5] has 5 channels but the layer has 3")]
fn batch_norm_names_a_channel_mismatch() {
    let g = Graph::no_grad();
    BatchNorm1d::new(3).forward(&g, g.constant(Tensor::zeros(&[4, 5])));
}

#[test]
fn batch_norm_layers_match_pytorch() {
    let f = Checkpoint::load(Path::new("tests/fixtures/conv_ops.safetensors")).expect("fixture loads");
    let mut cases = 0;
    for case in ["bn2d_train", "bn2d_eval", "bn1d_train", "bn1d_eval"] {
        let t = |name: &str| f.tensors[&format!("{case}.{name}")].clone();
        let training = case.ends_with("train");
        let x = t("x");
        let bn: BatchNorm = if x.ndim() == 4 { BatchNorm2d::new(x.dim(1)).0 } else { BatchNorm1d::new(x.dim(1)).0 };
        let layer: Box<dyn Module> =
            if x.ndim() == 4 { Box::new(BatchNorm2d(bn.clone())) } else { Box::new(BatchNorm1d(bn.clone())) };
        for name in ["weight", "bias", "running_mean", "running_var"] {
            let (_, p) = layer.state_dict().into_iter().find(|(n, _)| n == name).unwrap();
            p.set_value(t(name));
        }
        let (y, dx, dweight, dbias) = if training {
            let g = Graph::new();
            let xv = g.leaf(x.clone());
            let y = layer.forward(&g, xv);
            let dx = g.backward((y * g.constant(t("r"))).sum()).wrt(xv).unwrap().clone();
            (y.value(), dx, bn.weight.grad().unwrap(), bn.bias.grad().unwrap())
        } else {
            // The layer in an evaluation graph, and the op with the parameters as leaves for their gradients.
            let g = Graph::no_grad();
            let y = layer.forward(&g, g.constant(x.clone())).value();
            let g = Graph::new();
            let (xv, w, b) = (g.leaf(x.clone()), g.leaf(t("weight")), g.leaf(t("bias")));
            let out = xv.batch_norm_eval(Some(w), Some(b), &bn.running_mean.value(), &bn.running_var.value(), bn.eps);
            let grads = g.backward((out * g.constant(t("r"))).sum());
            assert_eq!(out.value(), y);
            let d = |v| grads.wrt(v).unwrap().clone();
            (y, d(xv), d(w), d(b))
        };
        assert_close(&format!("{case} y"), &y, &t("y"), 1e-4);
        assert_close(&format!("{case} dx"), &dx, &t("dx"), 1e-4);
        assert_close(&format!("{case} dweight"), &dweight, &t("dweight"), 1e-4);
        assert_close(&format!("{case} dbias"), &dbias, &t("dbias"), 1e-4);
        assert_close(&format!("{case} running_mean"), &bn.running_mean.value(), &t("running_mean_after"), 1e-4);
        assert_close(&format!("{case} running_var"), &bn.running_var.value(), &t("running_var_after"), 1e-4);
        assert_eq!(bn.num_batches_tracked.value().item(), if training { 1.0 } else { 0.0 });
        cases += 1;
    }
    assert_eq!(cases, 4);
}

/// conv - bn - leaky relu - max pool - flatten - linear - bn1d.
fn small_cnn(seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    let same = Conv2dOptions { padding: [1, 1], ..Default::default() };
    Sequential::new()
        .push(Conv2d::new(2, 4, [3, 3], same, true, &mut rng))
        .push(BatchNorm2d::new(4))
        .push(LeakyRelu::new(0.1))
        .push(MaxPool2d::new([2, 2], [2, 2], [0, 0]))
        .push(Flatten)
        .push(Linear::new(4 * 3 * 3, 3, true, Init::PytorchDefault, &mut rng))
        .push(BatchNorm1d::new(3))
}

#[test]
fn buffers_are_named_like_pytorch_and_kept_out_of_the_parameters() {
    let net = small_cnn(0);
    let names = |v: Vec<(String, backprop::Param)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    let params = names(net.parameters());
    assert_eq!(
        params,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "layers.5.weight",
            "layers.5.bias",
            "layers.6.weight",
            "layers.6.bias"
        ]
    );
    let buffers = names(net.buffers());
    assert_eq!(
        buffers,
        [
            "layers.1.running_mean",
            "layers.1.running_var",
            "layers.1.num_batches_tracked",
            "layers.6.running_mean",
            "layers.6.running_var",
            "layers.6.num_batches_tracked"
        ]
    );
    assert_eq!(names(net.state_dict()), [params, buffers].concat());
    assert_eq!(net.num_parameters(), 4 * 2 * 9 + 4 + 8 + 36 * 3 + 3 + 6);
}

#[test]
fn evaluation_after_reloading_a_checkpoint_equals_evaluation_before_saving() {
    let net = small_cnn(1);
    let x = randn(&[6, 2, 6, 6], 2);
    // A few training passes move the running statistics away from 0 and 1.
    for seed in 0..3 {
        let g = Graph::new();
        let out = net.forward(&g, g.leaf(randn(&[8, 2, 6, 6], 10 + seed).mul_scalar(2.0).add_scalar(0.5)));
        g.backward(out.sum());
    }
    let eval = |m: &Sequential| {
        let g = Graph::no_grad();
        m.forward(&g, g.constant(x.clone())).value()
    };
    let before = eval(&net);
    let dir = TempDir::new("conv-layers-ckpt");
    let path = dir.join("cnn.safetensors");
    checkpoint::save(&path, &net.state_dict(), &Default::default()).unwrap();

    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded.tensors["layers.1.num_batches_tracked"].shape(), &[] as &[usize]);
    assert_eq!(loaded.tensors["layers.1.num_batches_tracked"].item(), 3.0);
    assert_eq!(loaded.tensors["layers.6.running_var"], net.buffers()[4].1.value());
    let fresh = small_cnn(99);
    assert_ne!(eval(&fresh), before, "a differently seeded model must differ before restoring");
    loaded.restore_into(&fresh.state_dict()).unwrap();
    assert_eq!(eval(&fresh), before);
    // Restoring the parameters alone is not enough: the running statistics matter.
    let params_only = small_cnn(99);
    let mut partial = loaded.clone();
    partial.tensors.retain(|name, _| !name.contains("running") && !name.contains("num_batches"));
    partial.restore_into(&params_only.parameters()).unwrap();
    assert_ne!(eval(&params_only), before);
}
