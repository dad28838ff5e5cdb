//! A stack of modules applied in order.

use super::{prefixed, Module};
use crate::autograd::{Graph, Param, Var};

/// Modules applied one after another; parameters and buffers are named
/// `layers.{index}.{name}` as in PyTorch's `nn.Sequential` under a `layers` field.
///
/// ```
/// use backprop::{nn::{Activation, Init, Linear, Module, Sequential}, tensor::Rng};
/// let mut rng = Rng::new(0);
/// let net = Sequential::new()
///     .push(Linear::new(4, 8, true, Init::He, &mut rng))
///     .push(Activation::Relu)
///     .push(Linear::new(8, 2, true, Init::He, &mut rng));
/// let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module + Send + Sync>>,
}

impl Sequential {
    /// An empty stack.
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// The `i`-th layer.
    ///
    /// # Panics
    /// When `i` is not below [`Sequential::len`].
    pub fn layer(&self, i: usize) -> &(dyn Module + Send + Sync) {
        self.layers[i].as_ref()
    }

    /// Appends a module.
    pub fn push(mut self, m: impl Module + Send + Sync + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the stack is empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Runs the stack and returns every module's output (the input first):
    /// what a visualisation of hidden activations needs.
    pub fn forward_all<'g>(&self, g: &'g Graph, x: Var<'g>) -> Vec<Var<'g>> {
        let mut outs = vec![x];
        for layer in &self.layers {
            let next = layer.forward(g, *outs.last().expect("outs starts non-empty"));
            outs.push(next);
        }
        outs
    }
}

impl Module for Sequential {
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        self.layers.iter().fold(x, |h, layer| layer.forward(g, h))
    }

    fn parameters(&self) -> Vec<(String, Param)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| prefixed(&format!("layers.{i}"), l.parameters())).collect()
    }

    fn buffers(&self) -> Vec<(String, Param)> {
        self.layers.iter().enumerate().flat_map(|(i, l)| prefixed(&format!("layers.{i}"), l.buffers())).collect()
    }
}
