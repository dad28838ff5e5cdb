//! What a regression checkpoint stores beside its weights: the column names,
//! the time-series window and the standardisation fitted on the training split.

use backprop::checkpoint::Checkpoint;
use backprop::data::Standardizer;
use backprop::nn::Mlp;
use backprop::{Error, Result};
use std::collections::BTreeMap;

/// Metadata key naming the task; `"regression"` for models from `train csv`.
pub(crate) const TASK_KEY: &str = "backprop.task";
/// Metadata key of the input and target standardisation (JSON).
pub(crate) const STANDARDIZER_KEY: &str = "backprop.standardizer";
const FEATURES_KEY: &str = "backprop.features";
const TARGETS_KEY: &str = "backprop.targets";
const WINDOW_KEY: &str = "backprop.window";

/// The input and target standardisations, as stored under [`STANDARDIZER_KEY`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Scalers {
    pub inputs: Standardizer,
    pub targets: Standardizer,
}

/// Everything besides the weights that a regression model needs to predict.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RegressionMeta {
    /// Input column names (empty for a time series: the inputs are past values of the target).
    pub features: Vec<String>,
    /// Target column names.
    pub targets: Vec<String>,
    /// For a time series: how many past values predict the next.
    pub window: Option<usize>,
    pub scalers: Scalers,
}

impl RegressionMeta {
    /// The checkpoint metadata entries.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut meta = BTreeMap::new();
        meta.insert(TASK_KEY.to_string(), "regression".to_string());
        meta.insert(STANDARDIZER_KEY.to_string(), json(&self.scalers));
        meta.insert(FEATURES_KEY.to_string(), json(&self.features));
        meta.insert(TARGETS_KEY.to_string(), json(&self.targets));
        if let Some(w) = self.window {
            meta.insert(WINDOW_KEY.to_string(), w.to_string());
        }
        meta
    }

    /// Reads the entries back and checks them against the model's sizes.
    pub fn from_checkpoint(ckpt: &Checkpoint, model: &Mlp) -> Result<RegressionMeta> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        match ckpt.metadata.get(TASK_KEY).map(String::as_str) {
            Some("regression") => {}
            other => {
                let task = other.map_or("no task".to_string(), |t| format!("task '{t}'"));
                return Err(fail(format!(
                    "holds a model with {task}, not a regression model; `predict --csv` needs one from `backprop train csv`"
                )));
            }
        }
        fn parse<T: serde::de::DeserializeOwned>(ckpt: &Checkpoint, key: &str) -> Result<T> {
            serde_json::from_str(ckpt.require(key)?)
                .map_err(|e| Error::Checkpoint { path: ckpt.path.clone(), message: format!("bad {key}: {e}") })
        }
        let meta = RegressionMeta {
            features: parse(ckpt, FEATURES_KEY)?,
            targets: parse(ckpt, TARGETS_KEY)?,
            window: ckpt.metadata.get(WINDOW_KEY).map(|_| parse(ckpt, WINDOW_KEY)).transpose()?,
            scalers: parse(ckpt, STANDARDIZER_KEY)?,
        };
        let c = model.config();
        let inputs = meta.window.unwrap_or(meta.features.len());
        if inputs != c.inputs || meta.scalers.inputs.len() != c.inputs {
            return Err(fail(format!("the model takes {} inputs but its metadata describes {inputs}", c.inputs)));
        }
        if meta.targets.len() != c.outputs || meta.scalers.targets.len() != c.outputs {
            return Err(fail(format!(
                "the model has {} outputs but its metadata names {} targets",
                c.outputs,
                meta.targets.len()
            )));
        }
        if meta.window.is_some() && meta.targets.len() != 1 {
            return Err(fail("a time-series model must have exactly one target".into()));
        }
        Ok(meta)
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("names and numbers always serialize")
}
