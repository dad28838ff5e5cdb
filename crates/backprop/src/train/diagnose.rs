//! A one-line verdict on a training history: where validation loss was
//! lowest, and whether the run overfits. (A non-finite loss is explained in
//! `nan_origin.rs`; the full diagnosis of a run in `doctor.rs`.)

use super::history::EpochRecord;
use std::fmt;

/// How far above its lowest (relative) the last validation loss must be to
/// call a run overfitting: a rise of under 10% is noise, not a trend.
pub const OVERFITTING_RISE: f32 = 0.10;

/// What a history says: where validation loss was lowest, and whether it
/// rose afterwards while training loss kept falling (overfitting).
///
/// Its `Display` is the one-line verdict.
///
/// ```
/// use backprop::train::{diagnose, EpochRecord};
/// let epoch = |epoch, train_loss, val_loss| EpochRecord { epoch, train_loss, val_loss: Some(val_loss), ..Default::default() };
/// let history = [epoch(1, 0.9, 0.5), epoch(2, 0.5, 0.3), epoch(3, 0.3, 0.35), epoch(4, 0.2, 0.4)];
/// let d = diagnose(&history);
/// assert_eq!((d.best, d.epochs_since_best, d.overfitting()), (Some((2, 0.3)), 2, true));
/// assert_eq!(
///     d.to_string(),
///     "best validation loss 0.3000 at epoch 2; validation loss rose for the last 2 epochs while training loss fell: overfitting"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    /// Epochs in the history.
    pub epochs: usize,
    /// The (first) epoch with the lowest validation loss, and that loss; `None`
    /// without validation losses.
    pub best: Option<(usize, f32)>,
    /// Epochs after the best one: none of them lowered the validation loss.
    pub epochs_since_best: usize,
    /// Whether the training loss is lower at the last epoch than at the best one.
    pub train_loss_fell: bool,
    /// The lowest training loss and its epoch (for histories without validation).
    pub best_train: (usize, f32),
    /// For a run counted in steps (a language model's): the step of the best
    /// validation loss; the verdict then speaks of steps and evaluations.
    pub best_step: Option<usize>,
    /// The last validation loss relative to the best, less 1 (0.25: 25% above it).
    pub val_rise: f32,
    /// For a reinforcement-learning run (records with a `mean_return`
    /// metric): its returns, by which such a run is judged.
    pub returns: Option<Returns>,
}

/// The mean episode return (the `mean_return` metric) of a reinforcement
/// learning run: at its first record, its best and its last. A policy
/// gradient's loss grows with the episodes' length, so it says nothing of
/// progress; the return does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Returns {
    /// The first record's epoch (update round) and mean return.
    pub first: (usize, f32),
    /// The first record with the highest mean return.
    pub best: (usize, f32),
    /// The last record's epoch and mean return.
    pub last: (usize, f32),
}

impl Returns {
    /// The returns of `history`, `None` unless its records hold `mean_return`.
    pub fn of(history: &[EpochRecord]) -> Option<Returns> {
        let mut points = history.iter().filter_map(|r| r.metrics.get("mean_return").map(|&v| (r.epoch, v)));
        let first = points.next()?;
        let (mut best, mut last) = (first, first);
        for p in points {
            if p.1 > best.1 {
                best = p;
            }
            last = p;
        }
        Some(Returns { first, best, last })
    }
}

impl Diagnosis {
    /// Validation loss above its minimum for at least 2 epochs at the end, by
    /// [`OVERFITTING_RISE`] or more at the last, while training loss fell over the same epochs.
    pub fn overfitting(&self) -> bool {
        self.epochs_since_best >= 2 && self.train_loss_fell && self.val_rise >= OVERFITTING_RISE
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(Returns { first, best, last }) = self.returns {
            return write!(
                f,
                "mean return {:.1} at round {}, best {:.1} at round {}, {:.1} at the last of {} rounds \
                 (a reinforcement-learning run is judged by its return; its loss grows with the episodes)",
                first.1, first.0, best.1, best.0, last.1, last.0
            );
        }
        let Some((epoch, loss)) = self.best else {
            let (e, l) = self.best_train;
            return write!(
                f,
                "no validation loss in the history; lowest training loss {l:.4} at epoch {e} of {}",
                self.epochs
            );
        };
        let (unit, at) = match self.best_step {
            Some(step) => ("evaluation", format!("step {step}")),
            None => ("epoch", format!("epoch {epoch}")),
        };
        write!(f, "best validation loss {loss:.4} at {at}; ")?;
        match self.epochs_since_best {
            0 => write!(f, "validation loss was still falling at the last {unit}: no sign of overfitting"),
            1 => write!(f, "validation loss rose in the last {unit} only: no clear sign of overfitting yet"),
            n if self.overfitting() => {
                write!(f, "validation loss rose for the last {n} {unit}s while training loss fell: overfitting")
            }
            n if self.train_loss_fell => write!(
                f,
                "validation loss stayed within {:.0}% of it for the last {n} {unit}s while training loss fell: \
                 no clear sign of overfitting",
                100.0 * OVERFITTING_RISE
            ),
            n => write!(f, "neither loss improved in the last {n} {unit}s: training has stalled, not overfitting"),
        }
    }
}

