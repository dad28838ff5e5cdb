//! Layers: the [`Module`] trait, [`Linear`], activations and the MLP builder.
//!
//! A module maps a batch to a batch inside a [`Graph`] and names its
//! parameters the way PyTorch does (`layers.0.weight`), so checkpoints are
//! ordinary safetensors files.
//!
//! ```
//! use backprop::{nn::{Activation, Mlp, MlpConfig, Module}, tensor::Rng, Graph, Tensor};
//! let mlp = Mlp::new(MlpConfig::classifier(784, &[30], 10, Activation::Sigmoid), &mut Rng::new(0));
//! let g = Graph::no_grad();
//! let out = mlp.forward(&g, g.constant(Tensor::zeros(&[5, 784])));
//! assert_eq!(out.shape(), vec![5, 10]);
//! assert_eq!(mlp.parameters()[0].0, "layers.0.weight");
//! ```

mod activation;
mod attention;
mod embedding;
mod gpt;
mod linear;
mod mlp;
mod norm;
mod sequential;

pub use activation::Activation;
pub use attention::CausalSelfAttention;
pub use embedding::Embedding;
pub use gpt::{Gpt, GptConfig, KvCache};
pub use linear::{Init, Linear};
pub use mlp::{Mlp, MlpConfig};
pub use norm::LayerNorm;
pub use sequential::Sequential;

use crate::autograd::{Graph, Param, Var};

/// A layer or model: a forward pass over a batch and named parameters.
pub trait Module {
    /// Applies the module to a batch.
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g>;

    /// Every trainable parameter with its dotted name, in a fixed order.
    fn parameters(&self) -> Vec<(String, Param)>;

    /// Total number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|(_, p)| p.numel()).sum()
    }

    /// Forgets all accumulated gradients.
    fn zero_grad(&self) {
        for (_, p) in self.parameters() {
            p.zero_grad();
        }
    }
}

/// Prefixes each parameter name with `prefix.`.
pub(crate) fn prefixed(prefix: &str, params: Vec<(String, Param)>) -> Vec<(String, Param)> {
    params.into_iter().map(|(n, p)| (format!("{prefix}.{n}"), p)).collect()
}
