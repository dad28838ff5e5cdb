//! Dropout: during training, zero each value with probability p and scale the
//! rest by 1/(1-p); the same mask gates the gradient. Identity in evaluation.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::Rng;
use crate::Tensor;

struct DropoutOp {
    mask: Tensor,
}

impl Backward for DropoutOp {
    fn name(&self) -> &'static str {
        "dropout"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.mul(&self.mask))]
    }
}

impl<'g> Var<'g> {
    /// Inverted dropout with drop probability `p`, drawing the mask from `rng`.
    /// Returns `self` unchanged when `p == 0` or the graph is not training.
    pub fn dropout(self, p: f32, rng: &mut Rng) -> Var<'g> {
        assert!((0.0..1.0).contains(&p), "dropout: p must be in [0, 1), got {p}");
        if p == 0.0 || !self.graph.is_training() {
            return self;
        }
        let x = self.value();
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = (0..x.numel()).map(|_| if rng.next_f32() < p { 0.0 } else { keep }).collect();
        let mask = Tensor::from_vec(mask, x.shape());
        self.derive(x.mul(&mask), &[], DropoutOp { mask })
    }
}
