//! "I don't know": out-of-distribution (OOD) detection with the maximum
//! softmax probability (MSP) of a classifier.
//!
//! A classifier trained on digits still names a digit for a picture of a
//! shoe. The MSP baseline (Hendrycks & Gimpel, 2017) scores each input by the
//! largest class probability; in-distribution inputs tend to score higher.
//!
//! - [`msp_scores`] scores every example of a data set.
//! - [`auroc`]: how well the scores separate in- from out-of-distribution
//!   examples (1 = perfectly, 0.5 = chance).
//! - [`calibrate_threshold`] picks the score that keeps a given fraction (the
//!   true-positive rate) of in-distribution examples; [`fpr_at_tpr`] is the
//!   fraction of OOD examples that threshold lets through.
//! - [`load_test_split`] loads the test split (`t10k-*` files) of any
//!   MNIST-style IDX folder, train files or not.
//!
//! ```
//! use backprop::ood::{auroc, calibrate_threshold, fpr_at_tpr};
//! let digits = [0.99, 0.97, 0.95, 0.90, 0.60];
//! let shoes = [0.93, 0.70, 0.55, 0.40];
//! assert_eq!(auroc(&digits, &shoes)?, 17.0 / 20.0); // 17 of the 20 pairs ordered right
//! assert_eq!(calibrate_threshold(&digits, 0.8)?, 0.90); // keeps 4 of the 5 digits
//! assert_eq!(fpr_at_tpr(&digits, &shoes, 0.8)?, 0.25); // lets 1 of the 4 shoes through
//! # Ok::<(), backprop::Error>(())
//! ```

use crate::autograd::Graph;
use crate::data::{batch_indices, Dataset};
use crate::nn::Module;
use crate::tensor::nan_max;
use crate::{Error, Result};

/// Checkpoint metadata key holding the rejection threshold that
/// `backprop calibrate` stores and `backprop predict` applies.
pub const REJECT_KEY: &str = "backprop.reject_below";

/// The maximum softmax probability of `model`'s outputs for every example of
/// `data`, in order, computed in batches of `batch_size` without a graph.
pub fn msp_scores<M: Module + ?Sized>(model: &M, data: &Dataset, batch_size: usize) -> Vec<f32> {
    let mut scores = Vec::with_capacity(data.len());
    for ids in batch_indices(data.len(), batch_size.max(1), None) {
        let (x, _) = data.batch(&ids);
        let g = Graph::no_grad();
        let probs = model.forward(&g, g.constant(x)).value().softmax();
        scores.extend(max_per_row(probs.data(), probs.dim(probs.ndim() - 1)));
    }
    scores
}

/// The largest value of each row of a row-major `[_, cols]` buffer; NaN
/// when the row holds one (as PyTorch's `max`), so a broken model's scores
/// are refused rather than read as -inf.
///
/// ```
/// let m = backprop::ood::max_per_row(&[0.2, 0.8, f32::NAN, 0.5], 2);
/// assert!(m[0] == 0.8 && m[1].is_nan());
/// ```
pub fn max_per_row(values: &[f32], cols: usize) -> Vec<f32> {
    values.chunks(cols.max(1)).map(|row| row.iter().copied().fold(f32::NEG_INFINITY, nan_max)).collect()
}

/// Area under the ROC curve of `in_scores` (positives) against `out_scores`
/// (negatives): the probability that a random in-distribution example scores
/// higher than a random out-of-distribution one, ties counting 1/2.
///
/// O(n log n): the OOD scores are sorted once, then each in-distribution
/// score is placed by binary search.
///
/// # Errors
/// [`Error::InvalidArgument`] when either list is empty or holds a NaN or an infinity.
///
/// ```
/// use backprop::ood::auroc;
/// assert_eq!(auroc(&[0.9, 0.8], &[0.2, 0.1])?, 1.0); // perfectly separated
/// assert_eq!(auroc(&[0.5, 0.5], &[0.5, 0.5])?, 0.5); // indistinguishable
/// assert_eq!(auroc(&[0.1], &[0.9])?, 0.0); // the wrong way round
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn auroc(in_scores: &[f32], out_scores: &[f32]) -> Result<f64> {
    check_scores("in-distribution scores", in_scores)?;
    check_scores("out-of-distribution scores", out_scores)?;
    let mut out = out_scores.to_vec();
    out.sort_by(f32::total_cmp);
    let mut wins = 0.0f64;
    for &s in in_scores {
        let below = out.partition_point(|&o| o < s);
        let at_or_below = out.partition_point(|&o| o <= s);
        wins += below as f64 + 0.5 * (at_or_below - below) as f64;
    }
    Ok(wins / (in_scores.len() as f64 * out.len() as f64))
}

/// The threshold that keeps the fraction `tpr` of `in_scores`: the
/// `ceil(tpr * n)`-th highest score, so that at least that fraction of the
/// in-distribution examples score at or above it (more when scores tie).
///
/// # Errors
/// [`Error::InvalidArgument`] when `tpr` is not in (0, 1], or `in_scores` is
/// empty or holds a NaN or an infinity.
///
/// ```
/// use backprop::ood::calibrate_threshold;
/// let scores = [0.2, 0.9, 0.5, 0.7];
/// assert_eq!(calibrate_threshold(&scores, 0.5)?, 0.7);
/// assert_eq!(calibrate_threshold(&scores, 1.0)?, 0.2);
/// assert!(calibrate_threshold(&scores, 0.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn calibrate_threshold(in_scores: &[f32], tpr: f64) -> Result<f32> {
    check_tpr(tpr)?;
    check_scores("in-distribution scores", in_scores)?;
    let mut sorted = in_scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let n = sorted.len();
    // A small tolerance so that e.g. 0.95 * 20 keeps exactly 19, not 20.
    let keep = ((tpr * n as f64) - 1e-9).ceil().clamp(1.0, n as f64) as usize;
    Ok(sorted[keep - 1])
}

