//! `backprop report`: plots of a run's history (loss, accuracy or error per epoch).

use super::plot::{write_png, write_svg, Chart, Marker, Series, TRAIN_COLOR, VALIDATION_COLOR};
use backprop::train::{diagnose, read_grad_stats, read_history, Diagnosis, EpochRecord, Verdict, GRAD_STATS_FILE};
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// A run folder (holding history.jsonl) or a history file.
    #[arg(value_name = "RUN_DIR_OR_HISTORY")]
    path: PathBuf,
    /// Folder for the plots (default: the folder of the history).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Writes the plots, prints the verdict on one line (and with gradient
/// statistics, a line per problem they show) and the files written on the last.
pub(crate) fn run(a: ReportArgs) -> Result<()> {
    if let Some(out) = &a.out {
        super::args::check_out_folder("--out", out)?;
    }
    let plots = plot_history(&a.path, a.out.as_deref())?;
    println!("{}", plots.diagnosis);
    if let Some(verdict) = &plots.gan_verdict {
        println!("GAN: {verdict}");
    }
    if let Some(findings) = &plots.gradient_findings {
        if findings.is_empty() {
            println!("gradient flow: no problem seen");
        }
        for f in findings {
            println!("gradient flow: {}: {}", f.problem, f.finding);
        }
    }
    let files: Vec<String> = plots.files.iter().map(|f| f.display().to_string()).collect();
    println!("wrote {}", files.join(", "));
    Ok(())
}

/// What [`write_plots`] wrote.
#[derive(Clone, Debug)]
pub struct Plots {
    /// The files, PNG and SVG for each chart.
    pub files: Vec<PathBuf>,
    /// The verdict, also the caption of every chart.
    pub diagnosis: Diagnosis,
    /// With gradient statistics beside the history: the problems they show.
    pub gradient_findings: Option<Vec<Verdict>>,
    /// A GAN's history: its own verdict (collapse, a discriminator that wins), see `train gan`.
    pub gan_verdict: Option<String>,
}

/// Reads a history (a run folder with `history.jsonl`, or the file itself) and
/// writes its plots into `out`, by default the folder of the history.
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
    let out = out.unwrap_or(folder);
    let mut plots = write_plots(&history, out, &name)?;
    let stats_file = folder.join(GRAD_STATS_FILE);
    if stats_file.is_file() {
        let stats = read_grad_stats(&stats_file)?;
        if !stats.is_empty() {
            let (files, findings) = super::report_grads::write_grad_plots(&stats, out, &name)?;
            plots.files.extend(files);
            plots.gradient_findings = Some(findings);
        }
    }
    Ok(plots)
}

/// Writes `loss.png`/`loss.svg`, and `accuracy.png`/`.svg` for classifiers or
/// `rmse`/`mae` `.png`/`.svg` for regression, into `out` (created if missing).
/// `name` (the run's name) starts each chart's title.
pub fn write_plots(history: &[EpochRecord], out: &Path, name: &str) -> Result<Plots> {
    if history.is_empty() {
        return Err(Error::invalid("history", "there are no epoch records to plot"));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let diagnosis = diagnose(history);
    let mut files = Vec::new();
    let gan_verdict = super::train_gan::gan_verdict(history);
    for (stem, chart) in charts(history, &diagnosis, gan_verdict.as_deref(), name) {
        let (png, svg) = (out.join(format!("{stem}.png")), out.join(format!("{stem}.svg")));
        write_png(&chart, &png)?;
        write_svg(&chart, &svg)?;
        files.extend([png, svg]);
    }
    Ok(Plots { files, diagnosis, gradient_findings: None, gan_verdict })
}

/// The charts of a history, with their file stems.
fn charts(history: &[EpochRecord], d: &Diagnosis, gan_verdict: Option<&str>, name: &str) -> Vec<(String, Chart)> {
    let title = |what: &str| if name.is_empty() { what.to_string() } else { format!("{name}: {what}") };
    // A run counted in steps (a language model's) is drawn against steps, others against epochs.
    let unit = if history.iter().all(|r| r.step.is_some()) { "step" } else { "epoch" };
    let x = |r: &EpochRecord| if unit == "step" { r.step.unwrap_or(r.epoch) } else { r.epoch };
    let best_index = d.best.and_then(|(e, _)| history.iter().position(|r| r.epoch == e));
    let marker = |value: Option<f64>| {
        let (i, loss) = (best_index?, d.best?.1);
        let at = x(&history[i]);
        Some(Marker { epoch: at as f64, value, label: format!("lowest validation loss ({loss:.4}, {unit} {at})") })
    };
    let curves = |train: fn(&EpochRecord) -> Option<f32>, val: fn(&EpochRecord) -> Option<f32>, scale: f64| {
        let series = |name: &str, color, get: fn(&EpochRecord) -> Option<f32>| Series {
            name: name.to_string(),
            color,
            points: history
                .iter()
                .filter_map(|r| get(r).filter(|v| v.is_finite()).map(|v| (x(r) as f64, scale * v as f64)))
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
            title: title(&format!("loss per {unit}")),
            x_label: unit,
            y_label: "loss".into(),
            series: loss_series,
            marker: marker(best_loss),
            caption: caption.clone(),
            legend_low: false,
            y_format: |v| format!("{v:.3}"),
            log_y: false,
        },
    )];
    if history.iter().any(|r| r.train_accuracy.is_some() || r.val_accuracy.is_some()) {
        let (series, at_best) = curves(|r| r.train_accuracy, |r| r.val_accuracy, 100.0);
        let chart = Chart {
            title: title(&format!("accuracy per {unit}")),
            x_label: unit,
            y_label: "accuracy (%)".into(),
            series,
            marker: marker(at_best),
            caption,
            legend_low: true,
            y_format: |v| format!("{v:.1}"),
            log_y: false,
        };
        out.push(("accuracy".into(), chart));
    } else if let Some(error) = history.iter().find_map(|r| r.error_name.clone()) {
        let (series, at_best) = curves(|r| r.train_error, |r| r.val_error, 1.0);
        let chart = Chart {
            title: title(&format!("{} per {unit}", error.to_uppercase())),
            x_label: unit,
            y_label: error.clone(),
            series,
            marker: marker(at_best),
            caption,
            legend_low: false,
            y_format: |v| format!("{v:.3}"),
            log_y: false,
        };
        out.push((error, chart));
    }
    out.extend(super::train_rl::return_chart(history, title));
    if let Some(verdict) = gan_verdict {
        out.extend(super::train_gan::gan_charts(history, verdict, title));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_plots_draws_loss_and_marks_the_best_epoch() {
        let out = std::env::temp_dir().join(format!("bp-test-plots-{}", std::process::id()));
        let history: Vec<EpochRecord> = (1..=5)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 1.0 / e as f32,
                val_loss: Some(0.5 + 0.01 * e as f32),
                ..Default::default()
            })
            .collect();
        let plots = write_plots(&history, &out, "demo").unwrap();
        assert!(plots.files.iter().any(|f| f.ends_with("loss.png")));
        assert_eq!(plots.diagnosis.best, Some((1, 0.51)));
        std::fs::remove_dir_all(&out).ok();
    }
}
