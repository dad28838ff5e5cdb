//! Layer normalisation as a module.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::layer_norm_rows;
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

    /// The names and shapes of the parameters of a LayerNorm over `n`
    /// features, without building it: `weight` `[n]` and, with `bias`, `bias` `[n]`.
    pub fn shapes(n: usize, bias: bool) -> Vec<(String, Vec<usize>)> {
        let mut s = vec![("weight".to_string(), vec![n])];
        if bias {
            s.push(("bias".to_string(), vec![n]));
        }
        s
    }

    /// Normalises one row `x` of `n` features on plain slices (no graph):
    /// `(x - mean) / sqrt(var + eps) * weight + bias`, the same result as
    /// [`Module::forward`] on a `[1, n]` batch, for cached generation.
    ///
    /// ```
    /// use backprop::nn::LayerNorm;
    /// let y = LayerNorm::new(4, true).forward_row(&[1.0, 2.0, 3.0, 6.0]);
    /// assert!(y.iter().sum::<f32>().abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// When `x` does not hold `n` values.
    pub fn forward_row(&self, x: &[f32]) -> Vec<f32> {
        let gamma = self.weight.value();
        let beta = self.bias.as_ref().map(Param::value);
        assert_eq!(x.len(), gamma.numel(), "LayerNorm::forward_row: {} values for {} features", x.len(), gamma.numel());
        let mut out = vec![0.0f32; x.len()];
        layer_norm_rows(x, x.len(), Some(gamma.data()), beta.as_ref().map(Tensor::data), self.eps, &mut out);
        out
    }
}

impl Module for LayerNorm {
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        x.layer_norm(Some(g.param(&self.weight)), self.bias.as_ref().map(|b| g.param(b)), self.eps)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Rng;

    #[test]
    fn forward_row_equals_the_batched_forward_on_each_row() {
        for bias in [true, false] {
            let mut ln = LayerNorm::new(6, bias);
            ln.weight = Param::new(Tensor::randn(&[6], 1.0, 0.5, &mut Rng::new(1)));
            if bias {
                ln.bias = Some(Param::new(Tensor::randn(&[6], 0.0, 0.5, &mut Rng::new(2))));
            }
            let x = Tensor::randn(&[3, 6], 0.5, 2.0, &mut Rng::new(3));
            let g = Graph::no_grad();
            let batched = ln.forward(&g, g.constant(x.clone())).value();
            for r in 0..3 {
                let row = ln.forward_row(&x.data()[r * 6..(r + 1) * 6]);
                let want = &batched.data()[r * 6..(r + 1) * 6];
                assert!(row.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "row {r}: {row:?} vs {want:?}");
            }
            let real: Vec<(String, Vec<usize>)> = ln.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
            assert_eq!(LayerNorm::shapes(6, bias), real);
        }
    }
}
