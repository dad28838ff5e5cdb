//! Curves people can look at: a training history drawn as loss and accuracy
//! (or regression error) plots, PNG and SVG, with the best validation epoch
//! marked and a one-line verdict on overfitting.

use super::history::{read_history, EpochRecord};
use super::plot::{write_png, write_svg, Chart, Marker, Series, TRAIN_COLOR, VALIDATION_COLOR};
use crate::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

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
}

impl Diagnosis {
    /// Validation loss above its minimum for at least 2 epochs at the end while
    /// training loss fell over the same epochs.
    pub fn overfitting(&self) -> bool {
        self.epochs_since_best >= 2 && self.train_loss_fell
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((epoch, loss)) = self.best else {
            let (e, l) = self.best_train;
            return write!(
                f,
                "no validation loss in the history; lowest training loss {l:.4} at epoch {e} of {}",
                self.epochs
            );
        };
        write!(f, "best validation loss {loss:.4} at epoch {epoch}; ")?;
        match self.epochs_since_best {
            0 => write!(f, "validation loss was still falling at the last epoch: no sign of overfitting"),
            1 => write!(f, "validation loss rose in the last epoch only: no clear sign of overfitting yet"),
            n if self.overfitting() => {
                write!(f, "validation loss rose for the last {n} epochs while training loss fell: overfitting")
            }
            n => write!(f, "neither loss improved in the last {n} epochs: training has stalled, not overfitting"),
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
    let (epochs_since_best, train_loss_fell) = match best {
        Some((i, _, _)) => {
            let last = history.len() - 1;
            (last - i, history[last].train_loss < history[i].train_loss)
        }
        None => (0, false),
    };
    Diagnosis {
        epochs: history.len(),
        best: best.map(|(_, e, l)| (e, l)),
        epochs_since_best,
        train_loss_fell,
        best_train,
    }
}

/// What [`write_plots`] wrote.
#[derive(Clone, Debug)]
pub struct Plots {
    /// The files, PNG and SVG for each chart.
    pub files: Vec<PathBuf>,
    /// The verdict, also the caption of every chart.
    pub diagnosis: Diagnosis,
}

/// Reads a history (a run folder with `history.jsonl`, or the file itself) and
/// writes its plots into `out`, by default the folder of the history.
///
/// ```no_run
/// let plots = backprop::train::plot_history("runs/mnist".as_ref(), None)?;
/// println!("{}", plots.diagnosis); // best validation loss 0.0912 at epoch 9; ...
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn plot_history(path: &Path, out: Option<&Path>) -> Result<Plots> {
    let file = if path.is_dir() { path.join("history.jsonl") } else { path.to_path_buf() };
    let history = read_history(&file)?;
    if history.is_empty() {
        return Err(Error::format(&file, "the history has no epoch records"));
    }
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = match folder.canonicalize().ok().as_ref().and_then(|p| p.file_name()) {
        Some(n) => n.to_string_lossy().into_owned(),
        None => file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    write_plots(&history, out.unwrap_or(folder), &name)
}

/// Writes `loss.png`/`loss.svg`, and `accuracy.png`/`.svg` for classifiers or
/// `rmse`/`mae` `.png`/`.svg` for regression, into `out` (created if missing).
/// `name` (the run's name) starts each chart's title.
///
/// ```
/// use backprop::train::{write_plots, EpochRecord};
/// let out = std::env::temp_dir().join(format!("bp-doc-plots-{}", std::process::id()));
/// let history: Vec<EpochRecord> = (1..=5)
///     .map(|e| EpochRecord { epoch: e, train_loss: 1.0 / e as f32, val_loss: Some(0.5 + 0.01 * e as f32), ..Default::default() })
///     .collect();
/// let plots = write_plots(&history, &out, "demo").unwrap();
/// assert!(plots.files.iter().any(|f| f.ends_with("loss.png")));
/// assert_eq!(plots.diagnosis.best, Some((1, 0.51)));
/// # std::fs::remove_dir_all(&out).ok();
/// ```
pub fn write_plots(history: &[EpochRecord], out: &Path, name: &str) -> Result<Plots> {
    if history.is_empty() {
        return Err(Error::invalid("history", "there are no epoch records to plot"));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let diagnosis = diagnose(history);
    let mut files = Vec::new();
    for (stem, chart) in charts(history, &diagnosis, name) {
        let (png, svg) = (out.join(format!("{stem}.png")), out.join(format!("{stem}.svg")));
        write_png(&chart, &png)?;
        write_svg(&chart, &svg)?;
        files.extend([png, svg]);
    }
    Ok(Plots { files, diagnosis })
}

/// The charts of a history, with their file stems.
fn charts(history: &[EpochRecord], d: &Diagnosis, name: &str) -> Vec<(String, Chart)> {
    let title = |what: &str| if name.is_empty() { what.to_string() } else { format!("{name}: {what}") };
    let best_index = d.best.and_then(|(e, _)| history.iter().position(|r| r.epoch == e));
    let marker = |value: Option<f64>| {
        d.best.map(|(epoch, loss)| Marker {
            epoch: epoch as f64,
            value,
            label: format!("lowest validation loss ({loss:.4}, epoch {epoch})"),
        })
    };
    let curves = |train: fn(&EpochRecord) -> Option<f32>, val: fn(&EpochRecord) -> Option<f32>, scale: f64| {
        let series = |name: &str, color, get: fn(&EpochRecord) -> Option<f32>| Series {
            name: name.to_string(),
            color,
            points: history
                .iter()
                .filter_map(|r| get(r).filter(|v| v.is_finite()).map(|v| (r.epoch as f64, scale * v as f64)))
                .collect(),
        };
        let mut all = vec![series("training", TRAIN_COLOR, train), series("validation", VALIDATION_COLOR, val)];
        all.retain(|s| !s.points.is_empty());
        let at_best = best_index.and_then(|i| val(&history[i])).map(|v| scale * v as f64);
        (all, at_best)
    };
    let caption = d.to_string();
    let (loss_series, best_loss) = curves(|r| Some(r.train_loss), |r| r.val_loss, 1.0);
    let mut out = vec![(
        "loss".to_string(),
        Chart {
            title: title("loss per epoch"),
            y_label: "loss".into(),
            series: loss_series,
            marker: marker(best_loss),
            caption: caption.clone(),
            legend_low: false,
            y_format: |v| format!("{v:.3}"),
        },
    )];
    if history.iter().any(|r| r.train_accuracy.is_some() || r.val_accuracy.is_some()) {
        let (series, at_best) = curves(|r| r.train_accuracy, |r| r.val_accuracy, 100.0);
        let chart = Chart {
            title: title("accuracy per epoch"),
            y_label: "accuracy (%)".into(),
            series,
            marker: marker(at_best),
            caption,
            legend_low: true,
            y_format: |v| format!("{v:.1}"),
        };
        out.push(("accuracy".into(), chart));
    } else if let Some(error) = history.iter().find_map(|r| r.error_name.clone()) {
        let (series, at_best) = curves(|r| r.train_error, |r| r.val_error, 1.0);
        let chart = Chart {
            title: title(&format!("{} per epoch", error.to_uppercase())),
            y_label: error.clone(),
            series,
            marker: marker(at_best),
            caption,
            legend_low: false,
            y_format: |v| format!("{v:.3}"),
        };
        out.push((error, chart));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, train_loss: f32, val_loss: Option<f32>) -> EpochRecord {
        EpochRecord { epoch, train_loss, val_loss, ..Default::default() }
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

        let one_up = [record(1, 1.0, Some(1.0)), record(2, 0.8, Some(0.5)), record(3, 0.7, Some(0.6))];
        assert!(diagnose(&one_up).to_string().contains("last epoch only"));

        let no_val = [record(1, 1.0, None), record(2, 0.5, None)];
        let d = diagnose(&no_val);
        assert_eq!((d.best, d.best_train), (None, (2, 0.5)));
        assert!(d.to_string().starts_with("no validation loss"), "{d}");
    }

    #[test]
    fn ties_keep_the_first_best_epoch() {
        let tie = [record(1, 1.0, Some(0.5)), record(2, 0.9, Some(0.5)), record(3, 0.8, Some(0.7))];
        assert_eq!(diagnose(&tie).best, Some((1, 0.5)));
        assert_eq!(diagnose(&tie).epochs_since_best, 2);
    }
}
