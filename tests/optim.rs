//! Optimizers against PyTorch when parameters skip steps, and the trainer's
//! diagnosis of a non-finite loss.
//!
//! The reference numbers come from PyTorch 2.15 (CPU):
//!
//! ```python
//! import torch
//! def run(make, grads_a, grads_b):  # grads_b[s] is None: b gets no gradient on step s
//!     a = torch.nn.Parameter(torch.tensor(A0)); b = torch.nn.Parameter(torch.tensor(B0))
//!     opt = make([a, b])
//!     for ga, gb in zip(grads_a, grads_b):
//!         opt.zero_grad()
//!         a.grad = torch.tensor(ga)
//!         if gb is not None: b.grad = torch.tensor(gb)
//!         opt.step()
//!     return a.tolist(), b.tolist()
//! # case 1: A0 = B0 = 1.0; a gets 1 on steps 1-4, b gets 1 on step 4 only
//! run(lambda p: torch.optim.Adam(p, lr=0.1), ...)                     # a 0.600000, b 0.900000
//! run(lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1), ...)  # a 0.566556, b 0.890000
//! run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), ...)        # a 0.095100, b 0.900000
//! run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), ...)  # a -0.214410, b 0.810000
//! # case 2: A0 = [1, 2], B0 = 0.5; a gets [0.5 s, -1] on steps s = 1..5, b gets 1 on step 2, -2 on step 4
//! run(lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.8, 0.9)), ...)   # a [0.511356, 2.5], b 0.441513
//! run(lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.5), ...)  # a [0.335156, 2.0], b 0.392860
//! run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1), ...)  # a [-0.688369, 3.026928], b 0.496550
//! ```

use backprop::data::RegressionData;
use backprop::loss::Loss;
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::tensor::Rng;
use backprop::train::{TrainConfig, Trainer};
use backprop::{Error, Graph, Param, Tensor};

/// Runs `opt` over `a` and `b` for as many steps as `grads_a` has; on step
/// `s` the loss is `sum(grads_a[s] * a) + grads_b[s] * b`, so a parameter left
/// out of a step's graph (`None`) gets no gradient at all, as in PyTorch.
fn run(opt: &mut dyn Optimizer, a: &Param, b: &Param, grads_a: &[Vec<f32>], grads_b: &[Option<f32>]) {
    for (ga, gb) in grads_a.iter().zip(grads_b) {
        opt.zero_grad();
        let g = Graph::new();
        let mut j = (g.param(a) * g.constant(Tensor::from_vec(ga.clone(), &a.shape()))).sum();
        if let Some(gb) = gb {
            j = j + (g.param(b) * *gb).sum();
        }
        g.backward(j);
        opt.step();
    }
}

fn params(a: &[f32], b: f32) -> (Param, Param, Vec<(String, Param)>) {
    let a = Param::new(Tensor::from_vec(a.to_vec(), &[a.len()]));
    let b = Param::new(Tensor::scalar(b));
    let list = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    (a, b, list)
}

fn assert_close(got: &Tensor, want: &[f32], what: &str) {
    let ok = got.data().iter().zip(want).all(|(g, w)| (g - w).abs() < 2e-6);
    assert!(ok && got.numel() == want.len(), "{what}: {:?}, PyTorch {want:?}", got.data());
}

type MakeOpt = fn(Vec<(String, Param)>) -> Box<dyn Optimizer>;

#[test]
fn a_parameter_that_skips_steps_keeps_its_own_step_count_and_moments() {
    // Case 1: the issue's numbers.
    let grads_a = vec![vec![1.0]; 4];
    let grads_b = [None, None, None, Some(1.0)];
    let cases: [(&str, MakeOpt, f32, f32); 4] = [
        ("Adam", |p| Box::new(Adam::new(p, 0.1)), 0.6, 0.900_000_04),
        ("AdamW", |p| Box::new(Adam::adamw(p, 0.1, 0.1)), 0.566_556_16, 0.890_000_05),
        ("SGD momentum", |p| Box::new(Sgd::new(p, 0.1).momentum(0.9, false)), 0.095_099_986, 0.9),
        ("SGD Nesterov", |p| Box::new(Sgd::new(p, 0.1).momentum(0.9, true)), -0.214_410_02, 0.81),
    ];
    for (name, make, want_a, want_b) in cases {
        let (a, b, list) = params(&[1.0], 1.0);
        run(&mut *make(list), &a, &b, &grads_a, &grads_b);
        assert_close(&a.value(), &[want_a], &format!("{name}: a"));
        assert_close(&b.value().reshape(&[1]), &[want_b], &format!("{name}: b"));
    }

    // Case 2: vectors, other betas, weight decay, and b's moments carried across a skipped step.
    let grads_a: Vec<Vec<f32>> = (1..=5).map(|s| vec![0.5 * s as f32, -1.0]).collect();
    let grads_b = [None, Some(1.0), None, Some(-2.0), None];
    let cases: [(&str, MakeOpt, [f32; 2], f32); 3] = [
        (
            "Adam betas (0.8, 0.9)",
            |p| Box::new(Adam::new(p, 0.1).betas(0.8, 0.9)),
            [0.511_356_2, 2.499_999_5],
            0.441_513_33,
        ),
        ("AdamW wd 0.5", |p| Box::new(Adam::adamw(p, 0.1, 0.5)), [0.335_155_7, 2.0], 0.392_860_35),
        (
            "SGD momentum, wd 0.1",
            |p| Box::new(Sgd::new(p, 0.1).momentum(0.9, false).weight_decay(0.1)),
            [-0.688_369_3, 3.026_927_7],
            0.496_550_02,
        ),
    ];
    for (name, make, want_a, want_b) in cases {
        let (a, b, list) = params(&[1.0, 2.0], 0.5);
        run(&mut *make(list), &a, &b, &grads_a, &grads_b);
        assert_close(&a.value(), &want_a, &format!("{name}: a"));
        assert_close(&b.value().reshape(&[1]), &[want_b], &format!("{name}: b"));
    }
}

