//! Accuracy and evaluation over a whole data set.

use crate::autograd::Graph;
use crate::data::{batch_indices, Dataset};
use crate::loss::Loss;
use crate::nn::Module;
use crate::Tensor;

/// Fraction of rows of `outputs` `[N, C]` whose argmax equals the label.
///
/// ```
/// use backprop::{train::accuracy, Tensor};
/// let out = Tensor::from_vec(vec![0.9, 0.1, 0.2, 0.8], &[2, 2]);
/// assert_eq!(accuracy(&out, &[0, 0]), 0.5);
/// ```
pub fn accuracy(outputs: &Tensor, labels: &[usize]) -> f32 {
    correct(outputs, labels) as f32 / labels.len().max(1) as f32
}

pub(crate) fn correct(outputs: &Tensor, labels: &[usize]) -> usize {
    outputs.argmax_axis(outputs.ndim() - 1).iter().zip(labels).filter(|(p, y)| p == y).count()
}

/// Loss and accuracy over a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per example.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// Evaluates `model` on `data` in batches, without recording a graph.
pub fn evaluate<M: Module + ?Sized>(model: &M, data: &Dataset, loss: Loss, batch_size: usize) -> Evaluation {
    let mut total_loss = 0.0f64;
    let mut hits = 0usize;
    for ids in batch_indices(data.len(), batch_size.max(1), None) {
        let (x, y) = data.batch(&ids);
        let g = Graph::no_grad();
        let out = model.forward(&g, g.constant(x));
        total_loss += loss.compute(out, &y).item() as f64 * ids.len() as f64;
        hits += correct(&out.value(), &y);
    }
    let n = data.len().max(1);
    Evaluation { loss: (total_loss / n as f64) as f32, accuracy: hits as f32 / n as f32 }
}
