//! The training loop: epochs, mini-batches, evaluation, progress, history.
//!
//! One [`Trainer`] serves every classifier: the model gives outputs for a
//! batch, the trainer owns the rest.

mod diagnose;
mod early_stopping;
mod history;
mod lm;
mod metrics;
mod progress;
mod trainer;

pub use diagnose::{diagnose, Diagnosis};
pub use early_stopping::EarlyStopping;
pub use history::{read_history, EpochRecord, HistoryWriter};
pub use lm::{estimate_loss, train_lm, LmConfig, LmRecord};
pub use metrics::{accuracy, evaluate, predicted_classes, Evaluation};
pub use progress::OutputMode;
pub use trainer::{TrainConfig, Trainer};
