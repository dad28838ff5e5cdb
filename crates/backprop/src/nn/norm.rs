//! Layer normalisation as a module.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::Tensor;

/// LayerNorm over the last axis with a learned scale (init 1) and, optionally,
/// a learned shift (init 0).
///
/// ```
/// use backprop::{nn::{LayerNorm, Module}, Graph, Tensor};
/// let ln = LayerNorm::new(4, true);
/// let g = Graph::no_grad();
/// let y = ln.forward(&g, g.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[1, 4])));
/// assert!(y.value().mean_all().abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// Scale `[n]`.
    pub weight: Param,
    /// Shift `[n]`, if any.
    pub bias: Option<Param>,
    /// Added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// A LayerNorm over `n` features, with or without bias.
    pub fn new(n: usize, bias: bool) -> LayerNorm {
        LayerNorm {
            weight: Param::new(Tensor::ones(&[n])),
            bias: bias.then(|| Param::new(Tensor::zeros(&[n]))),
            eps: 1e-5,
        }
    }
}

impl Module for LayerNorm {
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.layer_norm(Some(g.param(&self.weight)), self.bias.as_ref().map(|b| g.param(b)), self.eps)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}
