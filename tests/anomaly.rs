//! Where a NaN came from: training stops at the first op whose value or
//! gradient is not finite, names it, its layer, its inputs and the step, and
//! gives the hint for that op (log of 0, exp overflow, 0/0, sqrt at 0, a
//! learning rate too high shown by the size of the last update).

mod common;

use backprop::autograd::{Graph, Param, Var};
use backprop::data::RegressionData;
use backprop::loss::Loss;
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::optim::Sgd;
use backprop::tensor::Rng;
use backprop::train::{EpochRecord, EpochStats, TrainConfig, TrainStep, Trainer};
use backprop::{Error, Result, Tensor};
use common::{backprop, TempDir};
use std::path::Path;

/// A step whose loss is `f(w, x)` for one parameter `layers.0.weight` and a fixed input `x`.
struct Formula {
    w: Param,
    x: Tensor,
    f: for<'g> fn(Var<'g>, Var<'g>) -> Var<'g>,
}

impl TrainStep for Formula {
    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        Ok((self.f)(g.param(&self.w), g.constant(self.x.clone())))
    }
    fn end_epoch(&mut self, _: &mut EpochRecord, _: &EpochStats) {}
}

/// Trains `f` for 3 steps with SGD (rate `lr`) from w = 1 on `x`; the error's text.
fn fail(x: &[f32], lr: f32, f: for<'g> fn(Var<'g>, Var<'g>) -> Var<'g>) -> String {
    let w = Param::new(Tensor::ones(&[x.len()]));
    let mut step = Formula { w: w.clone(), x: Tensor::from_vec(x.to_vec(), &[x.len()]), f };
    let config = TrainConfig { epochs: 1, steps_per_epoch: Some(3), ..Default::default() };
    let sgd = Sgd::new(vec![("layers.0.weight".into(), w)], lr);
    match Trainer::new(Box::new(sgd), config).run(&mut step) {
        Err(e @ Error::Diverged(_)) => e.to_string(),
        other => panic!("expected a divergence, got {:?}", other.map(|h| h.len())),
    }
}

fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "missing {p:?} in:\n{text}");
    }
}

#[test]
fn log_of_zero_names_the_log() {
    let e = fail(&[0.5, 0.0, 2.0], 0.1, |w, x| (w * x).log().mean());
    has(
        &e,
        &[
            "the loss became -inf at step 1: op 'log' (node n3) after layers.0 made the first non-finite value of the forward pass",
            "input 0: [3] min 0 max 2",
            "value:    [3] min -0.693147 max 0.693147, 1 of 3 non-finite (first -inf)",
            "hint:     log of 0 is -inf",
        ],
    );
    assert!(!e.contains("learning rate"), "not the learning rate's fault:\n{e}");
}

#[test]
fn exp_of_a_thousand_names_the_exp() {
    let e = fail(&[1.0, 1000.0], 0.1, |w, x| (w * x).exp().sum());
    has(
        &e,
        &[
            "the loss became inf at step 1: op 'exp'",
            "exp overflows f32 for inputs above 88.72",
            "the largest input is 1000",
        ],
    );
    assert!(!e.contains("try:"), "{e}");
}

#[test]
fn zero_over_zero_names_the_division() {
    let e = fail(&[0.0, 1.0], 0.1, |w, x| ((w * x) / (w * x)).sum());
    has(&e, &["the loss became NaN at step 1: op 'div'", "after layers.0", "0/0 is NaN"]);
}

#[test]
fn sqrt_of_a_negative_names_the_sqrt() {
    let e = fail(&[4.0, -1.0], 0.1, |w, x| (w * x).sqrt().sum());
    has(&e, &["op 'sqrt'", "sqrt of a negative number is NaN, and the smallest input is -1"]);
}

#[test]
fn an_infinite_gradient_names_the_op_of_the_backward_pass() {
    // sqrt(0) = 0 is finite, its derivative 1/(2 sqrt 0) is not: the loss never turns NaN
    // in this step, the gradient does.
    let e = fail(&[4.0, 0.0], 0.1, |w, x| (w * x).sqrt().sum());
    has(
        &e,
        &[
            "the gradient of 'layers.0.weight' became non-finite at step 1: op 'sqrt' (node n3) after layers.0 made the first non-finite gradient of the backward pass",
            "op:       sqrt (node n3, backward) after layers.0",
            "incoming gradient: [2] min 1 max 1",
            "gradient: [2] min 0.25 max 0.25, 1 of 2 non-finite (first inf)",
            "the derivative of sqrt x is 1/(2 sqrt x), infinite at x = 0",
        ],
    );
}

