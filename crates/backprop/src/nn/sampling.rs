//! Drawing an index from a distribution: next tokens of a language model,
//! actions of a stochastic policy.

use crate::tensor::Rng;

/// Draws an index from the categorical distribution with weights `probs`:
/// index `i` with probability `p_i / sum_j p_j` (the weights need not sum to
/// exactly 1; zero weights are never drawn). Inverse-transform sampling: one
/// uniform `u` in [0, 1), and the first `i` with `u * sum_j p_j < p_0 + ... + p_i`.
///
/// ```
/// use backprop::{nn::sample_categorical, tensor::Rng};
/// let mut rng = Rng::new(0);
/// assert_eq!(sample_categorical(&[0.0, 1.0, 0.0], &mut rng), 1);
/// ```
pub fn sample_categorical(probs: &[f32], rng: &mut Rng) -> usize {
    let total: f32 = probs.iter().sum();
    let mut r = rng.next_f32() * total;
    for (i, &p) in probs.iter().enumerate() {
        if r < p {
            return i;
        }
        r -= p;
    }
    // Rounding can leave r just past the last weight: take the last drawable index.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// Draws a token from next-token `logits`: index `i` with probability
/// `softmax(logits / temperature)_i`, restricted to the `top_k` largest logits
/// when given (top-k sampling, Fan et al. 2018, "Hierarchical Neural Story
/// Generation"; ties with the k-th logit are kept). A temperature near 0
/// approaches the argmax; 1 samples the model's own distribution.
///
/// ```
/// use backprop::{nn::sample_logits, tensor::Rng};
/// let logits = [0.5, 3.0, -1.0, 2.9];
/// assert_eq!(sample_logits(&logits, 1.0, Some(1), &mut Rng::new(0)), 1);
/// ```
pub fn sample_logits(logits: &[f32], temperature: f32, top_k: Option<usize>, rng: &mut Rng) -> usize {
    let mut scaled: Vec<f32> = logits.iter().map(|l| l / temperature.max(1e-6)).collect();
    if let Some(k) = top_k.filter(|&k| k > 0 && k < scaled.len()) {
        let mut sorted = scaled.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let cutoff = sorted[k - 1];
        scaled.iter_mut().filter(|v| **v < cutoff).for_each(|v| *v = f32::NEG_INFINITY);
    }
    let max = scaled.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    // exp(v - max) is softmax up to its normaliser, which sample_categorical divides by.
    let weights: Vec<f32> = scaled.iter().map(|v| (v - max).exp()).collect();
    sample_categorical(&weights, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frequencies(draws: usize, mut draw: impl FnMut() -> usize, n: usize) -> Vec<f32> {
        let mut counts = vec![0usize; n];
        (0..draws).for_each(|_| counts[draw()] += 1);
        counts.iter().map(|&c| c as f32 / draws as f32).collect()
    }

    #[test]
    fn top_1_and_a_cold_temperature_return_the_argmax() {
        let mut rng = Rng::new(1);
        for seed in 0..50u64 {
            let logits: Vec<f32> = (0..10).map(|i| ((i as u64 * 7 + seed * 13) % 11) as f32 * 0.3).collect();
            let best = (0..10).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap();
            assert_eq!(sample_logits(&logits, 1.0, Some(1), &mut rng), best);
            assert_eq!(sample_logits(&logits, 1e-4, None, &mut rng), best);
        }
    }

    #[test]
    fn categorical_frequencies_match_the_distribution() {
        let probs = [0.1, 0.0, 0.5, 0.15, 0.25];
        let mut rng = Rng::new(7);
        let freq = frequencies(20_000, || sample_categorical(&probs, &mut rng), 5);
        for (f, p) in freq.iter().zip(&probs) {
            assert!((f - p).abs() < 0.02, "frequencies {freq:?} vs {probs:?}");
        }
        assert_eq!(freq[1], 0.0, "a zero weight was drawn");
        // Unnormalised weights are the same distribution.
        let weights: Vec<f32> = probs.iter().map(|p| p * 8.0).collect();
        let freq = frequencies(20_000, || sample_categorical(&weights, &mut rng), 5);
        assert!(freq.iter().zip(&probs).all(|(f, p)| (f - p).abs() < 0.02), "{freq:?}");
    }

    #[test]
    fn logits_are_sampled_by_their_softmax_and_top_k_cuts_the_rest() {
        let logits = [1.0f32, 2.0, 0.0, 2.5];
        let max = 2.5f32;
        let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let z: f32 = e.iter().sum();
        let mut rng = Rng::new(3);
        let freq = frequencies(20_000, || sample_logits(&logits, 1.0, None, &mut rng), 4);
        assert!(freq.iter().zip(&e).all(|(f, e)| (f - e / z).abs() < 0.02), "{freq:?}");
        let freq = frequencies(5_000, || sample_logits(&logits, 1.0, Some(2), &mut rng), 4);
        assert_eq!((freq[0], freq[2]), (0.0, 0.0), "top-2 drew outside the two best: {freq:?}");
    }
}
