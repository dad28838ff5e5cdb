//! The model loader: a checkpoint names its kind, and [`load`] turns any
//! checkpoint into a [`Model`] kept beside its metadata ([`LoadedModel`]).
//!
//! Code that uses a model asks the loaded model for what it needs — a
//! [`Classifier`] (an MLP or a CNN), a [`Regressor`], a [`LanguageModel`] — and gets a one-line
//! error naming the file, what it holds and what was needed when it does not
//! fit. Adding a kind of model touches only this file and the model itself:
//! a variant of [`Model`], its arm in [`Model::from_checkpoint`], and the
//! roles it can play.
//!
//! ```
//! use backprop::nn::{Activation, Mlp, MlpConfig};
//! use backprop::{models, tensor::Rng};
//! let dir = std::env::temp_dir().join(format!("bp-doc-models-{}", std::process::id()));
//! let path = dir.join("m.safetensors");
//! let mlp = Mlp::new(MlpConfig::classifier(4, &[3], 2, Activation::Relu), &mut Rng::new(0));
//! mlp.save(&path, &Default::default()).unwrap();
//!
//! let loaded = models::load(&path).unwrap();
//! assert_eq!(loaded.model.kind(), "mlp");
//! let classifier = loaded.classifier("eval").unwrap();
//! assert_eq!((classifier.inputs, classifier.classes), (4, 2));
//! // An MLP classifier is no language model: the error says so in one line.
//! let e = loaded.language_model("generate").unwrap_err().to_string();
//! assert!(e.contains("m.safetensors: holds an MLP classifier, not a GPT language model as generate needs"), "{e}");
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

mod metadata;
mod regression;

pub use regression::{RegressionMeta, Scalers, FEATURES_KEY, STANDARDIZER_KEY, TARGETS_KEY, WINDOW_KEY};

use crate::checkpoint::{Checkpoint, KIND_KEY};
use crate::data::{CharTokenizer, ImageShape};
use crate::gan::{Gan, GAN_KIND};
use crate::loss::Loss;
use crate::nn::{Autoencoder, Cnn, Gpt, Mlp, Module, AUTOENCODER_KIND};
use crate::rl::{Policy, POLICY_KIND};
use crate::{Error, Result};
use std::path::Path;

/// Metadata key describing the inputs: `{"image":[rows,cols]}`, plus `"channels"` for image files.
pub const INPUT_KEY: &str = "backprop.input";
/// Metadata key naming the task; `"regression"` for regression models (absent for classifiers).
pub const TASK_KEY: &str = "backprop.task";
/// Metadata key with the loss the model was trained with (`cross-entropy`, `mse`, ...).
pub const LOSS_KEY: &str = "backprop.loss";
/// Metadata key holding a JSON list of class names.
pub const CLASSES_KEY: &str = "backprop.classes";
/// Metadata key of the input normalisation `{"mean":M,"std":S}`.
pub const NORMALIZE_KEY: &str = "backprop.normalize";

/// The kinds of model this version reads, as stored under [`KIND_KEY`].
pub const KINDS: &[&str] = &["mlp", "cnn", "gpt", POLICY_KIND, GAN_KIND, AUTOENCODER_KIND];

/// A model rebuilt from a checkpoint, one variant per kind.
#[non_exhaustive]
pub enum Model {
    /// A multi-layer perceptron (`"mlp"`): a classifier or a regressor.
    Mlp(Mlp),
    /// A convolutional network (`"cnn"`): an image classifier.
    Cnn(Cnn),
    /// A character-level GPT (`"gpt"`) and its tokenizer.
    Gpt {
        /// The network.
        model: Gpt,
        /// The characters it reads and writes.
        tokenizer: CharTokenizer,
    },
    /// A reinforcement-learning agent's policy (`"policy"`): observations to action logits or Q-values.
    Policy(Policy),
    /// A generative adversarial network (`"gan"`): generator and discriminator.
    Gan(Gan),
    /// An autoencoder (`"autoencoder"`): images in, their reconstructions out; an anomaly scorer.
    Autoencoder(Autoencoder),
}

