//! Logistic regression on images, as in the cat/non-cat course exercise:
//! y_hat = sigmoid(w . x + b), trained by gradient descent on the binary
//! cross-entropy J = -1/m sum [y log y_hat + (1 - y) log(1 - y_hat)].
//!
//! The images are synthetic 16x16 RGB pictures made in code: a dim noisy
//! background with one bright square; a "cat" (label 1) has its square in the
//! upper-left quadrant, a "non-cat" (label 0) in another quadrant. Each image
//! is flattened to 16 * 16 * 3 = 768 values in [0, 1], like the course's
//! 64 * 64 * 3 = 12288. The model is one Linear layer 768 -> 1 whose logit goes
//! through the sigmoid inside the loss (`Loss::Bce`, cross-entropy with logits).
//!
//! Run: `cargo run --release --example logistic_regression`
//! (`backprop train images --data train_catvnoncat.h5 --test test_catvnoncat.h5`
//! does the same on the real files.)

use backprop::data::Dataset;
use backprop::loss::Loss;
use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::optim::Sgd;
use backprop::tensor::Rng;
use backprop::train::{evaluate, TrainConfig, Trainer};
use backprop::{Error, Tensor};

const SIDE: usize = 16;
const BLOB: usize = 4;

/// `n` images (`[n, 768]`, values in [0, 1]) with labels, half of them cats.
fn make_images(n: usize, rng: &mut Rng) -> backprop::Result<Dataset> {
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE * 3);
    let mut labels = Vec::with_capacity(n);
    let half = SIDE / 2;
    for i in 0..n {
        let cat = i % 2 == 1;
        let quadrant = if cat { 0 } else { 1 + (rng.uniform(0.0, 3.0) as usize).min(2) };
        let mut at = |q: usize| (q * half + rng.uniform(0.0, (half - BLOB + 1) as f32) as usize).min(SIDE - BLOB);
        let (top, left) = (at(quadrant / 2), at(quadrant % 2));
        let background: Vec<f32> = (0..3).map(|_| rng.uniform(0.1, 0.35)).collect();
        for r in 0..SIDE {
            for c in 0..SIDE {
                let blob = (top..top + BLOB).contains(&r) && (left..left + BLOB).contains(&c);
                for bg in &background {
                    pixels.push(if blob { rng.uniform(0.8, 1.0) } else { bg + rng.uniform(0.0, 0.15) });
                }
            }
        }
        labels.push(usize::from(cat));
    }
    Dataset::new(Tensor::from_vec(pixels, &[n, SIDE * SIDE * 3]), labels, 2)
}

pub fn main() -> backprop::Result<()> {
    let mut rng = Rng::new(3);
    let train = make_images(400, &mut rng)?;
    let test = make_images(100, &mut rng)?;

    // No hidden layer and one output: w is [1, 768], b is [1].
    let config = MlpConfig {
        inputs: SIDE * SIDE * 3,
        hidden: vec![],
        outputs: 1,
        activation: Activation::Identity,
        output_activation: Activation::Identity, // the sigmoid is inside Loss::Bce
        init: Init::Xavier,
    };
    let model = Mlp::new(config, &mut Rng::new(1));
    let sgd = Sgd::new(model.parameters(), 0.05);
    let cfg = TrainConfig { epochs: 40, batch_size: 20, loss: Loss::Bce, ..Default::default() };
    let history = Trainer::new(Box::new(sgd), cfg).fit(&model, &train, None)?;

    let first = history.first().map_or(f32::NAN, |r| r.train_loss);
    let last = history.last().map_or(f32::NAN, |r| r.train_loss);
    println!("cost after epoch 1: {first:.4}, after epoch {}: {last:.4}", history.len());
    let pct = |v: Option<f32>| 100.0 * v.unwrap_or(0.0);
    for (name, data) in [("train", &train), ("test", &test)] {
        let e = evaluate(&model, data, Loss::Bce, 1000);
        println!(
            "{name}: accuracy {:.1}%, precision {:.1}%, recall {:.1}% ({} images)",
            pct(e.accuracy),
            pct(e.precision),
            pct(e.recall),
            data.len()
        );
        if name == "test" && e.accuracy.unwrap_or(0.0) < 0.9 {
            return Err(Error::invalid("test accuracy", format!("{:.1}% is below 90%", pct(e.accuracy))));
        }
    }
    Ok(())
}
