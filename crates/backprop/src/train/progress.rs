//! How training reports itself: the library stays silent and calls a
//! [`Progress`]; the command line decides whether that is a progress bar,
//! plain lines or JSON (and under several processes, only one speaks).

use super::history::EpochRecord;

/// The shape of a run, told to [`Progress::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Epochs at most (a run may stop early).
    pub epochs: usize,
    /// Optimizer steps at most, when the run is counted in steps.
    pub max_steps: Option<usize>,
    /// Whether an "epoch" is a fixed number of steps between evaluations
    /// (a language model's run) rather than a pass over a data set.
    pub counted_in_steps: bool,
}

/// Receives a run's progress. Every method does nothing by default.
pub trait Progress {
    /// Before the first epoch.
    fn start(&mut self, _plan: &Plan) {}
    /// Before `epoch` (from 1), which will run `steps` steps.
    fn epoch_started(&mut self, _epoch: usize, _steps: usize) {}
    /// After step `step` (from 1) of the current epoch; `running_loss` is the
    /// mean loss of the epoch so far.
    fn step_done(&mut self, _step: usize, _running_loss: f32) {}
    /// After an epoch's training and evaluation.
    fn epoch_done(&mut self, _record: &EpochRecord) {}
}

/// Reports nothing: the default of a [`Trainer`](super::Trainer).
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