impl Model {
    /// Rebuilds the model a checkpoint holds, by its [`KIND_KEY`] entry.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Model> {
        match ckpt.require(KIND_KEY)? {
            "mlp" => Ok(Model::Mlp(Mlp::from_checkpoint(ckpt)?)),
            "cnn" => Ok(Model::Cnn(Cnn::from_checkpoint(ckpt)?)),
            "gpt" => {
                let (model, tokenizer) = Gpt::from_checkpoint(ckpt)?;
                Ok(Model::Gpt { model, tokenizer })
            }
            POLICY_KIND => Ok(Model::Policy(Policy::from_checkpoint(ckpt)?)),
            GAN_KIND => Ok(Model::Gan(Gan::from_checkpoint(ckpt)?)),
            AUTOENCODER_KIND => Ok(Model::Autoencoder(Autoencoder::from_checkpoint(ckpt)?)),
            crate::pretrain::ENCODER_KIND => Err(Error::Checkpoint {
                path: ckpt.path.clone(),
                message: "holds a pre-trained encoder (backprop pretrain), a network without its output layer: \
                          fine-tune it with train mnist|images --init-from FILE"
                    .into(),
            }),
            other => Err(Error::Checkpoint {
                path: ckpt.path.clone(),
                message: format!(
                    "holds a model of kind '{other}', which this version cannot read (it reads {})",
                    KINDS.join(", ")
                ),
            }),
        }
    }

    /// The kind, as stored under [`KIND_KEY`].
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Mlp(_) => "mlp",
            Model::Cnn(_) => "cnn",
            Model::Gpt { .. } => "gpt",
            Model::Policy(_) => POLICY_KIND,
            Model::Gan(_) => GAN_KIND,
            Model::Autoencoder(_) => AUTOENCODER_KIND,
        }
    }

    /// The network as a [`Module`] (forward pass and named parameters).
    pub fn module(&self) -> &dyn Module {
        match self {
            Model::Mlp(m) => m,
            Model::Cnn(m) => m,
            Model::Gpt { model, .. } => model,
            Model::Policy(p) => p,
            Model::Gan(gan) => gan,
            Model::Autoencoder(a) => a,
        }
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({})", self.kind())
    }
}

/// A model with the checkpoint it was read from (its metadata describes the
/// inputs, classes, task and training loss).
#[derive(Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// The checkpoint: path, tensors and metadata.
    pub checkpoint: Checkpoint,
}

/// Reads the checkpoint at `path` and rebuilds the model it holds.
///
/// Errors name the file: missing, not safetensors, a non-finite weight, no
/// or an unknown [`KIND_KEY`], a configuration the tensors do not match,
/// metadata that does not fit the model (see [`LoadedModel::from_checkpoint`]).
pub fn load(path: &Path) -> Result<LoadedModel> {
    LoadedModel::from_checkpoint(Checkpoint::load(path)?)
}

impl LoadedModel {
    /// Rebuilds the model of an already read checkpoint and checks its
    /// metadata against it: the loss name; for a classifier the image shape,
    /// the class names, the pixel scale and the rejection threshold; for a
    /// regression model its [`RegressionMeta`] (column counts and the
    /// standardisations).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file and what does not fit.
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Result<LoadedModel> {
        let loaded = LoadedModel { model: Model::from_checkpoint(&checkpoint)?, checkpoint };
        loaded.check_metadata()?;
        Ok(loaded)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.checkpoint.path
    }

    /// What the file holds, for messages: "a GPT language model", "an MLP classifier", ...
    pub fn description(&self) -> String {
        match &self.model {
            Model::Gpt { .. } => "a GPT language model".into(),
            Model::Cnn(_) if self.has_channels() => "a colour image CNN classifier".into(),
            Model::Cnn(_) => "a CNN classifier".into(),
            Model::Policy(p) => format!("a {} policy trained by {}", p.env(), p.algo()),
            Model::Gan(_) => "a GAN (an image generator)".into(),
            Model::Autoencoder(a) if a.config().variational => "a variational autoencoder".into(),
            Model::Autoencoder(_) => "an autoencoder".into(),
            Model::Mlp(_) => match self.task() {
                Some("regression") => "a CSV regression model".into(),
                Some(task) => format!("an MLP for task '{task}'"),
                None if self.has_channels() => "a colour image classifier".into(),
                None => "an MLP classifier".into(),
            },
        }
    }