/// The false-positive rate at true-positive rate `tpr`: with the threshold of
/// [`calibrate_threshold`] on `in_scores`, the fraction of `out_scores` at or
/// above it (OOD examples that would be accepted).
///
/// # Errors
/// As [`calibrate_threshold`], and when `out_scores` is empty or holds a NaN or an infinity.
///
/// ```
/// use backprop::ood::fpr_at_tpr;
/// assert_eq!(fpr_at_tpr(&[0.9, 0.8], &[0.2, 0.1], 0.95)?, 0.0);
/// assert_eq!(fpr_at_tpr(&[0.5; 4], &[0.5; 4], 0.95)?, 1.0);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn fpr_at_tpr(in_scores: &[f32], out_scores: &[f32], tpr: f64) -> Result<f64> {
    let threshold = calibrate_threshold(in_scores, tpr)?;
    fraction_at_or_above(out_scores, threshold)
}

/// The fraction of `scores` at or above `threshold`.
///
/// # Errors
/// [`Error::InvalidArgument`] when `scores` is empty or holds a NaN or an infinity.
pub fn fraction_at_or_above(scores: &[f32], threshold: f32) -> Result<f64> {
    check_scores("scores", scores)?;
    Ok(scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64)
}

/// Checks a true-positive rate: a number in (0, 1].
pub fn check_tpr(tpr: f64) -> Result<()> {
    if tpr > 0.0 && tpr <= 1.0 {
        Ok(())
    } else {
        Err(Error::invalid("tpr", format!("must be above 0 and at most 1, got {tpr}")))
    }
}

fn check_scores(what: &str, scores: &[f32]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::invalid(what, "no scores: the data set is empty"));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        let bad = scores.iter().filter(|s| !s.is_finite()).count();
        return Err(Error::invalid(
            what,
            format!(
                "score {i} is {} ({bad} of {} not finite): the model's outputs are not finite, so no threshold \
                 can be drawn; check its weights",
                scores[i],
                scores.len()
            ),
        ));
    }
    Ok(())
}

/// Loads the test split (`t10k-*` files) of an MNIST-style folder, train
/// files or not: [`load_mnist_test`](crate::data::load_mnist_test).
pub use crate::data::load_mnist_test as load_test_split;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_extremes_and_ties() {
        assert_eq!(auroc(&[0.9, 0.8, 0.7], &[0.3, 0.2]).unwrap(), 1.0);
        assert_eq!(auroc(&[0.3, 0.2], &[0.9, 0.8, 0.7]).unwrap(), 0.0);
        assert_eq!(auroc(&[0.4; 5], &[0.4; 3]).unwrap(), 0.5);
        // Same distribution, interleaved: every pair either way equally often.
        assert_eq!(auroc(&[0.1, 0.3, 0.5, 0.7], &[0.1, 0.3, 0.5, 0.7]).unwrap(), 0.5);
        // One tie among 4 pairs: (1 + 1 + 0.5 + 0) / 4.
        assert_eq!(auroc(&[0.8, 0.5], &[0.5, 0.2]).unwrap(), 0.875);
    }

    #[test]
    fn auroc_matches_the_pairwise_count() {
        let mut rng = crate::tensor::Rng::new(3);
        let a: Vec<f32> = (0..200).map(|_| (rng.uniform(0.0, 1.0) * 20.0).round() / 20.0).collect();
        let b: Vec<f32> = (0..150).map(|_| (rng.uniform(0.0, 1.0) * 20.0).round() / 20.0 - 0.1).collect();
        let mut pairs = 0.0;
        for &x in &a {
            for &y in &b {
                pairs += if x > y {
                    1.0
                } else if x == y {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = pairs / (a.len() * b.len()) as f64;
        assert!((auroc(&a, &b).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn thresholds_keep_the_asked_fraction() {
        let scores: Vec<f32> = (1..=20).map(|i| i as f32 / 20.0).collect();
        assert_eq!(calibrate_threshold(&scores, 0.95).unwrap(), 0.1); // keeps 19 of 20
        assert_eq!(calibrate_threshold(&scores, 1.0).unwrap(), 0.05);
        assert_eq!(calibrate_threshold(&scores, 0.01).unwrap(), 1.0); // at least one
        assert_eq!(fraction_at_or_above(&scores, 0.1).unwrap(), 0.95);
        let out = [0.0, 0.05, 0.1, 0.5];
        assert_eq!(fpr_at_tpr(&scores, &out, 0.95).unwrap(), 0.5);
        assert_eq!(fpr_at_tpr(&scores, &[0.01], 0.95).unwrap(), 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(calibrate_threshold(&[0.5], 0.0).is_err());
        assert!(calibrate_threshold(&[0.5], 1.5).is_err());
        assert!(calibrate_threshold(&[0.5], f64::NAN).is_err());
        assert!(calibrate_threshold(&[], 0.9).is_err());
        assert!(auroc(&[], &[0.1]).is_err());
        assert!(auroc(&[0.1], &[]).is_err());
        assert!(auroc(&[f32::NAN], &[0.1]).is_err());
        assert!(fpr_at_tpr(&[0.5], &[], 0.9).is_err());
    }

    #[test]
    fn max_per_row_of_probabilities() {
        assert_eq!(max_per_row(&[0.1, 0.7, 0.2, 0.5, 0.25, 0.25], 3), vec![0.7, 0.5]);
    }
}
