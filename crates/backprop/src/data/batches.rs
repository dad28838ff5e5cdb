//! Mini-batch index lists, optionally shuffled by a seeded generator.

use crate::tensor::Rng;

/// Splits the example indices `0..n` into mini-batches of `batch_size`.
///
/// With `shuffle`, the indices are first shuffled by that generator, so the
/// same seed gives the same batches; without, they stay in order. The last
/// batch is kept even when it is smaller. Every index appears exactly once.
///
/// # Panics
/// When `batch_size` is 0.
///
/// ```
/// use backprop::{data::batch_indices, tensor::Rng};
/// assert_eq!(batch_indices(5, 2, None), vec![vec![0, 1], vec![2, 3], vec![4]]);
/// let a = batch_indices(100, 32, Some(&mut Rng::new(7)));
/// let b = batch_indices(100, 32, Some(&mut Rng::new(7)));
/// assert_eq!(a, b);
/// assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![32, 32, 32, 4]);
/// ```
pub fn batch_indices(n: usize, batch_size: usize, shuffle: Option<&mut Rng>) -> Vec<Vec<usize>> {
    assert!(batch_size > 0, "batch_indices: batch_size must be at least 1, got 0");
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(rng) = shuffle {
        rng.shuffle(&mut order);
    }
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

/// Moves a last batch of fewer than `min` indices into the batch before it,
/// when there is one (batch norm needs two examples per batch to compute a
/// variance): the epoch keeps every example and no batch is that small,
/// unless the only batch is.
///
/// ```
/// use backprop::data::{batch_indices, join_short_last};
/// let mut batches = batch_indices(7, 3, None);
/// join_short_last(&mut batches, 2);
/// assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4, 5, 6]]);
/// ```
pub fn join_short_last(batches: &mut Vec<Vec<usize>>, min: usize) {
    if batches.len() > 1 && batches.last().is_some_and(|b| b.len() < min) {
        let last = batches.pop().unwrap_or_default();
        if let Some(before) = batches.last_mut() {
            before.extend(last);
        }
    }
}

/// Splits `0..n` into `(train, validation)` indices: `round(fraction * n)`
/// drawn for validation by a shuffle seeded with `seed`; both lists ascending,
/// so each part keeps the original order.
///
/// ```
/// let (train, valid) = backprop::data::validation_split_indices(10, 0.3, 1);
/// assert_eq!((train.len(), valid.len()), (7, 3));
/// assert!(valid.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn validation_split_indices(n: usize, fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n_valid = ((f64::from(fraction) * n as f64).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let (valid, train) = order.split_at_mut(n_valid);
    valid.sort_unstable();
    train.sort_unstable();
    (train.to_vec(), valid.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_exact() {
        assert!(batch_indices(0, 4, None).is_empty());
        assert_eq!(batch_indices(4, 4, None), vec![vec![0, 1, 2, 3]]);
        assert_eq!(batch_indices(3, 10, None), vec![vec![0, 1, 2]]);
    }

    #[test]
    #[should_panic(expected = "batch_size must be at least 1")]
    fn zero_batch_size_panics() {
        batch_indices(3, 0, None);
    }
}