    /// The one-line error for a command (`user`) that needs `need` ("a classifier")
    /// but got this model: `FILE: holds a GPT language model, not a classifier as eval needs`.
    pub fn mismatch(&self, user: &str, need: &str) -> Error {
        Error::Checkpoint {
            path: self.checkpoint.path.clone(),
            message: format!("holds {}, not {need} as {user} needs", self.description()),
        }
    }

    /// The model as a classifier: a CNN, or an MLP without a regression (or
    /// other) task. `user` names who asks, for the error.
    pub fn classifier(&self, user: &str) -> Result<Classifier<'_>> {
        match &self.model {
            Model::Mlp(mlp) if self.task().is_none() => {
                let c = mlp.config();
                let (inputs, classes) = (c.inputs, c.outputs);
                Ok(Classifier { module: mlp, mlp: Some(mlp), cnn: None, inputs, classes, loaded: self })
            }
            Model::Cnn(cnn) if self.task().is_none() => {
                let (inputs, classes) = (cnn.config().inputs(), cnn.outputs());
                Ok(Classifier { module: cnn, mlp: None, cnn: Some(cnn), inputs, classes, loaded: self })
            }
            _ => Err(self.mismatch(user, "a classifier")),
        }
    }

    /// The model as a regressor: an MLP whose [`TASK_KEY`] is `"regression"`.
    pub fn regressor(&self, user: &str) -> Result<Regressor<'_>> {
        match &self.model {
            Model::Mlp(mlp) if self.task() == Some("regression") => {
                let c = mlp.config();
                Ok(Regressor { module: mlp, inputs: c.inputs, outputs: c.outputs, checkpoint: &self.checkpoint })
            }
            _ => Err(self.mismatch(user, "a regression model")),
        }
    }

    /// The model as a language model: a GPT and its tokenizer.
    pub fn language_model(&self, user: &str) -> Result<LanguageModel<'_>> {
        match &self.model {
            Model::Gpt { model, tokenizer } => Ok(LanguageModel { model, tokenizer }),
            _ => Err(self.mismatch(user, "a GPT language model")),
        }
    }

    /// The model as a reinforcement-learning policy (what `play` runs).
    pub fn policy(&self, user: &str) -> Result<&Policy> {
        match &self.model {
            Model::Policy(p) => Ok(p),
            _ => Err(self.mismatch(user, "a reinforcement-learning policy")),
        }
    }

    /// The model as a GAN (what `generate` and `gan-score` read).
    pub fn gan(&self, user: &str) -> Result<&Gan> {
        match &self.model {
            Model::Gan(gan) => Ok(gan),
            _ => Err(self.mismatch(user, "a GAN")),
        }
    }

    /// The model as an autoencoder (what `ood --method ae` scores with).
    pub fn autoencoder(&self, user: &str) -> Result<&Autoencoder> {
        match &self.model {
            Model::Autoencoder(a) => Ok(a),
            _ => Err(self.mismatch(user, "an autoencoder")),
        }
    }

    /// The loss the model was trained with ([`LOSS_KEY`]; cross-entropy when it does not say).
    pub fn loss(&self) -> Loss {
        self.checkpoint.metadata.get(LOSS_KEY).and_then(|s| s.parse().ok()).unwrap_or(Loss::CrossEntropy)
    }

    fn task(&self) -> Option<&str> {
        self.checkpoint.metadata.get(TASK_KEY).map(String::as_str)
    }

    /// Whether [`INPUT_KEY`] names channels: a model of image files.
    fn has_channels(&self) -> bool {
        self.checkpoint
            .metadata
            .get(INPUT_KEY)
            .is_some_and(|s| serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.get("channels").is_some()))
    }

    fn fail(&self, message: String) -> Error {
        Error::Checkpoint { path: self.checkpoint.path.clone(), message }
    }
}

