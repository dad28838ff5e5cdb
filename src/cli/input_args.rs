//! How a training command prepares its inputs and starts its weights, each
//! flag declared once: `--normalize none|unit|standard` ([`NormalizeArg`])
//! and `--init default|zeros` ([`InitArg`]).
//!
//! `--normalize unit --init zeros` with full-batch gradient descent
//! (`--optimizer sgd --lr 0.005 --schedule constant --batch-size N`) is the
//! logistic regression of Andrew Ng's Deep Learning course: pixels / 255,
//! weights and bias initialised to 0.

use backprop::nn::Module;
use backprop::{Error, Result, Tensor};
use clap::{Args, ValueEnum};

/// How the inputs are scaled before they enter the model.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Normalize {
    /// The values as they are: pixels from 0 to 255, CSV columns in their units.
    None,
    /// Pixels divided by 255, into [0, 1].
    Unit,
    /// Centred and scaled by the training split's mean and standard deviation.
    Standard,
}

/// `--normalize`: the input scaling, stored in the checkpoint so `predict` applies the same.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct NormalizeArg {
    /// Input scaling, stored in the checkpoint and applied again by predict: none (raw values:
    /// pixels 0-255), unit (pixels / 255) or standard (the training split's mean and standard
    /// deviation).
    #[arg(long, value_enum, default_value = "standard")]
    pub normalize: Normalize,
}

/// How the weights start.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InitName {
    /// The layers' own initialisation (He for ReLU, Xavier for the others; zero biases).
    Default,
    /// Every weight and bias 0 (fine without hidden layers; with them, the units of a layer
    /// stay identical).
    Zeros,
}

/// `--init`: the initial weights.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct InitArg {
    /// Initial weights: default (He/Xavier) or zeros (every weight and bias 0, as in the
    /// course's logistic regression).
    #[arg(long, value_enum, default_value = "default")]
    pub init: InitName,
}

impl InitArg {
    /// Sets every parameter of `model` to 0 for `--init zeros`; returns the
    /// note to print when the model has hidden layers (zero-initialised
    /// units of a layer get the same gradient, so they never differ).
    pub fn apply(self, model: &dyn Module, hidden_layers: usize) -> Option<String> {
        if self.init == InitName::Default {
            return None;
        }
        for (_, p) in model.parameters() {
            p.set_value(Tensor::zeros(&p.shape()));
        }
        (hidden_layers > 0).then(|| {
            "note: --init zeros with hidden layers: the units of each hidden layer start equal, get equal \
             gradients and stay equal (the symmetry is never broken)"
                .to_string()
        })
    }
}

impl NormalizeArg {
    /// Refuses `unit` (pixels / 255) for a command whose inputs are not pixels.
    pub fn no_pixels(self) -> Result<NormalizeArg> {
        if self.normalize == Normalize::Unit {
            return Err(Error::invalid("--normalize", "unit divides pixels by 255; use standard or none here"));
        }
        Ok(self)
    }
}
