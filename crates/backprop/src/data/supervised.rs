//! What the trainer needs from any data set: inputs and targets by index.

use super::Dataset;
use crate::Tensor;

/// The targets of a mini-batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Integer class labels (classification).
    Classes(Vec<usize>),
    /// Real-valued targets `[N, T]` (regression, or 0/1 for binary classification).
    Values(Tensor),
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A supervised data set the [`Trainer`](crate::train::Trainer) can iterate:
/// an example count and mini-batches of (inputs, targets).
///
/// ```
/// use backprop::data::{Dataset, Supervised, Targets};
/// use backprop::Tensor;
/// let d = Dataset::new(Tensor::zeros(&[3, 2]), vec![0, 1, 1], 2).unwrap();
/// let (x, t) = Supervised::batch(&d, &[2, 0]);
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!(t, Targets::Classes(vec![1, 0]));
/// ```
pub trait Supervised {
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Inputs `[ids.len(), D]` and their targets.
    fn batch(&self, ids: &[usize]) -> (Tensor, Targets);
    /// For standardised regression targets: each target column's standard
    /// deviation, so errors can be reported in the target's own units.
    fn target_scale(&self) -> Option<&[f32]> {
        None
    }
}

impl Supervised for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn batch(&self, ids: &[usize]) -> (Tensor, Targets) {
        let (x, y) = Dataset::batch(self, ids);
        (x, Targets::Classes(y))
    }
}
