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
