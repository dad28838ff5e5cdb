//! The fully connected layer y = x W^T + b.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::{matmul_into, Rng};
use crate::Tensor;

/// How to initialise a layer's weights.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's default for `nn.Linear`: weights and biases U(-1/sqrt(in), 1/sqrt(in)).
    PytorchDefault,
    /// Xavier/Glorot uniform weights, zero biases (sigmoid, tanh).
    Xavier,
    /// He/Kaiming normal weights, zero biases (ReLU).
    He,
    /// N(0, std^2) weights, zero biases (GPT-2 uses 0.02).
    Normal(f32),
}

/// A fully connected layer: `y = x W^T + b` with `W` of shape `[out, in]`
/// (PyTorch's layout) and `b` of shape `[out]`.
///
/// ```
/// use backprop::{nn::{Init, Linear, Module}, tensor::Rng, Graph, Tensor};
/// let layer = Linear::new(3, 2, true, Init::Xavier, &mut Rng::new(1));
/// let g = Graph::no_grad();
/// let y = layer.forward(&g, g.constant(Tensor::ones(&[4, 3])));
/// assert_eq!(y.shape(), vec![4, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out, in]`
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
}

impl Linear {
    /// A new layer with `inputs` inputs and `outputs` outputs.
    pub fn new(inputs: usize, outputs: usize, bias: bool, init: Init, rng: &mut Rng) -> Linear {
        let shape = [outputs, inputs];
        let weight = match init {
            Init::PytorchDefault => {
                let a = 1.0 / (inputs as f32).sqrt();
                Tensor::rand_uniform(&shape, -a, a, rng)
            }
            Init::Xavier => Tensor::xavier_uniform(&shape, inputs, outputs, rng),
            Init::He => Tensor::kaiming_normal(&shape, inputs, rng),
            Init::Normal(std) => Tensor::randn(&shape, 0.0, std, rng),
        };
        let bias = bias.then(|| match init {
            Init::PytorchDefault => {
                let a = 1.0 / (inputs as f32).sqrt();
                Tensor::rand_uniform(&[outputs], -a, a, rng)
            }
            _ => Tensor::zeros(&[outputs]),
        });
        Linear { weight: Param::new(weight), bias: bias.map(Param::new) }
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The names and shapes of the parameters of a layer with `inputs`
    /// inputs and `outputs` outputs, without building it: `weight` `[out, in]`
    /// and, with `bias`, `bias` `[out]`.
    ///
    /// ```
    /// use backprop::nn::Linear;
    /// assert_eq!(Linear::shapes(3, 2, true), vec![("weight".into(), vec![2, 3]), ("bias".into(), vec![2])]);
    /// ```
    pub fn shapes(inputs: usize, outputs: usize, bias: bool) -> Vec<(String, Vec<usize>)> {
        let mut s = vec![("weight".to_string(), vec![outputs, inputs])];
        if bias {
            s.push(("bias".to_string(), vec![outputs]));
        }
        s
    }

    /// `y = W x + b` for one input row `x` of `in` values, on plain slices
    /// (no graph): the same result as [`Module::forward`] on a `[1, in]`
    /// batch, for cached generation. Reads each weight once.
    ///
    /// ```
    /// use backprop::{nn::{Init, Linear}, tensor::Rng};
    /// let layer = Linear::new(3, 2, true, Init::Xavier, &mut Rng::new(1));
    /// assert_eq!(layer.forward_row(&[1.0, 0.0, -1.0]).len(), 2);
    /// ```
    ///
    /// # Panics
    /// When `x` does not hold `in` values.
    pub fn forward_row(&self, x: &[f32]) -> Vec<f32> {
        let w = self.weight.value();
        let (outputs, inputs) = (w.dim(0), w.dim(1));
        assert_eq!(x.len(), inputs, "Linear::forward_row: {} values for the layer's {inputs} inputs", x.len());
        let mut y = vec![0.0f32; outputs];
        matmul_into(&mut y, x, false, w.data(), true, 1, inputs, outputs, false);
        if let Some(b) = &self.bias {
            y.iter_mut().zip(b.value().data()).for_each(|(y, b)| *y += b);
        }
        y
    }
}

impl Module for Linear {
    /// `x` is `[batch, in]` (or `[batch, time, in]`); the result `[batch, out]`.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let xs = x.shape();
        let inputs = self.inputs();
        assert_eq!(
            xs.last().copied(),
            Some(inputs),
            "Linear: input of shape {xs:?} does not end in the layer's {inputs} inputs"
        );
        x.linear(g.param(&self.weight), self.bias.as_ref().map(|b| g.param(b)))
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        super::weight_and_bias(&self.weight, self.bias.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_row_equals_the_batched_forward_on_each_row() {
        for bias in [true, false] {
            let layer = Linear::new(5, 3, bias, Init::PytorchDefault, &mut Rng::new(2));
            let x = Tensor::randn(&[4, 5], 0.0, 1.0, &mut Rng::new(3));
            let g = Graph::no_grad();
            let batched = layer.forward(&g, g.constant(x.clone())).value();
            for r in 0..4 {
                let row = layer.forward_row(&x.data()[r * 5..(r + 1) * 5]);
                let want = &batched.data()[r * 3..(r + 1) * 3];
                assert!(row.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "row {r}: {row:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn shapes_are_the_shapes_of_the_parameters() {
        for bias in [true, false] {
            let layer = Linear::new(5, 3, bias, Init::He, &mut Rng::new(0));
            let real: Vec<(String, Vec<usize>)> = layer.parameters().into_iter().map(|(n, p)| (n, p.shape())).collect();
            assert_eq!(Linear::shapes(5, 3, bias), real);
        }
    }
}
