//! Linear regression by gradient descent: learn y = 2.5 x1 - 1.2 x2 + 0.7 from
//! 1,000 noise-free synthetic points and read the coefficients back from the
//! weights of a network with no hidden layer (y = b + w1 x1 + w2 x2).
//!
//! The inputs are drawn from U(-1, 1), already well scaled, so the model is
//! trained on the raw values and its weights are the coefficients in the
//! original units (no standardisation to undo).
//!
//! Run: `cargo run --release --example linear_regression`

use backprop::data::RegressionData;
use backprop::loss::Loss;
use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::optim::Sgd;
use backprop::tensor::Rng;
use backprop::train::{TrainConfig, Trainer};
use backprop::{Error, Tensor};

/// The coefficients to recover: (w1, w2, b).
const TRUE: [f32; 3] = [2.5, -1.2, 0.7];

pub fn main() -> backprop::Result<()> {
    let n = 1000;
    let mut rng = Rng::new(7);
    let (mut x, mut y) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    for _ in 0..n {
        let (x1, x2) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        x.extend([x1, x2]);
        y.push(TRUE[0] * x1 + TRUE[1] * x2 + TRUE[2]);
    }
    let data = RegressionData::new(Tensor::from_vec(x, &[n, 2]), Tensor::from_vec(y, &[n, 1]))?;

    // y = b + w . x: one Linear layer, no activation.
    let config = MlpConfig {
        inputs: 2,
        hidden: vec![],
        outputs: 1,
        activation: Activation::Identity,
        output_activation: Activation::Identity,
        init: Init::Xavier,
    };
    let model = Mlp::new(config, &mut Rng::new(1));
    let sgd = Sgd::new(model.parameters(), 0.5);
    let train = TrainConfig { epochs: 30, batch_size: 32, loss: Loss::Mse, ..Default::default() };
    let history = Trainer::new(Box::new(sgd), train).fit(&model, &data, None)?;

    let params = model.parameters(); // layers.0.weight [1, 2], layers.0.bias [1]
    let (w, b) = (params[0].1.value(), params[1].1.value());
    let got = [w.data()[0], w.data()[1], b.data()[0]];
    println!("true:      y = {:.3} x1 {:+.3} x2 {:+.3}", TRUE[0], TRUE[1], TRUE[2]);
    println!("recovered: y = {:.3} x1 {:+.3} x2 {:+.3}", got[0], got[1], got[2]);
    let rmse = history.last().and_then(|r| r.train_error).unwrap_or(f32::NAN);
    let worst = got.iter().zip(TRUE).map(|(g, t)| (g - t).abs()).fold(0.0, f32::max);
    println!("training RMSE {rmse:.2e}, largest coefficient error {worst:.2e}");
    if worst >= 5e-4 {
        return Err(Error::invalid("coefficients", format!("off by {worst} (more than 3 decimals)")));
    }
    Ok(())
}
