//! SimCLR's contrastive loss, NT-Xent (Chen et al., "A Simple Framework for
//! Contrastive Learning of Visual Representations", ICML 2020, eq. 1).

use crate::autograd::Var;
use crate::loss::cross_entropy;
use crate::Tensor;

/// What is added to a row's similarity with itself so that softmax gives it
/// no weight: exp(-1e9) is 0 in `f32`.
const SELF_MASK: f32 = -1e9;

/// The normalized temperature-scaled cross-entropy loss over `z`, `[2N, d]`
/// projections of `N` examples seen twice: rows `i` and `i + N` are the two
/// views of example `i` (a positive pair), every other row is a negative.
///
/// With `s_ij = z_i . z_j / (|z_i| |z_j|)`, the loss of row `i` whose pair is
/// `p(i)` is `-log( exp(s_i,p(i) / t) / sum_{k != i} exp(s_ik / t) )`, and the
/// result is the mean over all `2N` rows (a scalar). It is built from
/// differentiable ops (normalisation, a matrix product, the fused
/// cross-entropy), so its gradient is theirs; `tests/pretrain.rs` checks it
/// against finite differences.
///
/// ```
/// use backprop::{pretrain::nt_xent, Graph, Tensor};
/// let g = Graph::new();
/// // Two examples whose two views agree: the loss is low...
/// let agree = g.leaf(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0], &[4, 2]));
/// // ...and lower than when each view matches the other example's.
/// let swapped = g.leaf(Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[4, 2]));
/// assert!(nt_xent(agree, 0.5).item() < nt_xent(swapped, 0.5).item());
/// ```
///
/// # Panics
/// When `z` is not 2-D with an even, non-zero number of rows, or
/// `temperature` is not above 0.
pub fn nt_xent<'g>(z: Var<'g>, temperature: f32) -> Var<'g> {
    let shape = z.shape();
    assert!(
        shape.len() == 2 && shape[0] >= 2 && shape[0].is_multiple_of(2),
        "nt_xent: z must be [2N, d] (two views of N examples), got {shape:?}"
    );
    assert!(temperature > 0.0, "nt_xent: the temperature must be above 0, got {temperature}");
    let rows = shape[0];
    let half = rows / 2;
    let g = z.graph();
    // Rows scaled to unit length (the epsilon keeps a zero row finite).
    let norm = (z.square().sum_axis(1, true) + 1e-12).sqrt();
    let unit = z / norm;
    let similarity = unit.matmul_t(false, unit, true) * (1.0 / temperature);
    let mut mask = vec![0.0; rows * rows];
    for i in 0..rows {
        mask[i * rows + i] = SELF_MASK;
    }
    let logits = similarity + g.constant(Tensor::from_vec(mask, &[rows, rows]));
    let pairs: Vec<usize> = (0..rows).map(|i| (i + half) % rows).collect();
    cross_entropy(logits, &pairs)
}
