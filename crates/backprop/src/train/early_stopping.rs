//! Early stopping: stop when the validation loss has not improved for a
//! number of epochs, and keep the weights of the best epoch.

use crate::autograd::Param;
use crate::Tensor;

/// Watches the validation loss epoch by epoch.
///
/// [`update`](EarlyStopping::update) takes each epoch's validation loss and
/// snapshots the parameters whenever it improves (strictly decreases; the
/// trainer includes the model's buffers, such as batch norm's statistics);
/// [`should_stop`](EarlyStopping::should_stop) turns true once `patience`
/// epochs in a row have not improved it; [`restore`](EarlyStopping::restore)
/// puts the best weights back. [`Trainer::early_stopping`](super::Trainer::early_stopping)
/// does all three for you.
///
/// ```
/// use backprop::{train::EarlyStopping, Param, Tensor};
/// let w = Param::new(Tensor::from_vec(vec![0.0], &[1]));
/// let params = vec![("w".to_string(), w.clone())];
/// let mut stop = EarlyStopping::new(2);
/// for (epoch, loss) in [0.9, 0.5, 0.6, 0.7].into_iter().enumerate() {
///     w.set_value(Tensor::from_vec(vec![epoch as f32], &[1]));
///     stop.update(epoch + 1, loss, &params);
/// }
/// assert!(stop.should_stop());
/// assert_eq!(stop.best(), Some((2, 0.5)));
/// stop.restore(&params);
/// assert_eq!(w.value().data(), &[1.0]); // the weights of epoch 2
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    patience: usize,
    best: Option<(usize, f32)>,
    waited: usize,
    weights: Vec<Tensor>,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without improvement (0 is taken as 1).
    pub fn new(patience: usize) -> EarlyStopping {
        EarlyStopping { patience: patience.max(1), best: None, waited: 0, weights: Vec::new() }
    }

    /// The number of epochs without improvement that stops training.
    pub fn patience(&self) -> usize {
        self.patience
    }

    /// Forgets everything seen so far (a new run).
    pub fn reset(&mut self) {
        *self = EarlyStopping::new(self.patience);
    }

    /// Records epoch `epoch`'s validation loss; when it is the lowest so far,
    /// snapshots `params` and returns true.
    pub fn update(&mut self, epoch: usize, val_loss: f32, params: &[(String, Param)]) -> bool {
        let improved = val_loss.is_finite()
            && match self.best {
                Some((_, best)) => val_loss < best,
                None => true,
            };
        if improved {
            self.best = Some((epoch, val_loss));
            self.waited = 0;
            // Tensors are copy-on-write: the optimizer's next step copies, the snapshot stays.
            self.weights = params.iter().map(|(_, p)| p.value()).collect();
        } else {
            self.waited += 1;
        }
        improved
    }

    /// True once `patience` epochs in a row have not improved the validation loss.
    pub fn should_stop(&self) -> bool {
        self.waited >= self.patience
    }

    /// The best epoch and its validation loss, once one was seen.
    pub fn best(&self) -> Option<(usize, f32)> {
        self.best
    }

    /// Puts the best epoch's weights back into `params` (the same list, in the
    /// same order, as given to `update`). Does nothing before the first improvement.
    pub fn restore(&self, params: &[(String, Param)]) {
        if self.weights.len() == params.len() {
            for ((_, p), w) in params.iter().zip(&self.weights) {
                p.set_value(w.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_patience_epochs_after_the_best_and_ignores_nan() {
        let mut s = EarlyStopping::new(3);
        assert!(s.update(1, 1.0, &[]));
        assert!(!s.update(2, f32::NAN, &[]));
        assert!(!s.update(3, 1.0, &[]), "equal is not an improvement");
        assert!(!s.should_stop());
        assert!(s.update(4, 0.5, &[]));
        for e in 5..=7 {
            assert!(!s.should_stop());
            s.update(e, 0.8, &[]);
        }
        assert!(s.should_stop());
        assert_eq!(s.best(), Some((4, 0.5)));
        s.reset();
        assert_eq!((s.best(), s.should_stop(), s.patience()), (None, false, 3));
    }
}
