//! The flags of a downstream task with a pre-trained encoder and few labels,
//! of `train mnist` and `train images`: `--init-from`, `--freeze encoder`,
//! `--labels-per-class` and `--encoder-lr-scale`.

use super::args::{name_flags, positive_f32, positive_usize};
use super::network::Network;
use backprop::data::Dataset;
use backprop::pretrain::{labelled_subset, Backbone};
use backprop::{Error, Param, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Parameters with their names, as an optimizer takes them.
type NamedParams = Vec<(String, Param)>;

/// What `--freeze` keeps fixed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frozen {
    /// Every layer but the output layer: only the output layer learns (a linear probe).
    Encoder,
}

/// `--init-from`, `--freeze`, `--labels-per-class`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct FewLabelsArgs {
    /// Start the network's encoder (every layer but the output layer) from a pre-trained encoder
    /// (`backprop pretrain`'s encoder.safetensors); the tensor names and shapes must match.
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    /// Keep the encoder fixed and train only the output layer: a linear probe of the pre-trained
    /// encoder (without --init-from: of the randomly initialised one, a baseline).
    #[arg(long, value_enum)]
    pub freeze: Option<Frozen>,
    /// Train on K labelled examples of each class only: a seeded (--seed), class-balanced subset
    /// of the training split.
    #[arg(long, value_name = "K", value_parser = positive_usize)]
    pub labels_per_class: Option<usize>,
    /// The encoder learns at S times the learning rate of the output layer (discriminative
    /// fine-tuning, Howard & Ruder 2018): a pre-trained encoder changes slowly while the fresh
    /// output layer learns. Without --init-from it applies to the random encoder (the same recipe
    /// from scratch).
    #[arg(long, value_name = "S", value_parser = positive_f32)]
    pub encoder_lr_scale: Option<f32>,
}

impl FewLabelsArgs {
    /// The training split, or K labelled examples per class of it.
    pub fn subset(&self, train: Dataset, seed: u64) -> Result<Dataset> {
        match self.labels_per_class {
            Some(k) => labelled_subset(&train, k, seed).map_err(|e| name_flags(e, &["labels_per_class"])),
            None => Ok(train),
        }
    }

    /// Each parameter's learning rate as a multiple of the rate: 1 for the
    /// output layer, `--encoder-lr-scale` (default 1) for the encoder.
    pub fn lr_scale(&self, model: &Network) -> Result<impl Fn(&str) -> f32> {
        let scale = self.encoder_lr_scale.unwrap_or(1.0);
        if self.encoder_lr_scale.is_some() && self.freeze.is_some() {
            let message = "sets the learning rate of the encoder, which --freeze encoder keeps fixed";
            return Err(Error::invalid("--encoder-lr-scale", message));
        }
        let head = model.backbone().head_prefix();
        Ok(move |name: &str| if name.starts_with(&head) { 1.0 } else { scale })
    }

    /// Loads the pre-trained encoder into `model` (with `--init-from`) and
    /// returns the parameters to train (all, or the output layer's with
    /// `--freeze encoder`) and a line saying what was done.
    pub fn apply(&self, model: &Network) -> Result<(NamedParams, Option<String>)> {
        let all = model.module().parameters();
        let backbone = model.backbone();
        if self.freeze.is_some() && backbone.encoder_parameters().is_empty() {
            let message = "the network has no layer before its output layer: no encoder to freeze";
            return Err(Error::invalid("--freeze", message));
        }
        let mut note = match &self.init_from {
            Some(path) => format!("encoder: {} tensors from {}", backbone.load_encoder(path)?, path.display()),
            None if self.freeze.is_some() => "encoder: randomly initialised".to_string(),
            None => return Ok((all, None)),
        };
        let params = match self.freeze {
            Some(Frozen::Encoder) => {
                let head = backbone.head_prefix();
                let trained: Vec<(String, Param)> = all.into_iter().filter(|(n, _)| n.starts_with(&head)).collect();
                let count: usize = trained.iter().map(|(_, p)| p.numel()).sum();
                note.push_str(&format!(", frozen (linear probe: {count} parameters trained)"));
                trained
            }
            None => all,
        };
        Ok((params, Some(note)))
    }
}

impl Network {
    /// The network as an encoder and its output layer.
    pub fn backbone(&self) -> Backbone<'_> {
        match self {
            Network::Mlp(m) => Backbone::Mlp(m),
            Network::Cnn(c) => Backbone::Cnn(c),
        }
    }
}