/// Finds the best validation epoch and judges overfitting (see [`Diagnosis`]).
/// Records whose validation loss is missing or not finite are skipped for the best epoch.
pub fn diagnose(history: &[EpochRecord]) -> Diagnosis {
    let mut best: Option<(usize, usize, f32)> = None; // (index, epoch, loss)
    for (i, r) in history.iter().enumerate() {
        if let Some(v) = r.val_loss.filter(|v| v.is_finite()) {
            let improves = match best {
                Some((_, _, b)) => v < b,
                None => true,
            };
            if improves {
                best = Some((i, r.epoch, v));
            }
        }
    }
    let best_train = history
        .iter()
        .filter(|r| r.train_loss.is_finite())
        .fold(None, |b: Option<(usize, f32)>, r| match b {
            Some((_, l)) if l <= r.train_loss => b,
            _ => Some((r.epoch, r.train_loss)),
        })
        .unwrap_or((0, f32::NAN));
    let (epochs_since_best, train_loss_fell, val_rise) = match best {
        Some((i, _, b)) => {
            let last = history.len() - 1;
            let rise = history[last].val_loss.map_or(f32::NAN, |v| v / b - 1.0);
            (last - i, history[last].train_loss < history[i].train_loss, rise)
        }
        None => (0, false, f32::NAN),
    };
    Diagnosis {
        epochs: history.len(),
        best: best.map(|(_, e, l)| (e, l)),
        epochs_since_best,
        train_loss_fell,
        best_train,
        best_step: best.and_then(|(i, _, _)| history[i].step),
        val_rise,
        returns: Returns::of(history),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, train_loss: f32, val_loss: Option<f32>) -> EpochRecord {
        EpochRecord { epoch, train_loss, val_loss, ..Default::default() }
    }

    #[test]
    fn reinforcement_learning_runs_are_judged_by_their_return() {
        // REINFORCE on CartPole: the loss grows as the episodes get longer.
        let round = |epoch, loss, ret| {
            let mut r = record(epoch, loss, None);
            r.metrics.insert("mean_return".into(), ret);
            r
        };
        let history = [round(1, 101.0, 21.7), round(2, 442.0, 36.5), round(3, 1619.0, 500.0), round(4, 1500.0, 480.0)];
        let d = diagnose(&history);
        assert_eq!(d.returns, Some(Returns { first: (1, 21.7), best: (3, 500.0), last: (4, 480.0) }));
        assert!(d.to_string().starts_with("mean return 21.7 at round 1, best 500.0 at round 3"), "{d}");
        assert_eq!(diagnose(&[record(1, 1.0, None)]).returns, None);
    }

    #[test]
    fn verdicts() {
        let falling: Vec<_> = (1..=5).map(|e| record(e, 1.0 / e as f32, Some(2.0 / e as f32))).collect();
        let d = diagnose(&falling);
        assert_eq!((d.best, d.epochs_since_best, d.overfitting()), (Some((5, 0.4)), 0, false));
        assert!(d.to_string().ends_with("no sign of overfitting"), "{d}");

        let stalled = [
            record(1, 1.0, Some(1.0)),
            record(2, 0.8, Some(0.5)),
            record(3, 0.9, Some(0.6)),
            record(4, 0.85, Some(0.7)),
        ];
        let d = diagnose(&stalled);
        assert_eq!((d.epochs_since_best, d.overfitting()), (2, false));
        assert!(d.to_string().contains("stalled"), "{d}");

        // The default `train mnist`: validation loss a few % above its best, training loss still falling.
        let flat = [
            record(1, 0.6, Some(0.27)),
            record(2, 0.1, Some(0.17)),
            record(3, 0.02, Some(0.175)),
            record(4, 0.01, Some(0.18)),
        ];
        let d = diagnose(&flat);
        assert_eq!((d.epochs_since_best, d.overfitting()), (2, false));
        assert!((d.val_rise - 0.18 / 0.17 + 1.0).abs() < 1e-6);
        assert!(
            d.to_string().ends_with(
                "stayed within 10% of it for the last 2 epochs while training loss fell: no clear sign of overfitting"
            ),
            "{d}"
        );

        let one_up = [record(1, 1.0, Some(1.0)), record(2, 0.8, Some(0.5)), record(3, 0.7, Some(0.6))];
        assert!(diagnose(&one_up).to_string().contains("last epoch only"));

        let no_val = [record(1, 1.0, None), record(2, 0.5, None)];
        let d = diagnose(&no_val);
        assert_eq!((d.best, d.best_train), (None, (2, 0.5)));
        assert!(d.to_string().starts_with("no validation loss"), "{d}");
    }

    #[test]
    fn runs_counted_in_steps_are_judged_in_steps() {
        let at = |epoch: usize, train_loss, val_loss| EpochRecord {
            step: Some(250 * epoch),
            ..record(epoch, train_loss, Some(val_loss))
        };
        let d = diagnose(&[at(1, 2.0, 1.9), at(2, 1.5, 1.6), at(3, 1.2, 1.7), at(4, 1.0, 1.8)]);
        assert_eq!((d.best, d.best_step), (Some((2, 1.6)), Some(500)));
        assert_eq!(
            d.to_string(),
            "best validation loss 1.6000 at step 500; validation loss rose for the last 2 evaluations while training loss fell: overfitting"
        );
    }

    #[test]
    fn ties_keep_the_first_best_epoch() {
        let tie = [record(1, 1.0, Some(0.5)), record(2, 0.9, Some(0.5)), record(3, 0.8, Some(0.7))];
        assert_eq!(diagnose(&tie).best, Some((1, 0.5)));
        assert_eq!(diagnose(&tie).epochs_since_best, 2);
    }
}
