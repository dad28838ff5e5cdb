//! The k-nearest-neighbour score of Sun et al., "Out-of-distribution
//! detection with deep nearest neighbors" (ICML 2022): penultimate features
//! scaled to unit length; an example scores minus the distance to its k-th
//! nearest neighbour in a bank of training features.

use super::mahalanobis::check_finite;
use crate::tensor::Rng;
use crate::{Error, Result, Tensor};

/// A bank of unit-length training features and the neighbour rank `k`.
#[derive(Clone, Debug)]
pub struct Knn {
    /// `[B, D]`: unit-length penultimate features of training examples.
    pub bank: Tensor,
    /// The score is the distance to the k-th nearest bank entry (1 = nearest).
    pub k: usize,
}

/// Each row of `features` (`[N, D]`) divided by its L2 norm (a zero row stays zero).
///
/// ```
/// let z = backprop::ood::normalize_rows(&backprop::Tensor::from_vec(vec![3.0, 4.0, 0.0, 0.0], &[2, 2]));
/// assert_eq!(z.data(), &[0.6, 0.8, 0.0, 0.0]);
/// ```
pub fn normalize_rows(features: &Tensor) -> Tensor {
    let d = features.dim(features.ndim() - 1).max(1);
    let mut out = features.clone();
    for row in out.data_mut().chunks_mut(d) {
        let norm = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt() as f32;
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    out
}

impl Knn {
    /// A bank of at most `bank_size` rows of `features` (`[N, D]`), drawn
    /// without replacement with `seed` (all of them when `N <= bank_size`),
    /// scaled to unit length.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `k` is 0 or above the bank's size, or
    /// the features are not finite.
    ///
    /// ```
    /// use backprop::{ood::Knn, Tensor};
    /// let train = Tensor::from_vec(vec![1.0, 0.0, 2.0, 0.1, 0.0, 1.0], &[3, 2]);
    /// let knn = Knn::fit(&train, 1, 100, 0)?;
    /// let s = knn.scores(&Tensor::from_vec(vec![5.0, 0.0, -1.0, -1.0], &[2, 2]))?;
    /// assert!(s[0].abs() < 1e-3 && s[1] < -1.0); // on the bank, far from it
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn fit(features: &Tensor, k: usize, bank_size: usize, seed: u64) -> Result<Knn> {
        check_finite(features)?;
        let n = features.dim(0);
        let mut ids: Vec<usize> = (0..n).collect();
        if n > bank_size {
            Rng::new(seed).shuffle(&mut ids);
            ids.truncate(bank_size);
            ids.sort_unstable();
        }
        if k == 0 || k > ids.len() {
            let message = format!("must be from 1 to the bank's size ({}), got {k}", ids.len());
            return Err(Error::invalid("k", message));
        }
        Ok(Knn { bank: normalize_rows(&features.index_select(&ids)), k })
    }

    /// `-|z - z_(k)|` for each row of `features` (`[N, D]`) scaled to unit
    /// length `z`, where `z_(k)` is its k-th nearest bank entry: from 0 (k
    /// bank entries at the same direction) down to -2.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the features have another width than the bank.
    pub fn scores(&self, features: &Tensor) -> Result<Vec<f32>> {
        let d = self.bank.dim(1);
        if features.ndim() != 2 || features.dim(1) != d {
            let message = format!("shape {:?}, but the k-NN bank holds {d}-wide features", features.shape());
            return Err(Error::invalid("features", message));
        }
        let z = normalize_rows(features);
        let (n, b) = (z.dim(0), self.bank.dim(0));
        let mut scores = Vec::with_capacity(n);
        let chunk = 512;
        for start in (0..n).step_by(chunk) {
            let ids: Vec<usize> = (start..(start + chunk).min(n)).collect();
            // |a - b|^2 = 2 - 2 a.b for unit vectors: the k-th nearest has the k-th largest product.
            let dots = z.index_select(&ids).matmul_t(false, &self.bank, true);
            let mut row_buf = vec![0.0f32; b];
            for row in dots.data().chunks(b) {
                row_buf.copy_from_slice(row);
                let (_, kth, _) = row_buf.select_nth_unstable_by(self.k - 1, |a, b| b.total_cmp(a));
                // A row of zeros scores as if orthogonal to the bank (sqrt 2).
                scores.push(-(2.0 - 2.0 * *kth).max(0.0).sqrt());
            }
        }
        Ok(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kth_neighbour_sets_the_score() {
        // Bank: unit vectors at angles 0, 10, 20 degrees.
        let deg = |a: f32| [a.to_radians().cos(), a.to_radians().sin()];
        let bank: Vec<f32> = [0.0, 10.0, 20.0].iter().flat_map(|&a| deg(a)).collect();
        let bank = Tensor::from_vec(bank, &[3, 2]);
        let probe = Tensor::from_vec(deg(0.0).to_vec(), &[1, 2]);
        for k in 1..=3 {
            let knn = Knn::fit(&bank, k, 10, 0).unwrap();
            let s = knn.scores(&probe).unwrap()[0];
            let angle = (10.0 * (k - 1) as f32).to_radians();
            let expected = -(2.0 - 2.0 * angle.cos()).sqrt();
            assert!((s - expected).abs() < 1e-3, "k {k}: {s} vs {expected}");
        }
        assert!(Knn::fit(&bank, 4, 10, 0).is_err());
        assert_eq!(Knn::fit(&bank, 1, 2, 0).unwrap().bank.dim(0), 2);
    }
}
