//! Training: one loop for every model.
//!
//! What one step computes is a [`TrainStep`] (a mini-batch of a data set in
//! [`SupervisedStep`], random text windows in [`LmStep`]); the [`Trainer`]
//! owns the rest. The library prints nothing: progress goes to a
//! [`Progress`], the history to a JSONL file.

mod diagnose;
mod early_stopping;
mod history;
mod lm;
mod metrics;
mod progress;
mod step;
mod supervised;
mod trainer;

pub use diagnose::{diagnose, explain_non_finite_loss, first_non_finite, Diagnosis, NonFinite, NonFiniteSource};
pub use early_stopping::EarlyStopping;
pub use history::{read_history, EpochRecord, HistoryWriter};
pub use lm::{estimate_loss, train_lm, LmConfig, LmStep};
pub use metrics::{accuracy, evaluate, predicted_classes, Evaluation};
pub use progress::{Plan, Progress, Silent};
pub use step::{EpochStats, TrainStep};
pub use supervised::SupervisedStep;
pub use trainer::{TrainConfig, Trainer};
