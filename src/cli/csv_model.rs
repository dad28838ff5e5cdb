//! What a regression checkpoint stores beside its weights: the column names,
//! the time-series window and the standardisation fitted on the training split.

use backprop::data::Standardizer;
use backprop::models::Regressor;
use backprop::{Error, Result};
use std::collections::BTreeMap;

use backprop::models::TASK_KEY;
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

    /// Reads the entries back from the regressor's checkpoint (the loader
    /// checked its task) and checks them against the model's sizes.
    pub fn from_regressor(model: &Regressor) -> Result<RegressionMeta> {
        let ckpt = model.checkpoint;
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        fn parse<T: serde::de::DeserializeOwned>(ckpt: &backprop::checkpoint::Checkpoint, key: &str) -> Result<T> {
            serde_json::from_str(ckpt.require(key)?)
                .map_err(|e| Error::Checkpoint { path: ckpt.path.clone(), message: format!("bad {key}: {e}") })
        }
        let meta = RegressionMeta {
            features: parse(ckpt, FEATURES_KEY)?,
            targets: parse(ckpt, TARGETS_KEY)?,
            window: ckpt.metadata.get(WINDOW_KEY).map(|_| parse(ckpt, WINDOW_KEY)).transpose()?,
            scalers: parse(ckpt, STANDARDIZER_KEY)?,
        };
        let inputs = meta.window.unwrap_or(meta.features.len());
        if inputs != model.inputs || meta.scalers.inputs.len() != model.inputs {
            return Err(fail(format!("the model takes {} inputs but its metadata describes {inputs}", model.inputs)));
        }
        if meta.targets.len() != model.outputs || meta.scalers.targets.len() != model.outputs {
            return Err(fail(format!(
                "the model has {} outputs but its metadata names {} targets",
                model.outputs,
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
