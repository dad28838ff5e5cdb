//! How well scores separate in- from out-of-distribution examples: AUROC,
//! AUPR (in and out), the threshold at a true-positive rate and the FPR there.

use crate::tensor::nan_max;
use crate::{Error, Result};

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

/// Average precision (the area under the precision-recall curve, as
/// scikit-learn's `average_precision_score`) of `positives` against
/// `negatives`, higher scores meaning "positive": the sum over distinct
/// thresholds, from the highest down, of the recall gained there times the
/// precision there, `AP = sum_n (R_n - R_{n-1}) P_n`. Chance is the share of
/// positives; 1 is a perfect ranking.
///
/// # Errors
/// [`Error::InvalidArgument`] when either list is empty or holds a NaN or an infinity.
///
/// ```
/// use backprop::ood::average_precision;
/// assert_eq!(average_precision(&[0.9, 0.8], &[0.2, 0.1])?, 1.0);
/// // Ranked: + - + : precision 1 at recall 1/2, 2/3 at recall 1.
/// assert!((average_precision(&[0.9, 0.5], &[0.7])? - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn average_precision(positives: &[f32], negatives: &[f32]) -> Result<f64> {
    check_scores("positive scores", positives)?;
    check_scores("negative scores", negatives)?;
    let mut all: Vec<(f32, bool)> =
        positives.iter().map(|&s| (s, true)).chain(negatives.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total = positives.len() as f64;
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < all.len() {
        // Every example tied at this score enters at once.
        let score = all[i].0;
        while i < all.len() && all[i].0 == score {
            tp += usize::from(all[i].1);
            seen += 1;
            i += 1;
        }
        let recall = tp as f64 / total;
        ap += (recall - last_recall) * (tp as f64 / seen as f64);
        last_recall = recall;
    }
    Ok(ap)
}

/// How well one score separates in- from out-of-distribution examples:
/// the figures `backprop ood` reports per method.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Separation {
    /// Area under the ROC curve ([`auroc`]): 1 perfect, 0.5 chance.
    pub auroc: f64,
    /// Average precision with the in-distribution examples as positives.
    pub aupr_in: f64,
    /// Average precision with the out-of-distribution examples as positives (scores negated).
    pub aupr_out: f64,
    /// The fraction of out-of-distribution examples accepted by the threshold that keeps `tpr` of the others.
    pub fpr: f64,
    /// The true-positive rate of `fpr` (0.95 for the usual FPR95).
    pub tpr: f64,
}

impl Separation {
    /// All four figures of `in_scores` against `out_scores` (higher = more in-distribution).
    ///
    /// # Errors
    /// As [`auroc`] and [`fpr_at_tpr`].
    ///
    /// ```
    /// let s = backprop::ood::Separation::measure(&[0.9, 0.8], &[0.2, 0.1], 0.95)?;
    /// assert_eq!((s.auroc, s.aupr_in, s.aupr_out, s.fpr), (1.0, 1.0, 1.0, 0.0));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn measure(in_scores: &[f32], out_scores: &[f32], tpr: f64) -> Result<Separation> {
        let negated: Vec<f32> = out_scores.iter().map(|s| -s).collect();
        let negated_in: Vec<f32> = in_scores.iter().map(|s| -s).collect();
        Ok(Separation {
            auroc: auroc(in_scores, out_scores)?,
            aupr_in: average_precision(in_scores, out_scores)?,
            aupr_out: average_precision(&negated, &negated_in)?,
            fpr: fpr_at_tpr(in_scores, out_scores, tpr)?,
            tpr,
        })
    }
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
    fn average_precision_matches_the_definition() {
        // + + - + - ranked: P at each positive 1, 1, 3/4; recall steps 1/3 each.
        let ap = average_precision(&[0.9, 0.8, 0.6], &[0.7, 0.1]).unwrap();
        assert!((ap - (1.0 + 1.0 + 0.75) / 3.0).abs() < 1e-12, "{ap}");
        // All tied: precision is the share of positives.
        assert!((average_precision(&[0.5; 2], &[0.5; 6]).unwrap() - 0.25).abs() < 1e-12);
        let s = Separation::measure(&[0.1, 0.2], &[0.8, 0.9], 0.95).unwrap();
        assert_eq!((s.auroc, s.fpr), (0.0, 1.0));
        assert!(s.aupr_in < 0.6 && s.aupr_out < 0.6, "{s:?}");
    }

    #[test]
    fn max_per_row_of_probabilities() {
        assert_eq!(max_per_row(&[0.1, 0.7, 0.2, 0.5, 0.25, 0.25], 3), vec![0.7, 0.5]);
    }
}
