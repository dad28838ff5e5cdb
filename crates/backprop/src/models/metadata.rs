//! The checks every checkpoint's metadata passes when it is loaded, so that a
//! command never predicts with a description that does not fit the weights
//! (a class list of another length, a zero standard deviation, an image
//! shape of another size, a threshold outside [0, 1]).

use super::{LoadedModel, Model, RegressionMeta, CLASSES_KEY, INPUT_KEY, LOSS_KEY, NORMALIZE_KEY};
use crate::data::MAX_CLASSES;
use crate::ood::REJECT_KEY;
use crate::Result;

impl LoadedModel {
    /// Checks every metadata entry this version reads against the model:
    /// the loss name; for a classifier the image shape (its size equals the
    /// inputs), one class name per output (at most [`MAX_CLASSES`]), the
    /// pixel scale (finite, standard deviation above 0) and the rejection
    /// threshold (a probability); for a regression model its
    /// [`RegressionMeta`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`](crate::Error::Checkpoint) naming the file and
    /// the entry that does not fit.
    pub(super) fn check_metadata(&self) -> Result<()> {
        let meta = &self.checkpoint.metadata;
        if let Some(loss) = meta.get(LOSS_KEY) {
            loss.parse::<crate::loss::Loss>().map_err(|m| self.fail(format!("bad {LOSS_KEY}: {m}")))?;
        }
        if matches!(self.model, Model::Mlp(_) | Model::Cnn(_)) {
            crate::ood::StoredDetector::load(&self.checkpoint)?;
        }
        let Model::Mlp(mlp) = &self.model else { return Ok(()) };
        match self.task() {
            Some("regression") => {
                let c = mlp.config();
                RegressionMeta::from_checkpoint(&self.checkpoint, c.inputs, c.outputs)?;
            }
            Some(_) => {}
            None => {
                let classifier = self.classifier("loading")?;
                if meta.contains_key(INPUT_KEY) {
                    classifier.image_shape()?;
                }
                if classifier.classes > MAX_CLASSES {
                    let message =
                        format!("{} outputs, more than the limit of {MAX_CLASSES} classes", classifier.classes);
                    return Err(self.fail(message));
                }
                if meta.contains_key(CLASSES_KEY) {
                    classifier.class_names()?;
                }
                if meta.contains_key(NORMALIZE_KEY) {
                    classifier.pixel_scale()?;
                }
                self.reject_below()?;
            }
        }
        Ok(())
    }

    /// The rejection threshold `backprop calibrate` stored under
    /// [`REJECT_KEY`], if any: a probability from 0 to 1.
    ///
    /// # Errors
    /// [`Error::Checkpoint`](crate::Error::Checkpoint) when the entry is not
    /// a number from 0 to 1.
    pub fn reject_below(&self) -> Result<Option<f32>> {
        let Some(text) = self.checkpoint.metadata.get(REJECT_KEY) else { return Ok(None) };
        match text.trim().parse::<f32>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
            _ => Err(self.fail(format!("bad {REJECT_KEY}: '{text}' is not a probability from 0 to 1"))),
        }
    }
}
