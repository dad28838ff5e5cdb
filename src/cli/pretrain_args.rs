//! The flags of a downstream task with a pre-trained encoder and few labels,
//! of `train mnist` and `train images`: `--init-from`, `--freeze encoder`,
//! `--labels-per-class` and `--encoder-lr-scale`.

use super::args::{name_flags, positive_f32, positive_usize};
use super::input_args::{InitName, Normalize};
use super::network::Network;
use backprop::checkpoint::{Checkpoint, CONFIG_KEY};
use backprop::data::Dataset;
use backprop::models::{PixelScale, NORMALIZE_KEY};
use backprop::nn::{has_batch_norm, MlpConfig};
use backprop::pretrain::{labelled_subset, Backbone};
use backprop::{Error, Param, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Parameters with their names, as an optimizer takes them.
type NamedParams = Vec<(String, Param)>;

/// What `--freeze` keeps fixed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frozen {
    /// Every layer but the output layer, in evaluation mode: only the output layer learns (a
    /// linear probe), on the features the encoder gives at test time (batch norm normalises with
    /// the encoder's running statistics and does not update them; dropout is off).
    Encoder,
    /// The encoder's weights only: its batch norm normalises each batch with the batch's own
    /// statistics and updates its running statistics from the labelled data, and its dropout
    /// stays on (PyTorch's `requires_grad_(False)` without `.eval()`; what `encoder` did
    /// before 2026-12-01).
    EncoderWeights,
}

impl Frozen {
    /// The value as given: `encoder` or `encoder-weights`.
    fn value(self) -> &'static str {
        match self {
            Frozen::Encoder => "encoder",
            Frozen::EncoderWeights => "encoder-weights",
        }
    }

    /// The flag as given: `--freeze encoder` or `--freeze encoder-weights`.
    fn flag(self) -> String {
        format!("--freeze {}", self.value())
    }
}

