//! What a regression checkpoint (`backprop train csv`) stores beside its
//! weights: the column names, the time-series window and the
//! standardisation fitted on the training split, checked against the model
//! when the checkpoint is loaded.

use super::TASK_KEY;
use crate::checkpoint::Checkpoint;
use crate::data::Standardizer;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Metadata key of the input and target standardisation (JSON [`Scalers`]).
pub const STANDARDIZER_KEY: &str = "backprop.standardizer";
/// Metadata key of the input column names (JSON list; empty for a time series).
pub const FEATURES_KEY: &str = "backprop.features";
/// Metadata key of the target column names (JSON list).
pub const TARGETS_KEY: &str = "backprop.targets";
/// Metadata key of a time series' window (how many past values predict the next).
pub const WINDOW_KEY: &str = "backprop.window";

/// The input and target standardisations, as stored under [`STANDARDIZER_KEY`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scalers {
    /// Applied to the inputs before the model.
    pub inputs: Standardizer,
    /// Inverted on the model's outputs (targets were standardised in training).
    pub targets: Standardizer,
}

/// Everything besides the weights that a regression model needs to predict.
///
/// ```
/// use backprop::data::Standardizer;
/// use backprop::models::{RegressionMeta, Scalers};
/// let meta = RegressionMeta {
///     features: vec!["x1".into(), "x2".into()],
///     targets: vec!["y".into()],
///     window: None,
///     scalers: Scalers { inputs: Standardizer::identity(2), targets: Standardizer::identity(1) },
/// };
/// let ckpt = backprop::checkpoint::Checkpoint {
///     path: "m.safetensors".into(),
///     tensors: Default::default(),
///     metadata: meta.to_metadata(),
/// };
/// assert_eq!(RegressionMeta::from_checkpoint(&ckpt, 2, 1)?, meta);
/// let e = RegressionMeta::from_checkpoint(&ckpt, 3, 1).unwrap_err().to_string();
/// assert!(e.contains("the model takes 3 inputs but its metadata describes 2"), "{e}");
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionMeta {
    /// Input column names (empty for a time series: the inputs are past values of the target).
    pub features: Vec<String>,
    /// Target column names.
    pub targets: Vec<String>,
    /// For a time series: how many past values predict the next.
    pub window: Option<usize>,
    /// The standardisations fitted on the training split.
    pub scalers: Scalers,
}

impl RegressionMeta {
    /// The checkpoint metadata entries (with [`TASK_KEY`] `"regression"`).
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

    /// Reads the entries back from a checkpoint and checks them against a
    /// model of `inputs` inputs and `outputs` outputs.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file when an entry is missing or not
    /// valid JSON, the column counts differ from the model's sizes, a
    /// standardisation has other lengths than its columns, a non-finite mean
    /// or a standard deviation that is not finite and above 0, or a time
    /// series has another number of targets than one or a window of 0.
    pub fn from_checkpoint(ckpt: &Checkpoint, inputs: usize, outputs: usize) -> Result<RegressionMeta> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
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
        if let Some(w) = meta.window
            && (w == 0 || !meta.features.is_empty() || meta.targets.len() != 1)
        {
            return Err(fail(format!(
                "a time-series model has a window of at least 1, no feature columns and exactly one target; \
                     the metadata says window {w}, {} features, {} targets",
                meta.features.len(),
                meta.targets.len()
            )));
        }
        let described = meta.window.unwrap_or(meta.features.len());
        if described != inputs {
            return Err(fail(format!("the model takes {inputs} inputs but its metadata describes {described}")));
        }
        if meta.targets.len() != outputs {
            return Err(fail(format!(
                "the model has {outputs} outputs but its metadata names {} targets",
                meta.targets.len()
            )));
        }
        let lags: Vec<String> = (1..=meta.window.unwrap_or(0)).rev().map(|k| format!("t-{k}")).collect();
        let input_names = if meta.window.is_some() { &lags } else { &meta.features };
        meta.scalers
            .inputs
            .check(inputs, input_names)
            .map_err(|m| fail(format!("bad {STANDARDIZER_KEY} of the inputs: {m}")))?;
        meta.scalers
            .targets
            .check(outputs, &meta.targets)
            .map_err(|m| fail(format!("bad {STANDARDIZER_KEY} of the targets: {m}")))?;
        Ok(meta)
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("names and numbers always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(scalers: &str) -> Checkpoint {
        let metadata = [
            (TASK_KEY, "regression"),
            (FEATURES_KEY, r#"["a","b"]"#),
            (TARGETS_KEY, r#"["y"]"#),
            (STANDARDIZER_KEY, scalers),
        ];
        Checkpoint {
            path: "m.safetensors".into(),
            tensors: Default::default(),
            metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn error(scalers: &str) -> String {
        RegressionMeta::from_checkpoint(&checkpoint(scalers), 2, 1).unwrap_err().to_string()
    }

    #[test]
    fn standardisations_are_checked_against_the_model() {
        let good = r#"{"inputs":{"mean":[1,2],"std":[3,4]},"targets":{"mean":[0],"std":[1]}}"#;
        assert!(RegressionMeta::from_checkpoint(&checkpoint(good), 2, 1).is_ok());
        let fewer_stds = r#"{"inputs":{"mean":[1,2],"std":[3]},"targets":{"mean":[0],"std":[1]}}"#;
        assert!(error(fewer_stds).contains("inputs: 2 means and 1 standard deviations for 2 columns"));
        let zero_std = r#"{"inputs":{"mean":[1,2],"std":[3,0]},"targets":{"mean":[0],"std":[1]}}"#;
        assert!(error(zero_std).contains("column 'b': standard deviation 0"));
        let negative = r#"{"inputs":{"mean":[1,2],"std":[3,4]},"targets":{"mean":[0],"std":[-1]}}"#;
        assert!(error(negative).contains("targets: column 'y': standard deviation -1"));
        let huge_mean = r#"{"inputs":{"mean":[1e39,2],"std":[3,4]},"targets":{"mean":[0],"std":[1]}}"#;
        assert!(error(huge_mean).contains("column 'a': mean inf"), "{}", error(huge_mean));
        assert!(error("{").contains("bad backprop.standardizer"));
    }

    #[test]
    fn windows_must_fit_the_model() {
        let mut ckpt = checkpoint(r#"{"inputs":{"mean":[0,0],"std":[1,1]},"targets":{"mean":[0],"std":[1]}}"#);
        ckpt.metadata.insert(FEATURES_KEY.into(), "[]".into());
        ckpt.metadata.insert(WINDOW_KEY.into(), "2".into());
        assert_eq!(RegressionMeta::from_checkpoint(&ckpt, 2, 1).unwrap().window, Some(2));
        ckpt.metadata.insert(WINDOW_KEY.into(), "0".into());
        assert!(RegressionMeta::from_checkpoint(&ckpt, 0, 1).unwrap_err().to_string().contains("window 0"));
    }
}
