//! One out-of-distribution score chosen by name ([`Method`]), fitted on
//! in-distribution data ([`Detector::fit`]) and stored in a classifier's
//! checkpoint with its rejection threshold ([`StoredDetector`]), so that
//! `predict` and `serve` answer "unknown" with it.

use super::{logits, Knn, Mahalanobis, Odin};
use crate::checkpoint::Checkpoint;
use crate::data::Dataset;
use crate::models::Classifier;
use crate::{Error, Result, Tensor};
use std::fmt;
use std::str::FromStr;

/// Checkpoint metadata key of a stored detector: `{"method":"knn","threshold":-0.41,"tpr":0.95,...}`.
pub const OOD_KEY: &str = "backprop.ood";
/// Checkpoint tensors whose names start so belong to the stored detector, not to the model.
pub const OOD_TENSOR_PREFIX: &str = "ood.";

/// The scores `backprop ood` knows. Every score is higher for inputs more
/// like the training data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Maximum softmax probability (Hendrycks & Gimpel, 2017).
    Msp,
    /// Maximum logit (Hendrycks et al., 2022).
    MaxLogit,
    /// Negative free energy, logsumexp of the logits (Liu et al., 2020).
    Energy,
    /// Temperature-scaled MSP of a perturbed input (Liang et al., 2018).
    Odin,
    /// Minus the Mahalanobis distance to the closest class mean of penultimate features (Lee et al., 2018).
    Mahalanobis,
    /// Minus the distance to the k-th nearest normalised training feature (Sun et al., 2022).
    Knn,
    /// Minus an autoencoder's reconstruction error (or minus the VAE's negative ELBO).
    Ae,
}

impl Method {
    /// Every classifier-based method, in the order `--method all` reports them.
    pub const CLASSIFIER: [Method; 6] =
        [Method::Msp, Method::MaxLogit, Method::Energy, Method::Odin, Method::Mahalanobis, Method::Knn];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::Msp => "msp",
            Method::MaxLogit => "maxlogit",
            Method::Energy => "energy",
            Method::Odin => "odin",
            Method::Mahalanobis => "mahalanobis",
            Method::Knn => "knn",
            Method::Ae => "ae",
        }
    }

    /// What the score is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Msp => "max softmax probability",
            Method::MaxLogit => "max logit",
            Method::Energy => "negative energy (logsumexp of the logits)",
            Method::Odin => "ODIN (temperature-scaled MSP of a perturbed input)",
            Method::Mahalanobis => "minus the Mahalanobis distance to the closest class mean",
            Method::Knn => "minus the distance to the k-th nearest training feature",
            Method::Ae => "minus the autoencoder's reconstruction error",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Method, String> {
        [Method::Msp, Method::MaxLogit, Method::Energy, Method::Odin, Method::Mahalanobis, Method::Knn, Method::Ae]
            .into_iter()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| format!("unknown method '{s}' (msp, maxlogit, energy, odin, mahalanobis, knn, ae)"))
    }
}

/// How [`Detector::fit`] fits what a method needs.
#[derive(Clone, Copy, Debug)]
pub struct FitOptions {
    /// ODIN's temperature ([`super::odin::DEFAULT_TEMPERATURE`]).
    pub temperature: f32,
    /// ODIN's perturbation size; `None` chooses it on the validation data ([`Odin::fit`]).
    pub epsilon: Option<f32>,
    /// k-NN's neighbour rank.
    pub k: usize,
    /// At most this many training features in the k-NN bank.
    pub bank_size: usize,
    /// Seeds the draw of the bank.
    pub seed: u64,
    /// Examples per forward pass.
    pub batch_size: usize,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions {
            temperature: super::odin::DEFAULT_TEMPERATURE,
            epsilon: None,
            k: 10,
            bank_size: 10_000,
            seed: 1,
            batch_size: 500,
        }
    }
}

/// The in-distribution data a [`Detector`] is fitted on, with the training
/// part's penultimate features computed once for every method that needs them.
#[derive(Debug)]
pub struct FitData<'a> {
    /// What the model trained on: Mahalanobis's means and covariance, the k-NN bank.
    pub train: &'a Dataset,
    /// In-distribution data the model did not train on: ODIN's epsilon.
    pub validation: &'a Dataset,
    features: std::cell::OnceCell<Tensor>,
}

impl<'a> FitData<'a> {
    /// The training and validation parts.
    pub fn new(train: &'a Dataset, validation: &'a Dataset) -> FitData<'a> {
        FitData { train, validation, features: std::cell::OnceCell::new() }
    }

    /// The penultimate features of the training part (computed on first use).
    pub fn train_features(&self, model: &Classifier<'_>, batch_size: usize) -> &Tensor {
        self.features.get_or_init(|| logits::outputs(model, &self.train.inputs, batch_size).features)
    }
}