/// `--init-from`, `--freeze`, `--labels-per-class`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct FewLabelsArgs {
    /// Start the network's encoder (every layer but the output layer) from a pre-trained encoder
    /// (`backprop pretrain`'s encoder.safetensors); the tensor names and shapes, an MLP's
    /// --activation and the input scale (--normalize) must match.
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    /// Keep the encoder fixed and train only the output layer: a linear probe of the pre-trained
    /// encoder (without --init-from: of the randomly initialised one, a baseline). `encoder`
    /// freezes its batch-norm statistics too (evaluation mode: dropout off); `encoder-weights`
    /// only its weights, batch norm normalising with each batch's statistics.
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
    /// The training split, or K labelled examples per class of it. A class
    /// with too few is named by its index and, given `names` (an image
    /// folder's class folders), by its name.
    pub fn subset(&self, train: Dataset, seed: u64, names: Option<&[String]>) -> Result<Dataset> {
        let Some(k) = self.labels_per_class else { return Ok(train) };
        labelled_subset(&train, k, seed, names).map_err(|e| name_flags(e, &["labels_per_class"]))
    }

    /// The pre-trained encoder of `--init-from`, if given.
    pub fn load_encoder(&self) -> Result<Option<Checkpoint>> {
        self.init_from.as_deref().map(Checkpoint::load).transpose()
    }

    /// The input scale that `encoder` was pre-trained with (its
    /// `backprop.normalize` metadata), if it stores one: `train images`
    /// scales the inputs the same way instead of fitting `--normalize
    /// standard` anew to its own, maybe few, labelled images.
    pub fn encoder_scale(encoder: &Checkpoint) -> Result<Option<PixelScale>> {
        let Some(text) = encoder.metadata.get(NORMALIZE_KEY) else { return Ok(None) };
        let path = encoder.path.clone();
        PixelScale::from_metadata(text).map(Some).map_err(|message| Error::Checkpoint { path, message })
    }

    /// What a trained model's metadata records of these flags, so that
    /// `info` shows how it was trained: `backprop.init_from` (the encoder's
    /// path), `backprop.freeze` and `backprop.labels_per_class`, each when given.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let entries = [
            ("backprop.init_from", self.init_from.as_ref().map(|p| p.display().to_string())),
            ("backprop.freeze", self.freeze.map(|f| f.value().to_string())),
            ("backprop.labels_per_class", self.labels_per_class.map(|k| k.to_string())),
        ];
        entries.into_iter().filter_map(|(key, value)| Some((key.to_string(), value?))).collect()
    }

    /// Whether training runs in evaluation mode (`TrainConfig::eval_mode`):
    /// with `--freeze encoder`, whose batch-norm statistics stay as pre-trained.
    pub fn eval_mode(&self) -> bool {
        self.freeze == Some(Frozen::Encoder)
    }

    /// Each parameter's learning rate as a multiple of the rate: 1 for the
    /// output layer, `--encoder-lr-scale` (default 1) for the encoder.
    pub fn lr_scale(&self, model: &Network) -> Result<impl Fn(&str) -> f32> {
        self.check_has_encoder(model)?;
        let scale = self.encoder_lr_scale.unwrap_or(1.0);
        if let (Some(_), Some(frozen)) = (self.encoder_lr_scale, self.freeze) {
            let message = format!("sets the learning rate of the encoder, which {} keeps fixed", frozen.flag());
            return Err(Error::invalid("--encoder-lr-scale", message));
        }
        let head = model.backbone().head_prefix();
        Ok(move |name: &str| if name.starts_with(&head) { 1.0 } else { scale })
    }

    /// Errors when `--init zeros` is given with `--init-from` (the encoder
    /// starts from the file, not at 0: only the output layer would, and the
    /// note about equal hidden units would be false) or with `--freeze
    /// encoder` (a frozen all-zero encoder gives every image the same
    /// features: the probe can learn only the class frequencies).
    pub fn check_init(&self, init: InitName) -> Result<()> {
        if init != InitName::Zeros {
            return Ok(());
        }
        if self.init_from.is_some() {
            let message =
                "starts every weight at 0, but --init-from starts the encoder from the file: give one of the two";
            return Err(Error::invalid("--init", message));
        }
        if let Some(frozen) = self.freeze {
            let message = format!(
                "zeros with {} would probe an all-zero encoder: every image gets the same features, so the probe \
                 learns nothing but the class frequencies",
                frozen.flag()
            );
            return Err(Error::invalid("--init", message));
        }
        Ok(())
    }

    /// Errors when a flag that acts on the encoder is given for a network
    /// without one (no layer before the output layer: a logistic regression).
    fn check_has_encoder(&self, model: &Network) -> Result<()> {
        if !model.backbone().encoder_parameters().is_empty() {
            return Ok(());
        }
        let flags = [
            (self.init_from.is_some(), "--init-from", "start from a pre-trained one"),
            (self.freeze.is_some(), "--freeze", "freeze"),
            (self.encoder_lr_scale.is_some(), "--encoder-lr-scale", "set the learning rate of"),
        ];
        match flags.iter().find(|(given, ..)| *given) {
            Some((_, flag, what)) => Err(Error::invalid(
                *flag,
                format!(
                    "the network (a logistic regression) has no layer before its output layer: no encoder to {what}"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Loads the pre-trained encoder into `model` (with `--init-from`) and
    /// returns the parameters to train (all, or the output layer's with
    /// `--freeze encoder`) and a line saying what was done. The inputs are
    /// IDX pixels in [0, 1] (`train mnist`); see [`Self::apply_scaled`].
    pub fn apply(&self, model: &Network) -> Result<(NamedParams, Option<String>)> {
        self.check_has_encoder(model)?;
        self.apply_scaled(model, self.load_encoder()?.as_ref(), None)
    }

    /// As [`Self::apply`] with the `encoder` of [`Self::load_encoder`], for
    /// inputs scaled by `--normalize` (`normalize`; `None`: IDX pixels in
    /// [0, 1]). The encoder must have been pre-trained
    /// on inputs scaled the same way and, for an MLP, with the same
    /// `--activation`: features of other inputs, or through another
    /// activation, would be what it never learned.
    pub fn apply_scaled(
        &self,
        model: &Network,
        encoder: Option<&Checkpoint>,
        normalize: Option<Normalize>,
    ) -> Result<(NamedParams, Option<String>)> {
        self.check_has_encoder(model)?;
        let all = model.module().parameters();
        let backbone = model.backbone();
        let mut note = match encoder {
            Some(encoder) => {
                let tensors = backbone.load_encoder_from(encoder)?;
                check_encoder_settings(encoder, model, normalize)?;
                format!("encoder: {tensors} tensors from {}", encoder.path.display())
            }
            None if self.freeze.is_some() => "encoder: randomly initialised".to_string(),
            None => return Ok((all, None)),
        };
        let params = match self.freeze {
            Some(frozen) => {
                let head = backbone.head_prefix();
                let trained: Vec<(String, Param)> = all.into_iter().filter(|(n, _)| n.starts_with(&head)).collect();
                let count: usize = trained.iter().map(|(_, p)| p.numel()).sum();
                let how = match frozen {
                    Frozen::Encoder => "frozen in evaluation mode",
                    Frozen::EncoderWeights if has_batch_norm(&model.module().buffers()) => {
                        "weights frozen, batch norm on batch statistics"
                    }
                    Frozen::EncoderWeights => "weights frozen",
                };
                note.push_str(&format!(", {how} (linear probe: {count} parameters trained)"));
                trained
            }
            None => all,
        };
        Ok((params, Some(note)))
    }
}

/// Errors when the `encoder` was pre-trained with another MLP activation
/// than `model`'s, or on inputs scaled otherwise than `normalize` (`None`:
/// IDX pixels in [0, 1], which pretrain stores no scale for).
fn check_encoder_settings(encoder: &Checkpoint, model: &Network, normalize: Option<Normalize>) -> Result<()> {
    let (path, meta) = (encoder.path.as_path(), &encoder.metadata);
    if let (Network::Mlp(mlp), Some(config)) = (model, meta.get(CONFIG_KEY)) {
        let stored: Option<MlpConfig> = serde_json::from_str(config).ok();
        let (mine, theirs) = (mlp.config().activation, stored.map(|c| c.activation));
        if let Some(theirs) = theirs.filter(|&t| t != mine) {
            let message = format!(
                "the encoder {} was pre-trained with --activation {theirs} but this network's is {mine}: \
                 give --activation {theirs}",
                path.display()
            );
            return Err(Error::invalid("--activation", message));
        }
    }
    let theirs = match meta.get(NORMALIZE_KEY) {
        Some(text) => super::train_images::normalize_of(text).ok_or_else(|| Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!("bad {NORMALIZE_KEY} {text}"),
        })?,
        None => Normalize::Unit,
    };
    let mine = normalize.unwrap_or(Normalize::Unit);
    if theirs == mine {
        return Ok(());
    }
    let (mut theirs, mine) = (name(theirs), name(mine));
    if !meta.contains_key(NORMALIZE_KEY) {
        theirs.push_str(" (IDX pixels in [0, 1])");
    }
    let message = match normalize {
        Some(_) => format!(
            "the encoder {} was pre-trained on inputs scaled by --normalize {theirs} but this run's is {mine}: \
             give --normalize {theirs}",
            path.display()
        ),
        None => format!(
            "{} was pre-trained on inputs scaled by --normalize {theirs}, not on IDX pixels in [0, 1] as read here",
            path.display()
        ),
    };
    Err(Error::invalid(if normalize.is_some() { "--normalize" } else { "--init-from" }, message))
}

/// The flag value that names `n`: `none`, `unit` or `standard`.
fn name(n: Normalize) -> String {
    n.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string())
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