/// A classifier: `[N, inputs]` in, `[N, classes]` scores (logits) out.
#[derive(Clone, Copy)]
pub struct Classifier<'a> {
    /// The network.
    pub module: &'a dyn Module,
    /// The same network as an MLP, when it is one (to read its layers).
    pub mlp: Option<&'a Mlp>,
    /// The same network as a CNN, when it is one (its feature maps, Grad-CAM).
    pub cnn: Option<&'a Cnn>,
    /// Values per example.
    pub inputs: usize,
    /// Outputs: one score per class (a single logit for two classes with a sigmoid).
    pub classes: usize,
    loaded: &'a LoadedModel,
}

impl std::fmt::Debug for Classifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier").field("inputs", &self.inputs).field("classes", &self.classes).finish()
    }
}

/// How image pixels are scaled before they enter a model: `(v - mean) / std`,
/// with the mean and standard deviation of the training set (stored under
/// [`NORMALIZE_KEY`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelScale {
    /// Subtracted first.
    pub mean: f32,
    /// Then divided by.
    pub std: f32,
}

impl PixelScale {
    /// The mean and standard deviation of every value of `data`'s inputs
    /// (the standard deviation at least 1e-3, so a blank set divides safely).
    ///
    /// ```
    /// use backprop::{data::Dataset, models::PixelScale, Tensor};
    /// let data = Dataset::new(Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0], &[2, 2]), vec![0, 1], 2).unwrap();
    /// let scale = PixelScale::fit(&data);
    /// assert_eq!((scale.mean, scale.std), (0.5, 0.5));
    /// assert_eq!(scale.apply(data).inputs.data(), &[-1.0, 1.0, -1.0, 1.0]);
    /// ```
    pub fn fit(data: &crate::data::Dataset) -> PixelScale {
        let values = data.inputs.data();
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        PixelScale { mean: mean as f32, std: (var.sqrt() as f32).max(1e-3) }
    }

    /// `(v - mean) / std` for every input value.
    pub fn apply(self, mut data: crate::data::Dataset) -> crate::data::Dataset {
        data.inputs.map_inplace(|v| (v - self.mean) / self.std);
        data
    }

    /// Reads a metadata entry ([`NORMALIZE_KEY`]) back; the error says what
    /// is wrong with `text`.
    ///
    /// ```
    /// use backprop::models::PixelScale;
    /// let scale = PixelScale { mean: 0.25, std: 0.5 };
    /// assert_eq!(PixelScale::from_metadata(&scale.to_metadata().1), Ok(scale));
    /// assert!(PixelScale::from_metadata(r#"{"mean":0,"std":0}"#).is_err());
    /// assert!(PixelScale::from_metadata(r#"{"mean":1e39,"std":1e-45}"#).is_err()); // not f32s
    /// ```
    pub fn from_metadata(text: &str) -> std::result::Result<PixelScale, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad {NORMALIZE_KEY}: {e}"))?;
        // Checked as the f32 values used: a mean beyond f32's range would be
        // infinite, a subnormal deviation would divide pixels to infinity.
        let (mean, std) = (v["mean"].as_f64().map(|m| m as f32), v["std"].as_f64().map(|s| s as f32));
        match (mean, std) {
            (Some(mean), Some(std)) if mean.is_finite() && std.is_normal() && std > 0.0 => Ok(PixelScale { mean, std }),
            _ => Err(format!(
                "{NORMALIZE_KEY} {text} is not {{\"mean\":M,\"std\":S}} with S > 0 (both finite 32-bit floats)"
            )),
        }
    }

    /// The metadata entry ([`NORMALIZE_KEY`], `{"mean":M,"std":S}`).
    pub fn to_metadata(self) -> (String, String) {
        (NORMALIZE_KEY.to_string(), serde_json::json!({ "mean": self.mean, "std": self.std }).to_string())
    }
}

