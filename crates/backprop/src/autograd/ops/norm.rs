//! Layer normalisation over the last axis; the fused kernels and their
//! formulas are in `tensor::norm`.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{layer_norm, layer_norm_backward};
use crate::Tensor;

struct LayerNormOp {
    eps: f32,
    has_gamma: bool,
    has_beta: bool,
}

impl Backward for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer_norm"
    }
    // dx = (g - mean(g) - xhat mean(g xhat)) / std with g = dy gamma;
    // dgamma = sum dy xhat; dbeta = sum dy.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let gamma = self.has_gamma.then(|| c.inputs[1]);
        let (dx, dgamma, dbeta) = layer_norm_backward(c.inputs[0], gamma, c.grad, self.eps);
        let mut grads = vec![c.needs[0].then_some(dx)];
        if self.has_gamma {
            grads.push(c.needs[1].then_some(dgamma));
        }
        if self.has_beta {
            grads.push(c.needs[grads.len()].then_some(dbeta));
        }
        grads
    }
}

impl<'g> Var<'g> {
    /// Layer normalisation over the last axis with optional scale `gamma` and
    /// shift `beta` (both `[n]`).
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]));
    /// let y = x.layer_norm(None, None, 1e-5).value();
    /// assert!(y.data().iter().sum::<f32>().abs() < 1e-5); // zero mean
    /// ```
    pub fn layer_norm(self, gamma: Option<Var<'g>>, beta: Option<Var<'g>>, eps: f32) -> Var<'g> {
        let x = self.value();
        let n = *x.shape().last().expect("layer_norm: needs at least one dimension");
        let gv = gamma.map(|g| g.value());
        let bv = beta.map(|b| b.value());
        for (name, p) in [("gamma", &gv), ("beta", &bv)] {
            if let Some(p) = p {
                assert_eq!(p.shape(), &[n], "layer_norm: {name} has shape {:?}, expected [{n}]", p.shape());
            }
        }
        let y = layer_norm(&x, gv.as_ref(), bv.as_ref(), eps);
        let others: Vec<Var<'g>> = gamma.into_iter().chain(beta).collect();
        let op = LayerNormOp { eps, has_gamma: gv.is_some(), has_beta: bv.is_some() };
        self.derive(y, &others, op)
    }
}
