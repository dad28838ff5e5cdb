//! The multi-layer perceptron: Linear layers with an activation between them.

use super::{Activation, Init, Linear, Module, Sequential};
use crate::autograd::{Graph, Param, Var};
use crate::tensor::Rng;

/// Everything needed to rebuild an MLP; stored in checkpoints.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlpConfig {
    /// Input features.
    pub inputs: usize,
    /// Hidden layer sizes, in order.
    pub hidden: Vec<usize>,
    /// Outputs (classes).
    pub outputs: usize,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Activation after the last layer (`Identity` for logits).
    pub output_activation: Activation,
    /// Weight initialisation.
    pub init: Init,
}

impl MlpConfig {
    /// A classifier producing logits, with the initialisation that suits the
    /// activation (He for ReLU/GELU, Xavier otherwise).
    pub fn classifier(inputs: usize, hidden: &[usize], outputs: usize, activation: Activation) -> MlpConfig {
        let init = match activation {
            Activation::Relu | Activation::Gelu => Init::He,
            _ => Init::Xavier,
        };
        MlpConfig {
            inputs,
            hidden: hidden.to_vec(),
            outputs,
            activation,
            output_activation: Activation::Identity,
            init,
        }
    }

    /// The name and shape of every parameter the network will have, computed
    /// without building it (so a checkpoint can be checked before any allocation).
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let sizes = self.sizes();
        let mut index = 0;
        let mut out = Vec::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            out.push((format!("layers.{index}.weight"), vec![pair[1], pair[0]]));
            out.push((format!("layers.{index}.bias"), vec![pair[1]]));
            let last = i + 2 == sizes.len();
            index += if !last || self.output_activation != Activation::Identity { 2 } else { 1 };
        }
        out
    }

    /// Number of trainable scalars, or `None` when it overflows `usize`
    /// (sizes from a user or a file are checked with this before anything is
    /// allocated).
    ///
    /// ```
    /// use backprop::nn::{Activation, MlpConfig};
    /// let c = MlpConfig::classifier(784, &[30], 10, Activation::Sigmoid);
    /// assert_eq!(c.parameter_count(), Some(784 * 30 + 30 + 30 * 10 + 10));
    /// assert_eq!(MlpConfig::classifier(usize::MAX, &[2], 1, Activation::Relu).parameter_count(), None);
    /// ```
    pub fn parameter_count(&self) -> Option<usize> {
        let sizes = self.sizes();
        sizes.windows(2).try_fold(0usize, |total, pair| {
            let layer = pair[0].checked_mul(pair[1])?.checked_add(pair[1])?;
            total.checked_add(layer)
        })
    }

    /// Layer sizes from input to output, e.g. `[784, 30, 10]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.inputs];
        s.extend(&self.hidden);
        s.push(self.outputs);
        s
    }
}

/// A multi-layer perceptron built from an [`MlpConfig`]: Linear, activation,
/// Linear, ..., Linear, output activation.
pub struct Mlp {
    config: MlpConfig,
    net: Sequential,
}

impl Mlp {
    /// Builds the network with freshly initialised weights.
    pub fn new(config: MlpConfig, rng: &mut Rng) -> Mlp {
        let sizes = config.sizes();
        let mut net = Sequential::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            net = net.push(Linear::new(pair[0], pair[1], true, config.init, rng));
            let last = i + 2 == sizes.len();
            let act = if last { config.output_activation } else { config.activation };
            if !last || act != Activation::Identity {
                net = net.push(act);
            }
        }
        Mlp { config, net }
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// Outputs of every layer (input first, then each Linear and activation).
    pub fn forward_all<'g>(&self, g: &'g Graph, x: Var<'g>) -> Vec<Var<'g>> {
        self.net.forward_all(g, x)
    }
}

impl Module for Mlp {
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        self.net.forward(g, x)
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        self.net.parameters()
    }
}

impl Mlp {
    /// Saves weights and configuration; `extra` metadata is stored alongside.
    pub fn save(
        &self,
        path: &std::path::Path,
        extra: &std::collections::BTreeMap<String, String>,
    ) -> crate::Result<()> {
        use crate::checkpoint::{CONFIG_KEY, KIND_KEY};
        let mut meta = extra.clone();
        meta.insert(KIND_KEY.into(), "mlp".into());
        meta.insert(CONFIG_KEY.into(), serde_json::to_string(&self.config).expect("MlpConfig always serializes"));
        crate::checkpoint::save(path, &self.parameters(), &meta)
    }

    /// Rebuilds an MLP from a checkpoint written by [`Mlp::save`].
    pub fn from_checkpoint(ckpt: &crate::checkpoint::Checkpoint) -> crate::Result<Mlp> {
        use crate::checkpoint::CONFIG_KEY;
        let fail = |message: String| crate::Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind("mlp", "an MLP")?;
        let config: MlpConfig =
            serde_json::from_str(ckpt.require(CONFIG_KEY)?).map_err(|e| fail(format!("bad MLP configuration: {e}")))?;
        // Check the tensors against the configuration before building anything: a
        // corrupt configuration must not make us allocate a huge network.
        ckpt.check_shapes(&config.parameter_shapes())?;
        let mlp = Mlp::new(config, &mut Rng::new(0));
        ckpt.restore_into(&mlp.parameters())?;
        Ok(mlp)
    }
}