impl<'a> Classifier<'a> {
    /// The loaded model (path and metadata) it comes from.
    pub fn loaded(&self) -> &'a LoadedModel {
        self.loaded
    }

    /// Whether it reads image files with channels and stored class names and
    /// pixel scale, rather than grayscale IDX-style images in [0, 1].
    pub fn has_channels(&self) -> bool {
        self.loaded.has_channels()
    }

    /// This classifier if it takes grayscale IDX-style images (no channels),
    /// else the error that `user` needs one.
    pub fn grayscale(self, user: &str) -> Result<Classifier<'a>> {
        if self.has_channels() {
            return Err(self.loaded.mismatch(user, "a grayscale image classifier"));
        }
        Ok(self)
    }

    /// Errors unless the model has at least one output (a class to name).
    pub fn require_outputs(self) -> Result<Classifier<'a>> {
        if self.classes == 0 {
            return Err(self.loaded.fail("the model has no outputs".into()));
        }
        Ok(self)
    }

    /// The image shape the inputs are: a CNN's configured input; else from
    /// [`INPUT_KEY`] (rows, cols and, for image-file models, channels), else
    /// a grayscale square.
    pub fn image_shape(&self) -> Result<ImageShape> {
        if let Some(cnn) = self.cnn {
            let [channels, height, width] = cnn.config().input;
            return Ok(ImageShape { height, width, channels });
        }
        if self.has_channels() {
            return self.channel_shape();
        }
        let inputs = self.inputs;
        if let Some(s) = self.loaded.checkpoint.metadata.get(INPUT_KEY) {
            let v: serde_json::Value =
                serde_json::from_str(s).map_err(|e| self.loaded.fail(format!("bad {INPUT_KEY}: {e}")))?;
            if let Some([r, c]) =
                v["image"].as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref()
            {
                let [r, c] = [*r as usize, *c as usize];
                if inputs == 0 || r.checked_mul(c) != Some(inputs) {
                    let message = format!("{INPUT_KEY} says {r}x{c} images but the model takes {inputs} inputs");
                    return Err(self.loaded.fail(message));
                }
                return Ok(ImageShape { height: r, width: c, channels: 1 });
            }
        }
        let side = (inputs as f64).sqrt().round() as usize;
        if inputs > 0 && side * side == inputs {
            Ok(ImageShape { height: side, width: side, channels: 1 })
        } else {
            Err(self.loaded.fail(format!("a model with {inputs} inputs does not take images")))
        }
    }

    fn channel_shape(&self) -> Result<ImageShape> {
        let text = self.loaded.checkpoint.metadata.get(INPUT_KEY).map_or("", String::as_str);
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| self.loaded.fail(format!("bad {INPUT_KEY}: {e}")))?;
        let side = |i: usize| v["image"].get(i).and_then(serde_json::Value::as_u64).map(|n| n as usize);
        let shape = match (side(0), side(1), v["channels"].as_u64().map(|n| n as usize)) {
            (Some(height @ 1..=4096), Some(width @ 1..=4096), Some(channels @ (1 | 3))) => {
                ImageShape { height, width, channels }
            }
            _ => {
                let message = format!("{INPUT_KEY} {text} is not {{\"image\":[rows,cols],\"channels\":1|3}}");
                return Err(self.loaded.fail(message));
            }
        };
        if shape.len() != self.inputs {
            let message = format!("{INPUT_KEY} says {shape} images but the model takes {} inputs", self.inputs);
            return Err(self.loaded.fail(message));
        }
        Ok(shape)
    }

    /// The class names (one per output; two for a single logit), or numbers when none are stored.
    pub fn class_names(&self) -> Result<Vec<String>> {
        let expected = if self.classes == 1 { 2 } else { self.classes };
        let Some(text) = self.loaded.checkpoint.metadata.get(CLASSES_KEY) else {
            return Ok((0..expected).map(|c| c.to_string()).collect());
        };
        let names: Vec<String> =
            serde_json::from_str(text).map_err(|e| self.loaded.fail(format!("bad {CLASSES_KEY}: {e}")))?;
        if names.len() != expected {
            let message =
                format!("{CLASSES_KEY} names {} classes but the model has {} outputs", names.len(), self.classes);
            return Err(self.loaded.fail(message));
        }
        Ok(names)
    }

    /// The input normalisation stored at training time ([`NORMALIZE_KEY`]; none when absent).
    pub fn pixel_scale(&self) -> Result<PixelScale> {
        let Some(text) = self.loaded.checkpoint.metadata.get(NORMALIZE_KEY) else {
            return Ok(PixelScale { mean: 0.0, std: 1.0 });
        };
        PixelScale::from_metadata(text).map_err(|e| self.loaded.fail(e))
    }
}

