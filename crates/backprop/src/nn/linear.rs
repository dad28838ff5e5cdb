//! The fully connected layer y = x W^T + b.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;
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
        let y = x.matmul_t(false, g.param(&self.weight), true);
        match &self.bias {
            Some(b) => y + g.param(b),
            None => y,
        }
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}