#[test]
fn adam_counts_the_steps_of_each_parameter() {
    let (a, b, list) = params(&[1.0], 1.0);
    let mut adam = Adam::new(list, 0.1);
    run(&mut adam, &a, &b, &vec![vec![1.0]; 5], &[None, Some(1.0), None, None, Some(2.0)]);
    assert_eq!((adam.steps_of(0), adam.steps_of(1)), (5, 2));
    // A frozen parameter (a GAN's other network) is skipped the same way.
    adam.zero_grad();
    let g = Graph::new().freeze([&a]);
    g.backward((g.param(&a) * g.param(&b)).sum());
    adam.step();
    assert_eq!((adam.steps_of(0), adam.steps_of(1)), (5, 3));
}

#[test]
fn adam_gives_the_same_update_when_something_else_holds_the_weights() {
    // A live graph holding the weights (a GAN's discriminator between its
    // phases) makes Adam write the update into a new buffer instead of its own.
    let start: Vec<f32> = (0..19).map(|i| i as f32 * 0.25 - 2.0).collect();
    let run = |hold: bool| {
        let (a, b, list) = params(&start, 0.5);
        let mut adam = Adam::adamw(list, 0.1, 0.01);
        let mut held = Vec::new();
        for step in 0..3 {
            if hold {
                held.push(a.value());
            }
            let grad: Vec<f32> = (0..19).map(|i| ((i * 7 + step * 3) % 11) as f32 - 5.0).collect();
            a.lock().grad = Some(Tensor::from_vec(grad, &[19]));
            b.lock().grad = Some(Tensor::scalar(1.0));
            adam.step();
        }
        (a.value(), held)
    };
    let ((owned, _), (shared, held)) = (run(false), run(true));
    assert_eq!(owned.data(), shared.data(), "the same bits either way");
    assert_eq!(held[0].data(), &start[..], "the holder keeps the values it took");
    assert!(held.windows(2).all(|w| w[0].data() != w[1].data()) && held[2].data() != shared.data());
}

/// A regression set whose first input column holds `bad` in one row.
fn data_with(bad: f32) -> RegressionData {
    let mut x: Vec<f32> = (0..32).map(|i| i as f32 / 32.0).collect();
    x[6] = bad;
    let y: Vec<f32> = (0..16).map(|i| i as f32).collect();
    RegressionData::new(Tensor::from_vec(x, &[16, 2]), Tensor::from_vec(y, &[16, 1])).unwrap()
}

fn train(data: &RegressionData, lr: f32) -> Result<(), Error> {
    let mlp = Mlp::new(MlpConfig::classifier(2, &[8], 1, Activation::Relu), &mut Rng::new(0));
    let config = TrainConfig { epochs: 3, batch_size: 16, loss: Loss::Mse, ..Default::default() };
    Trainer::new(Box::new(Sgd::new(mlp.parameters(), lr)), config).fit(&mlp, data, None).map(|_| ())
}

#[test]
fn a_nan_loss_blames_the_data_when_the_inputs_hold_nan_and_the_learning_rate_otherwise() {
    for bad in [f32::NAN, f32::INFINITY] {
        let err = train(&data_with(bad), 0.01).unwrap_err().to_string();
        assert!(err.contains("the loss became") && err.contains("at epoch 1, batch 1"), "{err}");
        assert!(err.contains("the input (node n0) holds 1 non-finite of 32 values"), "{err}");
        assert!(err.contains("the data holds NaN or infinite values"), "{err}");
        assert!(!err.contains("try a lower learning rate"), "{err}");
    }
    // Finite data and a huge rate: divergence, and the advice names the op where it started.
    let err = train(&data_with(0.5), 1e30).unwrap_err().to_string();
    assert!(err.contains("training diverged: op '"), "{err}");
    assert!(err.contains("try:      a lower learning rate (now 1e30)"), "{err}");
}

#[test]
fn a_model_that_starts_with_nan_weights_is_not_told_to_lower_its_rate() {
    let mlp = Mlp::new(MlpConfig::classifier(2, &[8], 1, Activation::Tanh), &mut Rng::new(0));
    let (name, bias) = mlp.parameters().into_iter().find(|(n, _)| n.ends_with("bias")).unwrap();
    let mut v = bias.value().data().to_vec();
    v[0] = f32::NAN;
    bias.set_value(Tensor::from_vec(v, &bias.shape()));
    let config = TrainConfig { epochs: 1, batch_size: 16, loss: Loss::Mse, ..Default::default() };
    let err = Trainer::new(Box::new(Sgd::new(mlp.parameters(), 0.01)), config)
        .fit(&mlp, &data_with(0.5), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("parameter '{name}'")) && err.contains("before the first step"), "{err}");
    assert!(!err.contains("learning rate"), "{err}");
}
