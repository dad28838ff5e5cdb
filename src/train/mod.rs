//! The training loop: epochs, mini-batches, evaluation, progress, history.
//!
//! One [`Trainer`] serves every classifier: the model gives outputs for a
//! batch, the trainer owns the rest.

mod history;
mod metrics;
mod progress;
mod trainer;

pub use history::{read_history, EpochRecord, HistoryWriter};
pub use metrics::{accuracy, evaluate, predicted_classes, Evaluation};
pub use progress::OutputMode;
pub use trainer::{TrainConfig, Trainer};
