//! Per-epoch records, written as JSON lines beside the checkpoint.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What one epoch measured. Fields that do not apply to the task are absent.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1. In a run counted in steps (a language model's),
    /// the number of the evaluation: one "epoch" is the steps between two.
    pub epoch: usize,
    /// Optimizer steps done so far, in a run counted in steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// Validation loss, when there is a validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f32>,
    /// Training accuracy over the epoch's batches (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f32>,
    /// Validation accuracy (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f32>,
    /// Name of the regression error below: "rmse" or "mae".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_name: Option<String>,
    /// Training error in the target's own units (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_error: Option<f32>,
    /// Validation error in the target's own units (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_error: Option<f32>,
    /// Learning rate at the end of the epoch.
    pub lr: f32,
    /// Wall-clock seconds of the epoch (training and evaluation).
    pub seconds: f32,
    /// Other measurements by name: the loss of each phase of a step with
    /// several optimizers (`generator_loss`), throughput (`tokens_per_sec`,
    /// `ms_per_step`), ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f32>,
}

/// Writes [`EpochRecord`]s to a JSONL file, one line each, as training goes.
///
/// The file is replaced atomically after each record (see
/// [`write_atomically`](crate::checkpoint::write_atomically)) and first
/// written when the first epoch ends: a run that fails before then leaves an
/// existing history as it was, and a reader never sees a half-written line.
pub struct HistoryWriter(JsonLines);

/// A JSON-lines file rewritten atomically with every line so far on each append.
pub(crate) struct JsonLines {
    path: PathBuf,
    text: String,
}

impl JsonLines {
    /// A writer for `path` (`what` names the file in errors); nothing is written until the first append.
    pub fn create(path: &Path, what: &str) -> Result<JsonLines> {
        if path.is_dir() {
            return Err(Error::invalid(what, format!("{} is a folder, not a file", path.display())));
        }
        Ok(JsonLines { path: path.to_path_buf(), text: String::new() })
    }

    /// Adds `line` and rewrites the file.
    pub fn append(&mut self, line: &impl serde::Serialize) -> Result<()> {
        let line = serde_json::to_string(line).map_err(|e| Error::invalid("json line", e.to_string()))?;
        self.text.push_str(&line);
        self.text.push('\n');
        crate::checkpoint::write_atomically(&self.path, self.text.as_bytes())
    }
}

/// Reads a JSON-lines file of `what`s (`an epoch record`); errors name the line that is not one.
pub(crate) fn read_json_lines<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record =
            serde_json::from_str(&line).map_err(|e| Error::format(path, format!("line {}: not {what}: {e}", i + 1)))?;
        out.push(record);
    }
    Ok(out)
}

impl HistoryWriter {
    /// A writer for `path`; nothing is written until the first [`append`](HistoryWriter::append).
    ///
    /// # Errors
    /// When `path` is an existing folder.
    pub fn create(path: &Path) -> Result<HistoryWriter> {
        JsonLines::create(path, "history").map(HistoryWriter)
    }

    /// Adds one record as a line and rewrites the file with every record so far.
    pub fn append(&mut self, record: &EpochRecord) -> Result<()> {
        self.0.append(record)
    }
}

/// Reads a JSONL history; errors name the line that is not a record.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    read_json_lines(path, "an epoch record")
}
