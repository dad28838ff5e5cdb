//! Layers: the [`Module`] trait, [`Linear`], activations and the MLP builder;
//! the convolutional pieces ([`Conv2d`], [`ConvTranspose2d`], [`BatchNorm1d`],
//! [`BatchNorm2d`], [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`],
//! [`Flatten`], [`LeakyRelu`]); the transformer pieces ([`Embedding`],
//! [`LayerNorm`], [`CausalSelfAttention`], [`FeedForward`], [`Block`],
//! [`Gpt`]), each with a per-position method for cached generation; and
//! [`sample_logits`] / [`sample_categorical`].
//!
//! Convolutional networks are written as one line, an architecture string
//! ([`Arch`]: `c32k5p2-bn-relu-mp2-fc10`), checked against the input shape and
//! built as a [`Cnn`] from a [`CnnConfig`].
//!
//! A module maps a batch to a batch inside a [`Graph`] and names its
//! parameters and buffers the way PyTorch does (`layers.0.weight`,
//! `layers.1.running_mean`), so checkpoints are ordinary safetensors files:
//! save and restore [`Module::state_dict`] (parameters and buffers); give
//! [`Module::parameters`] to an optimizer. Layers that behave differently in
//! training (dropout, batch norm) follow [`Graph::is_training`]: a
//! [`Graph::new`] trains, [`Graph::no_grad`] and [`Graph::inputs_only`] evaluate.
//!
//! ```
//! use backprop::{nn::{Activation, Mlp, MlpConfig, Module}, tensor::Rng, Graph, Tensor};
//! let mlp = Mlp::new(MlpConfig::classifier(784, &[30], 10, Activation::Sigmoid), &mut Rng::new(0));
//! let g = Graph::no_grad();
//! let out = mlp.forward(&g, g.constant(Tensor::zeros(&[5, 784])));
//! assert_eq!(out.shape(), vec![5, 10]);
//! assert_eq!(mlp.parameters()[0].0, "layers.0.weight");
//! ```
//!
//! A small CNN, trained one step and then evaluated with its running statistics:
//!
//! ```
//! use backprop::nn::{BatchNorm2d, Conv2d, Flatten, Init, Linear, MaxPool2d, Module, Sequential};
//! use backprop::{loss, tensor::{Conv2dOptions, Rng}, Graph, Tensor};
//! let mut rng = Rng::new(0);
//! let same = Conv2dOptions { padding: [1, 1], ..Default::default() };
//! let cnn = Sequential::new()
//!     .push(Conv2d::new(1, 8, [3, 3], same, true, &mut rng)) // [N, 8, 28, 28]
//!     .push(BatchNorm2d::new(8))
//!     .push(backprop::nn::Activation::Relu)
//!     .push(MaxPool2d::new([2, 2], [2, 2], [0, 0]))           // [N, 8, 14, 14]
//!     .push(Flatten)                                          // [N, 1568]
//!     .push(Linear::new(8 * 14 * 14, 10, true, Init::PytorchDefault, &mut rng));
//! let g = Graph::new();
//! let logits = cnn.forward(&g, g.constant(Tensor::randn(&[4, 1, 28, 28], 0.0, 1.0, &mut rng)));
//! g.backward(loss::cross_entropy(logits, &[3, 1, 4, 1]));
//! assert_eq!(cnn.buffers()[0].0, "layers.1.running_mean");
//! assert_eq!(cnn.state_dict().len(), cnn.parameters().len() + 3);
//! ```

mod activation;
mod arch;
mod attention;
mod autoencoder;
mod batch_norm;
mod block;
mod cnn;
mod conv;
mod dropout;
mod embedding;
mod gpt;
mod gpt_cache;
mod layer_spec;
mod linear;
mod mlp;
mod norm;
mod pool;
mod sampling;
mod sequential;

pub use activation::Activation;
pub use arch::{Arch, FeatureShape, LayerSpec, MAX_NUMBER, PRESETS};
pub use attention::{CausalSelfAttention, LayerCache};
pub use autoencoder::{AeArch, Autoencoder, AutoencoderConfig, AUTOENCODER_KIND};
pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use block::{Block, FeedForward};
pub use cnn::{Cnn, CnnConfig};
pub use conv::{Conv2d, ConvTranspose2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use gpt::{Gpt, GptConfig};
pub use gpt_cache::KvCache;
pub use linear::{Init, Linear};
pub use mlp::{Mlp, MlpConfig};
pub use norm::LayerNorm;
pub use pool::{AvgPool2d, Flatten, GlobalAvgPool2d, LeakyRelu, MaxPool2d};
pub use sampling::{sample_categorical, sample_logits};
pub use sequential::Sequential;

use crate::autograd::{Graph, Param, Var};

/// A layer or model: a forward pass over a batch, named parameters and
/// named buffers.
pub trait Module {
    /// Applies the module to a batch. Layers that behave differently in
    /// training and evaluation (dropout, batch norm) ask
    /// [`Graph::is_training`].
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g>;

    /// Every trainable parameter with its dotted name, in a fixed order.
    fn parameters(&self) -> Vec<(String, Param)>;

    /// Non-trainable state with its dotted name (PyTorch's buffers, such as
    /// batch norm's `running_mean`): saved and restored with the model but
    /// never given to an optimizer. None by default.
    fn buffers(&self) -> Vec<(String, Param)> {
        Vec::new()
    }

    /// Everything a checkpoint saves and restores: the parameters, then the
    /// buffers (PyTorch's `state_dict` names). Pass it to
    /// [`checkpoint::save`](crate::checkpoint::save) and
    /// [`Checkpoint::restore_into`](crate::checkpoint::Checkpoint::restore_into).
    fn state_dict(&self) -> Vec<(String, Param)> {
        let mut all = self.parameters();
        all.extend(self.buffers());
        all
    }

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

/// `weight` and, if there is one, `bias`: the parameters of Linear and LayerNorm.
pub(crate) fn weight_and_bias(weight: &Param, bias: Option<&Param>) -> Vec<(String, Param)> {
    let mut p = vec![("weight".to_string(), weight.clone())];
    p.extend(bias.map(|b| ("bias".to_string(), b.clone())));
    p
}

/// Prefixes each name with `prefix.` (parameters, or their shapes).
pub(crate) fn prefixed<T>(prefix: &str, named: Vec<(String, T)>) -> Vec<(String, T)> {
    named.into_iter().map(|(n, p)| (format!("{prefix}.{n}"), p)).collect()
}

/// `a * b`, or an error naming `field` when the product overflows (a size
/// from a corrupt or hostile configuration).
pub(crate) fn checked_mul(a: usize, b: usize, field: &str) -> crate::Result<usize> {
    a.checked_mul(b).ok_or_else(|| crate::Error::invalid(field, format!("{a} x {b} overflows")))
}

/// The number of scalars in tensors of these shapes, or an error naming
/// `field` when it overflows.
pub(crate) fn total_numel(shapes: &[(String, Vec<usize>)], field: &str) -> crate::Result<usize> {
    shapes.iter().try_fold(0usize, |total, (name, shape)| {
        shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).and_then(|n| total.checked_add(n)).ok_or_else(|| {
            crate::Error::invalid(field, format!("tensor {name} of shape {shape:?} is too large to exist"))
        })
    })
}
