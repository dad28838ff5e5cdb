//! Nielsen's network.py, [784, 30, 10] with sigmoid units, the quadratic cost
//! and plain SGD (eta = 3.0, mini-batches of 10), on the bundled MNIST subset.
//!
//! Run: `cargo run --release --example mnist_mlp`

use backprop::data::load_mnist_dir;
use backprop::loss::Loss;
use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::optim::Sgd;
use backprop::tensor::Rng;
use backprop::train::{evaluate, TrainConfig, Trainer};

fn main() -> backprop::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    let data = load_mnist_dir(&dir)?;
    let config = MlpConfig {
        inputs: 784,
        hidden: vec![30],
        outputs: 10,
        activation: Activation::Sigmoid,
        output_activation: Activation::Sigmoid,
        init: Init::Normal(1.0),
    };
    let net = Mlp::new(config, &mut Rng::new(1));
    let sgd = Sgd::new(net.parameters(), 3.0);
    let epochs = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let cfg = TrainConfig { epochs, batch_size: 10, loss: Loss::Quadratic, ..Default::default() };
    // The library is silent: print network.py's line per epoch from a hook.
    Trainer::new(Box::new(sgd), cfg)
        .on_epoch(|r| {
            let acc = 100.0 * r.val_accuracy.unwrap_or(0.0);
            println!("Epoch {}: test accuracy {acc:.2}% ({:.2}s)", r.epoch - 1, r.seconds);
            Ok(())
        })
        .fit(&net, &data.train, Some(&data.test))?;
    let test = evaluate(&net, &data.test, Loss::Quadratic, 1000);
    println!(
        "network.py [784, 30, 10]: test accuracy {:.2}% on {} images",
        100.0 * test.accuracy.unwrap_or(0.0),
        data.test.len()
    );
    Ok(())
}
