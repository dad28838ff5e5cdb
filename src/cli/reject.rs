//! "unknown" for `predict` and `serve`: the detector `calibrate --method`
//! stored in the checkpoint (any method), the MSP threshold of older
//! checkpoints, or `--reject-below P` (an MSP threshold that overrides both).

use super::args::RejectArg;
use backprop::models::{Classifier, LoadedModel};
use backprop::ood::{Method, StoredDetector};
use backprop::{Result, Tensor};

/// How inputs are judged unknown.
pub(crate) enum Rejector {
    /// Never: nothing stored, no flag.
    Never,
    /// Below this maximum softmax probability.
    Msp(f32),
    /// Below the stored detector's threshold.
    Stored(StoredDetector),
}

/// A verdict on one input: its score and the threshold it fell below.
pub(crate) struct Unknown {
    pub method: Method,
    pub score: f32,
    pub threshold: f32,
}

impl Rejector {
    /// `--reject-below` if given, else what the checkpoint stores.
    pub fn new(flag: RejectArg, loaded: &LoadedModel) -> Result<Rejector> {
        if let Some(p) = flag.reject_below {
            return Ok(if p > 0.0 { Rejector::Msp(p) } else { Rejector::Never });
        }
        if let Some(stored) = StoredDetector::load(&loaded.checkpoint)? {
            return Ok(Rejector::Stored(stored));
        }
        Ok(loaded.reject_below()?.map_or(Rejector::Never, Rejector::Msp))
    }

    /// The method and threshold, for `/health` and JSON answers.
    pub fn describe(&self) -> (Option<&'static str>, Option<f32>) {
        match self {
            Rejector::Never => (None, None),
            Rejector::Msp(t) => (Some(Method::Msp.name()), Some(*t)),
            Rejector::Stored(s) => (Some(s.detector.method().name()), Some(s.threshold)),
        }
    }

    /// The score of `x` (`[1, D]`) when it falls below the threshold; `max_prob` is its MSP.
    pub fn judge(&self, model: &Classifier<'_>, x: &Tensor, max_prob: f32) -> Result<Option<Unknown>> {
        let (method, score, threshold) = match self {
            Rejector::Never => return Ok(None),
            Rejector::Msp(t) => (Method::Msp, max_prob, *t),
            Rejector::Stored(s) => (s.detector.method(), s.detector.scores(model, x, 1)?[0], s.threshold),
        };
        Ok((score < threshold).then_some(Unknown { method, score, threshold }))
    }
}

impl Unknown {
    /// `max probability 0.41 < 0.68` or `knn score -0.5312 < -0.4100`.
    pub fn reason(&self) -> String {
        let (s, t) = super::ood::below_text(self.score, self.threshold);
        match self.method {
            Method::Msp => format!("max probability {s} < {t}"),
            m => format!("{m} score {s} < {t}"),
        }
    }
}
