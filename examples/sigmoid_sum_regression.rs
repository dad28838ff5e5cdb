//! The course's flexible model y = b + c^T sigmoid(b' + W x), on a time series.
//!
//! A straight line y = b + w . x can only follow a trend; a sum of sigmoids
//! (one hidden sigmoid layer) can approximate any piecewise-linear curve, and
//! so can a sum of ReLUs. Here the series is piecewise linear: each value is
//! an |x|-shaped (tent) function of the previous one, x' = 1.9 min(x, 1 - x).
//! Every model sees the previous 7 values (a window) and predicts the next;
//! the last 20% of the series, in time order, is the validation set, and the
//! standardisation is fitted on the training part only.
//!
//! Run: `cargo run --release --example sigmoid_sum_regression`

use backprop::data::{window_series, RegressionData, Standardizer};
use backprop::loss::Loss;
use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::optim::{Adam, Schedule};
use backprop::tensor::Rng;
use backprop::train::{evaluate, TrainConfig, Trainer};
use backprop::Error;

const WINDOW: usize = 7;

pub fn main() -> backprop::Result<()> {
    let mut series = vec![0.3f32];
    for t in 1..1500 {
        let x = series[t - 1];
        series.push(1.9 * x.min(1.0 - x));
    }
    let (train, valid) = window_series(&series, WINDOW)?.split_last(0.2);
    let (sx, sy) = (Standardizer::fit(&train.inputs), Standardizer::fit(&train.targets));
    let (train, valid) = (train.standardized(&sx, &sy), valid.standardized(&sx, &sy));
    println!("{} training and {} validation windows of {WINDOW} values", train.len(), valid.len());

    let models = [
        ("linear      y = b + w.x", vec![], Activation::Identity),
        ("sigmoid sum y = b + c.sigmoid(b' + W x)", vec![16], Activation::Sigmoid),
        ("ReLU sum    y = b + c.relu(b' + W x)", vec![16], Activation::Relu),
    ];
    let mut errors = Vec::new();
    for (name, hidden, activation) in models {
        let init = if activation == Activation::Relu { Init::He } else { Init::Xavier };
        let config =
            MlpConfig { inputs: WINDOW, hidden, outputs: 1, activation, output_activation: Activation::Identity, init };
        let rmse = fit(Mlp::new(config, &mut Rng::new(1)), &train, &valid)?;
        println!("{name:<42} validation RMSE {rmse:.4}");
        errors.push(rmse);
    }
    if errors[1] * 3.0 > errors[0] || errors[2] * 3.0 > errors[0] {
        return Err(Error::invalid("models", format!("the networks did not beat the line 3x: {errors:?}")));
    }
    Ok(())
}

/// Trains with Adam and a cosine schedule; the validation RMSE in the series' units.
fn fit(model: Mlp, train: &RegressionData, valid: &RegressionData) -> backprop::Result<f32> {
    let epochs = 40;
    let batch_size = 32;
    let adam = Adam::new(model.parameters(), 1e-2);
    let total = train.len().div_ceil(batch_size) * epochs;
    let config = TrainConfig {
        epochs,
        batch_size,
        loss: Loss::Mse,
        schedule: Schedule::Cosine { warmup: 0, total, min_lr: 0.0 },
        ..Default::default()
    };
    Trainer::new(Box::new(adam), config).fit(&model, train, None)?;
    Ok(evaluate(&model, valid, Loss::Mse, 512).error.unwrap_or(f32::NAN))
}
