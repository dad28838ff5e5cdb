//! The training loop: epochs, mini-batches, evaluation, progress, history.
//!
//! One [`Trainer`] serves every classifier: the model gives outputs for a
//! batch, the trainer owns the rest.

mod early_stopping;
mod history;
mod lm;
mod metrics;
mod plot;
mod progress;
mod report;
mod trainer;

pub use early_stopping::EarlyStopping;
pub use history::{read_history, EpochRecord, HistoryWriter};
pub use lm::{estimate_loss, train_lm, LmConfig, LmRecord};
pub use metrics::{accuracy, evaluate, predicted_classes, Evaluation};
pub use progress::OutputMode;
pub use report::{diagnose, plot_history, write_plots, Diagnosis, Plots};
pub use trainer::{TrainConfig, Trainer};