/// A regression model: `[N, inputs]` standardised values in, `[N, outputs]` out.
#[derive(Clone, Copy)]
pub struct Regressor<'a> {
    /// The network.
    pub module: &'a dyn Module,
    /// Values per example.
    pub inputs: usize,
    /// Predicted values per example.
    pub outputs: usize,
    /// The checkpoint, whose metadata describes the columns and scaling.
    pub checkpoint: &'a Checkpoint,
}

impl Regressor<'_> {
    /// The column names, window and standardisations stored beside the
    /// weights, checked against the model (see [`RegressionMeta::from_checkpoint`]).
    pub fn meta(&self) -> Result<RegressionMeta> {
        RegressionMeta::from_checkpoint(self.checkpoint, self.inputs, self.outputs)
    }
}

impl std::fmt::Debug for Regressor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regressor").field("inputs", &self.inputs).field("outputs", &self.outputs).finish()
    }
}

/// A language model: a GPT and the tokenizer of its vocabulary.
#[derive(Clone, Copy)]
pub struct LanguageModel<'a> {
    /// The network.
    pub model: &'a Gpt,
    /// Its characters.
    pub tokenizer: &'a CharTokenizer,
}

impl std::fmt::Debug for LanguageModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModel").field("config", self.model.config()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Standardizer;
    use crate::nn::{Activation, GptConfig, MlpConfig};
    use crate::tensor::Rng;
    use std::collections::BTreeMap;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("bp-models-{name}-{}", std::process::id())).join("m.safetensors")
    }

    #[test]
    fn roles_fit_or_say_why_in_one_line() {
        let path = temp("roles");
        let mlp = Mlp::new(MlpConfig::classifier(4, &[], 1, Activation::Relu), &mut Rng::new(0));
        let scalers = Scalers { inputs: Standardizer::identity(4), targets: Standardizer::identity(1) };
        let features = ["a", "b", "c", "d"].map(String::from).to_vec();
        let meta = RegressionMeta { features, targets: vec!["y".into()], window: None, scalers };
        mlp.save(&path, &meta.to_metadata()).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.regressor("predict").unwrap().inputs, 4);
        let e = loaded.classifier("eval").unwrap_err().to_string();
        assert!(e.contains("holds a CSV regression model, not a classifier as eval needs"), "{e}");
        assert!(!e.contains('\n'));
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn a_gpt_is_a_language_model_only() {
        let path = temp("gpt");
        let tokenizer = CharTokenizer::from_text("abc");
        let cfg = GptConfig {
            vocab_size: 3,
            block_size: 4,
            layers: 1,
            heads: 1,
            embd: 4,
            dropout: 0.0,
            bias: true,
            tied: false,
        };
        Gpt::new(cfg, &mut Rng::new(0)).unwrap().save(&path, &tokenizer).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.model.kind(), "gpt");
        assert_eq!(loaded.language_model("generate").unwrap().tokenizer.vocab_size(), 3);
        let e = loaded.classifier("eval").unwrap_err().to_string();
        assert!(e.contains("holds a GPT language model, not a classifier as eval needs"), "{e}");
        assert!(loaded.regressor("predict").is_err());
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }

    #[test]
    fn unknown_kinds_are_named() {
        let path = temp("unknown");
        let meta: BTreeMap<String, String> = [(KIND_KEY.to_string(), "rnn".to_string())].into();
        crate::checkpoint::save(&path, &[], &meta).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("kind 'rnn'") && e.contains("mlp, cnn, gpt, policy"), "{e}");
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}
