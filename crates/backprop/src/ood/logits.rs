//! Scores read from a classifier's outputs: the maximum softmax probability
//! (MSP), the maximum logit and the (negative) energy; and the penultimate
//! features that the feature-space scores (Mahalanobis, k-NN) use.

use super::metrics::max_per_row;
use crate::autograd::Graph;
use crate::data::{batch_indices, Dataset};
use crate::models::Classifier;
use crate::nn::Module;
use crate::Tensor;

/// The maximum softmax probability of `model`'s outputs for every example of
/// `data`, in order, computed in batches of `batch_size` without a graph
/// (Hendrycks & Gimpel, 2017).
pub fn msp_scores<M: Module + ?Sized>(model: &M, data: &Dataset, batch_size: usize) -> Vec<f32> {
    let mut scores = Vec::with_capacity(data.len());
    for ids in batch_indices(data.len(), batch_size.max(1), None) {
        let (x, _) = data.batch(&ids);
        let g = Graph::no_grad();
        let logits = model.forward(&g, g.constant(x)).value();
        scores.extend(msp(&logits));
    }
    scores
}

/// The maximum softmax probability of each row of `logits` (`[N, C]`).
///
/// ```
/// let p = backprop::ood::msp(&backprop::Tensor::from_vec(vec![0.0, 0.0, 5.0, 5.0], &[2, 2]));
/// assert_eq!(p, vec![0.5, 0.5]);
/// ```
pub fn msp(logits: &Tensor) -> Vec<f32> {
    let probs = logits.softmax();
    max_per_row(probs.data(), probs.dim(probs.ndim() - 1))
}

/// The largest logit of each row (`[N, C]`): the MaxLogit score of
/// Hendrycks et al., "Scaling out-of-distribution detection for real-world
/// settings" (2022), which keeps the magnitude that softmax normalises away.
///
/// ```
/// let m = backprop::ood::max_logit(&backprop::Tensor::from_vec(vec![1.0, 3.0, -2.0, -1.0], &[2, 2]));
/// assert_eq!(m, vec![3.0, -1.0]);
/// ```
pub fn max_logit(logits: &Tensor) -> Vec<f32> {
    max_per_row(logits.data(), logits.dim(logits.ndim() - 1))
}

/// The negative free energy of each row of `logits` (`[N, C]`) at
/// temperature `t`: `-E(x) = t * logsumexp(logits / t)` (Liu et al.,
/// "Energy-based out-of-distribution detection", NeurIPS 2020), so that, like
/// every score here, higher means more in-distribution. Computed stably
/// (the row's maximum is taken out first).
///
/// ```
/// let e = backprop::ood::neg_energy(&backprop::Tensor::from_vec(vec![0.0, 0.0], &[1, 2]), 1.0);
/// assert!((e[0] - 2f32.ln()).abs() < 1e-6); // logsumexp(0, 0) = ln 2
/// ```
pub fn neg_energy(logits: &Tensor, t: f32) -> Vec<f32> {
    let cols = logits.dim(logits.ndim() - 1).max(1);
    logits
        .data()
        .chunks(cols)
        .map(|row| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b / t));
            let sum: f64 = row.iter().map(|&v| f64::from(v / t - m).exp()).sum();
            t * (m + sum.ln() as f32)
        })
        .collect()
}

/// A classifier's outputs on a data set: the penultimate features (the input
/// of the last layer) and the logits.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// `[N, D]`: what the last (linear) layer reads, e.g. LeNet-5's 84 values after its last ReLU.
    pub features: Tensor,
    /// `[N, C]`: the last layer's outputs.
    pub logits: Tensor,
}

/// The penultimate features and the logits of `model` for every example of
/// `inputs` (`[N, D]`), in evaluation mode (dropout off, batch norm on its
/// running statistics), in batches of `batch_size`.
///
/// For an MLP the features are the last hidden layer's activations (the
/// inputs themselves without hidden layers); for a CNN, the input of its
/// last layer, flattened.
pub fn outputs(model: &Classifier<'_>, inputs: &Tensor, batch_size: usize) -> Outputs {
    let n = inputs.dim(0);
    let (mut features, mut logits, mut dims) = (Vec::new(), Vec::new(), (0, 0));
    for ids in batch_indices(n, batch_size.max(1), None) {
        let g = Graph::no_grad();
        let x = g.constant(inputs.index_select(&ids));
        let outs = match (model.mlp, model.cnn) {
            (Some(mlp), _) => mlp.forward_all(&g, x),
            (_, Some(cnn)) => cnn.forward_all(&g, x),
            _ => vec![x, model.module.forward(&g, x)],
        };
        let at = match model.mlp {
            Some(mlp) => 2 * mlp.config().hidden.len(),
            None => outs.len() - 2,
        };
        let f = outs[at].value();
        let out = outs[outs.len() - 1].value();
        dims = (f.data().len() / ids.len().max(1), out.data().len() / ids.len().max(1));
        features.extend_from_slice(f.data());
        logits.extend_from_slice(out.data());
    }
    Outputs { features: Tensor::from_vec(features, &[n, dims.0]), logits: Tensor::from_vec(logits, &[n, dims.1]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_is_minus_logsumexp() {
        let logits = Tensor::from_vec(vec![1.0, 2.0, 3.0, -50.0, 0.5, 100.0], &[2, 3]);
        let e = neg_energy(&logits, 1.0);
        for (row, &score) in logits.data().chunks(3).zip(&e) {
            let lse = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
            assert!((f64::from(score) - lse).abs() < 1e-4, "{score} vs {lse}");
        }
        // At temperature t: t * logsumexp(x / t).
        let e2 = neg_energy(&logits, 2.0);
        let lse = (0.5f64.exp() + 1f64.exp() + 1.5f64.exp()).ln() * 2.0;
        assert!((f64::from(e2[0]) - lse).abs() < 1e-5);
        // Scores rank like max logit when one logit dominates.
        assert_eq!(max_logit(&logits), vec![3.0, 100.0]);
    }
}