/// A classifier-based score with what it was fitted to.
#[derive(Clone, Debug)]
pub enum Detector {
    /// See [`Method::Msp`].
    Msp,
    /// See [`Method::MaxLogit`].
    MaxLogit,
    /// See [`Method::Energy`] (temperature 1).
    Energy,
    /// See [`Method::Odin`].
    Odin(Odin),
    /// See [`Method::Mahalanobis`].
    Mahalanobis(Mahalanobis),
    /// See [`Method::Knn`].
    Knn(Knn),
}

impl Detector {
    /// Fits `method` for `model` on `data`: Mahalanobis's class means and
    /// covariance and the k-NN bank on its training part (in-distribution,
    /// labels in the model's classes), ODIN's perturbation size on its
    /// validation part (in-distribution data the model did not train on).
    /// Nothing is fitted on test or out-of-distribution data.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for [`Method::Ae`] (not a classifier
    /// score), a class without training examples, or ODIN's parameters.
    pub fn fit(method: Method, model: &Classifier<'_>, data: &FitData<'_>, options: &FitOptions) -> Result<Detector> {
        Ok(match method {
            Method::Msp => Detector::Msp,
            Method::MaxLogit => Detector::MaxLogit,
            Method::Energy => Detector::Energy,
            Method::Odin => Detector::Odin(match options.epsilon {
                Some(epsilon) => Odin { temperature: options.temperature, epsilon }.check()?,
                None => Odin::fit(model, &data.validation.inputs, options.temperature, options.batch_size)?,
            }),
            Method::Mahalanobis => {
                let features = data.train_features(model, options.batch_size);
                Detector::Mahalanobis(Mahalanobis::fit(features, &data.train.labels, model.classes.max(2))?)
            }
            Method::Knn => {
                let features = data.train_features(model, options.batch_size);
                Detector::Knn(Knn::fit(features, options.k, options.bank_size, options.seed)?)
            }
            Method::Ae => {
                return Err(Error::invalid("method", "ae scores with an autoencoder, not with the classifier"))
            }
        })
    }

    /// A reason to distrust the fit, for a warning: Mahalanobis's covariance
    /// of `D` features fitted on fewer than `10 * D` images (`fitted_on`) is
    /// poorly determined (below `D` it is singular and only the ridge keeps
    /// it invertible). `None` when there is none.
    ///
    /// ```
    /// use backprop::ood::{Detector, Mahalanobis};
    /// use backprop::Tensor;
    /// let f = Tensor::from_vec(vec![0.0, 1.0, 2.0, 1.0, 10.0, 0.0, 12.0, 0.0], &[4, 2]);
    /// let d = Detector::Mahalanobis(Mahalanobis::fit(&f, &[0, 0, 1, 1], 2)?);
    /// assert!(d.caveat(4).unwrap().contains("4 images for 2 features"));
    /// assert!(d.caveat(20).is_none());
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn caveat(&self, fitted_on: usize) -> Option<String> {
        let Detector::Mahalanobis(m) = self else { return None };
        let features = m.means.dim(1);
        (fitted_on < 10 * features).then(|| {
            format!(
                "the Mahalanobis covariance is fitted on {fitted_on} images for {features} features: so few leave it \
                 poorly determined (fit on at least {} images)",
                10 * features
            )
        })
    }

    /// The method it computes.
    pub fn method(&self) -> Method {
        match self {
            Detector::Msp => Method::Msp,
            Detector::MaxLogit => Method::MaxLogit,
            Detector::Energy => Method::Energy,
            Detector::Odin(_) => Method::Odin,
            Detector::Mahalanobis(_) => Method::Mahalanobis,
            Detector::Knn(_) => Method::Knn,
        }
    }

    /// The score of every row of `inputs` (`[N, D]`, what `model` reads);
    /// higher means more like the training data.
    ///
    /// # Errors
    /// When the fitted features have another width than the model's.
    pub fn scores(&self, model: &Classifier<'_>, inputs: &Tensor, batch_size: usize) -> Result<Vec<f32>> {
        match self {
            Detector::Odin(odin) => Ok(odin.scores(model, inputs, batch_size)),
            _ => self.scores_from(&logits::outputs(model, inputs, batch_size)),
        }
    }

    /// The scores from already computed outputs ([`logits::outputs`]), for
    /// every method but ODIN, which needs the model to perturb the inputs.
    ///
    /// # Errors
    /// For ODIN, and when the fitted features have another width than `out`'s.
    pub fn scores_from(&self, out: &logits::Outputs) -> Result<Vec<f32>> {
        match self {
            Detector::Msp => Ok(logits::msp(&out.logits)),
            Detector::MaxLogit => Ok(logits::max_logit(&out.logits)),
            Detector::Energy => Ok(logits::neg_energy(&out.logits, 1.0)),
            Detector::Mahalanobis(m) => m.scores(&out.features),
            Detector::Knn(k) => k.scores(&out.features),
            Detector::Odin(_) => Err(Error::invalid("method", "ODIN perturbs the inputs: score with Detector::scores")),
        }
    }