#[test]
fn a_learning_rate_too_high_is_shown_by_the_last_update() {
    // y = 3x fitted by an MLP with SGD at rate 1e12: the first update is huge, the
    // second forward pass overflows in a matrix product.
    let x: Vec<f32> = (0..32).map(|i| i as f32 / 8.0).collect();
    let y: Vec<f32> = x.iter().map(|v| 3.0 * v).collect();
    let data = RegressionData::new(Tensor::from_vec(x, &[32, 1]), Tensor::from_vec(y, &[32, 1])).unwrap();
    let mlp = Mlp::new(MlpConfig::classifier(1, &[16, 16], 1, Activation::Relu), &mut Rng::new(0));
    let config = TrainConfig { epochs: 3, batch_size: 8, loss: Loss::Mse, ..Default::default() };
    let sgd = Sgd::new(mlp.parameters(), 1e12);
    let e = Trainer::new(Box::new(sgd), config).fit(&mlp, &data, None).unwrap_err().to_string();
    let first = e.lines().next().unwrap();
    assert!(first.starts_with("the loss became") && first.contains("training diverged: op '"), "{e}");
    has(
        &e,
        &[
            "at epoch 1, batch ",
            "the result overflowed (f32 ends at 3.40282e38) from inputs up to",
            "values in the network have grown too large",
            "update:   the last update (step ",
            "try:      a lower learning rate (now 1e12)",
        ],
    );
    // The update line names a parameter and the norms before and after.
    let update = e.lines().find(|l| l.contains("update:")).unwrap();
    assert!(
        update.contains("took the norm of layers.") && update.contains(" from ") && update.contains(" to "),
        "{update}"
    );
}

#[test]
fn weights_that_overflow_in_the_update_blame_the_learning_rate() {
    // The gradient is finite (2w x = 6) but w - 1e38 * 6 is beyond f32: the next forward pass
    // meets a non-finite parameter.
    let e = fail(&[3.0], 1e38, |w, x| (w * x).square().sum());
    has(
        &e,
        &[
            "the loss became inf at step 2: training diverged: parameter 'layers.0.weight' (node n0) is -inf",
            "the weights became non-finite in the last update although every gradient was finite",
            "update:   the last update (step 1) took the norm of layers.0.weight from 1 to a non-finite value (its gradient's norm was 18 in step 1)",
            "try:      a lower learning rate (now 1e38)",
        ],
    );
}

#[test]
fn anomaly_detection_finds_a_nan_the_loss_never_sees() {
    let config = TrainConfig { epochs: 1, steps_per_epoch: Some(2), ..Default::default() };
    let hidden = |w: &Param| Formula {
        w: w.clone(),
        x: Tensor::zeros(&[2]),
        f: |w, x| {
            let _unused = (w * x).log(); // -inf, but not part of the loss
            (w - 2.0).square().sum()
        },
    };
    let w = Param::new(Tensor::ones(&[2]));
    let sgd = || Box::new(Sgd::new(vec![("layers.0.weight".to_string(), w.clone())], 0.1));
    assert!(Trainer::new(sgd(), config.clone()).run(&mut hidden(&w)).is_ok());
    let e = Trainer::new(sgd(), config).detect_anomaly(true).run(&mut hidden(&w)).unwrap_err().to_string();
    has(&e, &["a value of the graph became non-finite (--detect-anomaly) at step 1: op 'log'", "log of 0 is -inf"]);
}

#[test]
fn the_command_line_prints_one_error_line_and_the_details_under_it() {
    let dir = TempDir::new("anomaly-cli");
    let run = backprop(&[
        "train",
        "mnist",
        "--data",
        &common::mnist_arg(),
        "--out",
        &dir.arg("out"),
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--schedule",
        "constant",
        "--hidden",
        "32",
        "--epochs",
        "1",
        "--threads",
        "2",
    ]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines[0].starts_with("error: the loss became"), "{}", run.stderr);
    assert!(lines[0].contains("at epoch 1, batch 2 (step 2): training diverged: op 'linear'"), "{}", run.stderr);
    assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "details are indented under the error:\n{}", run.stderr);
    for label in ["op:", "input 1 = layers.", "value:", "hint:", "update:", "try:"] {
        assert!(lines[1..].iter().any(|l| l.trim_start().starts_with(label)), "no {label} line:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"));
    assert!(!dir.join("out/model.safetensors").exists(), "a diverged run saves no model");
}

#[test]
fn detect_anomaly_trains_a_healthy_run_to_the_same_weights() {
    // Checking every value and gradient changes nothing when all are finite.
    let dir = TempDir::new("anomaly-healthy");
    let train = |out: &str, extra: &[&str]| {
        let (data, out) = (common::mnist_arg(), dir.arg(out));
        let args =
            ["train", "mnist", "--data", &data, "--out", &out, "--hidden", "16", "--epochs", "1", "--threads", "2"];
        backprop(&[&args[..], extra].concat()).expect_success("train mnist");
        let history = backprop::train::read_history(&Path::new(&out).join("history.jsonl")).unwrap();
        history.iter().map(|r| (r.train_loss, r.val_loss, r.train_accuracy, r.val_accuracy)).collect::<Vec<_>>()
    };
    assert_eq!(train("plain", &[]), train("checked", &["--detect-anomaly"]));
}
