//! Training: one loop for every model.
//!
//! What one step computes is a [`TrainStep`] (a mini-batch of a data set in
//! [`SupervisedStep`], random text windows in [`LmStep`]); the [`Trainer`]
//! owns the rest. The library prints nothing: progress goes to a
//! [`Progress`], the history to a JSONL file.

mod diagnose;
mod doctor;
mod early_stopping;
mod grad_stats;
mod history;
mod lm;
mod metrics;
mod nan_origin;
mod progress;
mod step;
mod step_check;
mod supervised;
mod trainer;

pub use diagnose::{diagnose, Diagnosis, Returns, OVERFITTING_RISE};
pub use doctor::{examine, gradient_findings, Answer, Examination, Problem, RunFacts, Verdict};
pub use early_stopping::EarlyStopping;
pub use grad_stats::{read_grad_stats, GradStatsRecord, GradStatsWriter, LayerStats, GRAD_STATS_FILE};
pub use history::{read_history, EpochRecord, HistoryWriter};
pub use lm::{estimate_loss, train_lm, LmConfig, LmStep};
pub use metrics::{accuracy, evaluate, evaluate_distributed, predicted_classes, Evaluation};
pub use nan_origin::{
    backward_origin, first_non_finite, forward_origin, NonFinite, NonFiniteSource, Origin, ParamNames, Pass, Summary,
};
pub use progress::{Plan, Progress, Silent};
pub use step::{EpochStats, TrainStep};
pub use supervised::SupervisedStep;
pub use trainer::{TrainConfig, Trainer};
