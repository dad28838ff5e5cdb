//! The encoder: a classifier's network without its output layer, and its
//! checkpoint.
//!
//! For an [`Mlp`] the encoder is every layer but the last `Linear`: the
//! hidden layers and their activations, giving the last hidden layer's
//! activations. For a [`Cnn`] it is every layer of the architecture string
//! but the final `fc<classes>`: for `lenet5`, the convolutions, pools and
//! `fc120-bn-relu-fc84-bn-relu`, giving 84 features. The encoder's tensors
//! keep the classifier's names (`layers.0.weight`, `layers.1.running_mean`),
//! so a pre-trained encoder loads into a classifier of the same architecture
//! with any number of classes by name.

use crate::autograd::{Graph, Param, Var};
use crate::checkpoint::{self, Checkpoint, CONFIG_KEY, KIND_KEY};
use crate::nn::{Cnn, Mlp, Module};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The `backprop.kind` of an encoder checkpoint.
pub const ENCODER_KIND: &str = "encoder";
/// Metadata key: the kind of network the encoder belongs to (`mlp` or `cnn`).
pub const ENCODER_MODEL_KEY: &str = "backprop.encoder.model";
/// Metadata key: the self-supervised task that trained it.
pub const TASK_KEY: &str = "backprop.pretrain.task";

/// A classifier network seen as an encoder followed by its output layer.
#[derive(Clone, Copy)]
pub enum Backbone<'a> {
    /// An MLP: the encoder ends with the last hidden layer's activation.
    Mlp(&'a Mlp),
    /// A CNN: the encoder ends before the last layer (the output `fc`).
    Cnn(&'a Cnn),
}

impl<'a> Backbone<'a> {
    /// The network as a module.
    pub fn module(&self) -> &'a dyn Module {
        match *self {
            Backbone::Mlp(m) => m,
            Backbone::Cnn(c) => c,
        }
    }

    /// The prefix of the output layer's tensors, `layers.<i>.`: what the
    /// encoder leaves out.
    pub fn head_prefix(&self) -> String {
        let index = match *self {
            Backbone::Mlp(m) => 2 * m.config().hidden.len(),
            Backbone::Cnn(c) => c.arch().len() - 1,
        };
        format!("layers.{index}.")
    }

    /// Values per example that the encoder outputs: an MLP's last hidden
    /// size, or the input size of a CNN's output layer.
    pub fn feature_dim(&self) -> usize {
        match *self {
            Backbone::Mlp(m) => *m.config().hidden.last().unwrap_or(&m.config().inputs),
            Backbone::Cnn(c) => match c.shapes().len() {
                0 | 1 => c.config().inputs(),
                n => c.shapes()[n - 2].numel(),
            },
        }
    }

    /// The encoder's output for a batch `x` (`[N, D]` rows): `[N, feature_dim]`.
    pub fn features<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        match *self {
            Backbone::Mlp(m) => {
                let outs = m.forward_all(g, x);
                outs[2 * m.config().hidden.len()]
            }
            Backbone::Cnn(c) => {
                let n = c.arch().len();
                let features = c.forward_layers(g, c.to_nchw(x), 0..n - 1);
                let shape = features.shape();
                if shape.len() == 2 {
                    features
                } else {
                    features.reshape(&[shape[0], shape[1..].iter().product()])
                }
            }
        }
    }

    /// The encoder's parameters (the network's, less the output layer's).
    pub fn encoder_parameters(&self) -> Vec<(String, Param)> {
        let head = self.head_prefix();
        self.module().parameters().into_iter().filter(|(n, _)| !n.starts_with(&head)).collect()
    }

    /// The encoder's parameters and buffers: what its checkpoint holds.
    pub fn encoder_state(&self) -> Vec<(String, Param)> {
        let head = self.head_prefix();
        self.module().state_dict().into_iter().filter(|(n, _)| !n.starts_with(&head)).collect()
    }

    /// `mlp` or `cnn`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backbone::Mlp(_) => "mlp",
            Backbone::Cnn(_) => "cnn",
        }
    }

    /// Saves the encoder (parameters and buffers, the output layer left out)
    /// with the network's configuration and `extra` metadata, atomically.
    ///
    /// # Errors
    /// When the encoder has no parameters (an MLP without hidden layers);
    /// when the file cannot be written.
    pub fn save_encoder(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        if self.encoder_parameters().is_empty() {
            return Err(Error::invalid("model", "the network has no layer before its output layer: no encoder"));
        }
        let mut meta = extra.clone();
        meta.insert(KIND_KEY.into(), ENCODER_KIND.into());
        meta.insert(ENCODER_MODEL_KEY.into(), self.kind().into());
        let config = match self {
            Backbone::Mlp(m) => serde_json::to_string(m.config()),
            Backbone::Cnn(c) => serde_json::to_string(c.config()),
        };
        meta.insert(CONFIG_KEY.into(), config.expect("configurations always serialize"));
        checkpoint::save(path, &self.encoder_state(), &meta)
    }

    /// Copies a pre-trained encoder from the checkpoint at `path` into this
    /// network: every tensor but the output layer's must be in the file under
    /// the same name with the same shape, and the file must hold nothing
    /// else; the output layer keeps its fresh weights. Returns the number of
    /// tensors copied.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file when it is not an encoder or
    /// does not fit: one line listing the tensors missing, of another shape
    /// (both shapes) and not in the model; when the file cannot be read.
    pub fn load_encoder(&self, path: &Path) -> Result<usize> {
        self.load_encoder_from(&Checkpoint::load(path)?)
    }

    /// As [`Backbone::load_encoder`], from a checkpoint already read (whose
    /// metadata the caller also wants, e.g. the encoder's input scale).
    ///
    /// # Errors
    /// As [`Backbone::load_encoder`], naming `ckpt.path`.
    pub fn load_encoder_from(&self, ckpt: &Checkpoint) -> Result<usize> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind(ENCODER_KIND, "a pre-trained encoder (write one with pretrain)")?;
        let wanted = self.encoder_state();
        let problems = mismatches(ckpt, &wanted);
        if !problems.is_empty() {
            let model = ckpt.metadata.get(ENCODER_MODEL_KEY).map_or("?", String::as_str);
            return Err(fail(format!(
                "the {model} encoder does not fit this {} network: {}",
                self.kind(),
                problems.join("; ")
            )));
        }
        for (name, p) in &wanted {
            p.set_value(ckpt.tensors[name].clone());
        }
        Ok(wanted.len())
    }
}

/// What keeps `ckpt` from filling `wanted`, grouped and shortened to one line.
fn mismatches(ckpt: &Checkpoint, wanted: &[(String, Param)]) -> Vec<String> {
    let list = |names: &[String]| {
        let shown: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
        let more = names.len().saturating_sub(4);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut missing = Vec::new();
    let mut shapes = Vec::new();
    for (name, p) in wanted {
        match ckpt.tensors.get(name) {
            None => missing.push(name.clone()),
            Some(t) if t.shape() != p.shape().as_slice() => {
                shapes.push(format!("{name} is {:?} in the file but {:?} in the model", t.shape(), p.shape()))
            }
            Some(_) => {}
        }
    }
    let names: BTreeSet<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
    let extra: Vec<String> = ckpt.tensors.keys().filter(|k| !names.contains(k.as_str())).cloned().collect();
    let mut problems = Vec::new();
    if !shapes.is_empty() {
        problems.push(format!("shapes differ: {}", list(&shapes)));
    }
    if !missing.is_empty() {
        problems.push(format!("missing from the file: {}", list(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("not in the model: {}", list(&extra)));
    }
    problems
}
