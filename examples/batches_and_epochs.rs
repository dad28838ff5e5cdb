//! Mini-batches and epochs: with N = 10,000 examples and a batch size of
//! B = 10, one epoch (a pass over every example) is N / B = 1,000 mini-batches,
//! so 1,000 parameter updates. Counted from the batch list, then by running
//! real SGD steps on a tiny model.
//!
//! Run: `cargo run --example batches_and_epochs`

use backprop::data::{batch_indices, Dataset};
use backprop::loss::{self, Loss};
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::optim::{Optimizer, Sgd};
use backprop::tensor::Rng;
use backprop::train::evaluate;
use backprop::{Graph, Tensor};

pub fn main() -> backprop::Result<()> {
    const N: usize = 10_000;
    const B: usize = 10;
    const EPOCHS: usize = 2;

    // Synthetic data: points in the unit square, class 1 above the diagonal x0 + x1 = 1.
    let mut rng = Rng::new(0);
    let xs: Vec<f32> = (0..2 * N).map(|_| rng.uniform(0.0, 1.0)).collect();
    let labels = xs.chunks(2).map(|p| usize::from(p[0] + p[1] > 1.0)).collect();
    let data = Dataset::new(Tensor::from_vec(xs, &[N, 2]), labels, 2)?;

    let batches = batch_indices(data.len(), B, None).len();
    println!("N = {N} examples, batch size B = {B}: {batches} mini-batches per epoch, so {batches} updates per epoch");
    assert_eq!(batches, N / B);

    let model = Mlp::new(MlpConfig::classifier(2, &[8], 2, Activation::Tanh), &mut Rng::new(1));
    let mut sgd = Sgd::new(model.parameters(), 0.5);
    let mut updates = 0;
    for epoch in 1..=EPOCHS {
        let (mut steps, mut loss_sum) = (0, 0.0);
        for ids in batch_indices(data.len(), B, Some(&mut rng)) {
            let (x, y) = data.batch(&ids);
            sgd.zero_grad();
            let g = Graph::new();
            let l = loss::cross_entropy(model.forward(&g, g.constant(x)), &y);
            loss_sum += l.item();
            g.backward(l);
            sgd.step(); // one update per mini-batch
            steps += 1;
        }
        updates += steps;
        println!("epoch {epoch}: {steps} SGD updates, mean loss {:.4}", loss_sum / steps as f32);
        assert_eq!(steps, N / B);
    }
    let accuracy = evaluate(&model, &data, Loss::CrossEntropy, 1000).accuracy.unwrap_or(0.0);
    println!("{EPOCHS} epochs: {updates} updates (epochs x N / B); training accuracy {:.1}%", 100.0 * accuracy);
    assert_eq!(updates, EPOCHS * N / B);

    // When B does not divide N, the last mini-batch is smaller but still one update.
    let uneven = batch_indices(N, 64, None);
    let last = uneven.last().map_or(0, Vec::len);
    println!("with B = 64: {} updates per epoch (ceil(N / B); the last batch holds {last})", uneven.len());
    assert_eq!(uneven.len(), N.div_ceil(64));
    Ok(())
}