    /// Parameters for people and JSON: ODIN's temperature and epsilon, k-NN's k and bank size, ...
    pub fn parameters(&self) -> serde_json::Value {
        match self {
            Detector::Odin(o) => serde_json::json!({ "temperature": o.temperature, "epsilon": o.epsilon }),
            Detector::Mahalanobis(m) => serde_json::json!({ "classes": m.means.dim(0), "features": m.means.dim(1) }),
            Detector::Knn(k) => serde_json::json!({ "k": k.k, "bank": k.bank.dim(0), "features": k.bank.dim(1) }),
            _ => serde_json::json!({}),
        }
    }
}

/// A detector stored in a checkpoint, with the threshold below which an input is "unknown".
#[derive(Clone, Debug)]
pub struct StoredDetector {
    /// The score and what it was fitted to.
    pub detector: Detector,
    /// Scores below it are rejected.
    pub threshold: f32,
    /// The share of in-distribution validation examples the threshold kept when it was chosen.
    pub tpr: f64,
}

impl StoredDetector {
    /// Writes it into `ckpt`: [`OOD_KEY`] metadata and `ood.*` tensors,
    /// replacing any detector stored before (and the MSP-only
    /// [`REJECT_KEY`](super::REJECT_KEY) threshold).
    pub fn store(&self, ckpt: &mut Checkpoint) {
        ckpt.tensors.retain(|name, _| !name.starts_with(OOD_TENSOR_PREFIX));
        ckpt.metadata.remove(super::REJECT_KEY);
        let mut meta = self.detector.parameters();
        meta["method"] = self.detector.method().name().into();
        meta["threshold"] = self.threshold.into();
        meta["tpr"] = self.tpr.into();
        match &self.detector {
            Detector::Mahalanobis(m) => {
                ckpt.tensors.insert("ood.means".into(), m.means.clone());
                ckpt.tensors.insert("ood.precision".into(), m.precision.clone());
            }
            Detector::Knn(k) => {
                ckpt.tensors.insert("ood.bank".into(), k.bank.clone());
            }
            _ => {}
        }
        ckpt.metadata.insert(OOD_KEY.into(), meta.to_string());
    }

    /// The detector `ckpt` stores under [`OOD_KEY`], if any.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file when the entry does not parse,
    /// names an unknown method, or its tensors are missing or misshapen.
    pub fn load(ckpt: &Checkpoint) -> Result<Option<StoredDetector>> {
        let Some(text) = ckpt.metadata.get(OOD_KEY) else { return Ok(None) };
        let fail = |m: String| Error::Checkpoint { path: ckpt.path.clone(), message: format!("bad {OOD_KEY}: {m}") };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        let method: Method = v["method"].as_str().unwrap_or("").parse().map_err(fail)?;
        let number = |key: &str| v[key].as_f64().filter(|x| x.is_finite()).ok_or_else(|| fail(format!("no {key}")));
        let tensor = |name: &str| ckpt.tensors.get(name).cloned().ok_or_else(|| fail(format!("no tensor {name}")));
        let detector = match method {
            Method::Msp => Detector::Msp,
            Method::MaxLogit => Detector::MaxLogit,
            Method::Energy => Detector::Energy,
            Method::Odin => {
                let odin = Odin { temperature: number("temperature")? as f32, epsilon: number("epsilon")? as f32 };
                Detector::Odin(odin.check().map_err(|e| fail(e.to_string()))?)
            }
            Method::Mahalanobis => {
                let (means, precision) = (tensor("ood.means")?, tensor("ood.precision")?);
                let d = means.shape().get(1).copied().unwrap_or(0);
                if means.ndim() != 2 || precision.shape() != [d, d] {
                    let message =
                        format!("ood.means {:?} and ood.precision {:?} do not fit", means.shape(), precision.shape());
                    return Err(fail(message));
                }
                Detector::Mahalanobis(Mahalanobis { means, precision })
            }
            Method::Knn => {
                let bank = tensor("ood.bank")?;
                let k = number("k")? as usize;
                if bank.ndim() != 2 || k == 0 || k > bank.dim(0) {
                    return Err(fail(format!("k {k} does not fit the bank of shape {:?}", bank.shape())));
                }
                Detector::Knn(Knn { bank, k })
            }
            Method::Ae => return Err(fail("method ae cannot be stored in a classifier".into())),
        };
        Ok(Some(StoredDetector { detector, threshold: number("threshold")? as f32, tpr: number("tpr")? }))
    }
}
