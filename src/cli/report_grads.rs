//! `backprop report`'s charts of gradient flow (from `grad_stats.jsonl`): a
//! line per layer, on a log scale, for the gradient norm and the
//! update/weight ratio, and the share of dead or saturated units.

use super::plot::{write_png, write_svg, Chart, Series};
use backprop::train::{gradient_findings, GradStatsRecord, LayerStats, Verdict};
use backprop::Result;
use plotters::style::RGBColor;
use std::path::{Path, PathBuf};

/// One colour per layer (matplotlib's tab10), repeated past ten layers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Writes `grad_norm`, `update_ratio` and (when there are ReLU, sigmoid or
/// tanh layers) `units` charts, PNG and SVG, into `out`; returns the files and
/// the problems the statistics show (also each chart's caption).
pub(crate) fn write_grad_plots(
    stats: &[GradStatsRecord],
    out: &Path,
    name: &str,
) -> Result<(Vec<PathBuf>, Vec<Verdict>)> {
    let findings = gradient_findings(stats);
    let caption = match findings.is_empty() {
        true => "gradient flow: no problem seen".to_string(),
        false => findings.iter().map(|f| format!("{}: {}", f.problem, f.finding)).collect::<Vec<_>>().join("; "),
    };
    let unit = if stats.iter().all(|r| r.step.is_some()) { "step" } else { "epoch" };
    let title = |what: &str| if name.is_empty() { what.to_string() } else { format!("{name}: {what}") };
    let log = |v: f64| format!("{:.0e}", 10f64.powf(v));
    let mut charts = vec![
        (
            "grad_norm",
            Chart {
                title: title(&format!("gradient norm per layer and {unit} (log scale)")),
                x_label: unit,
                y_label: "gradient L2 norm".into(),
                series: series(stats, |l| Some(l.grad_norm), true),
                marker: None,
                caption: caption.clone(),
                legend_low: false,
                y_format: log,
                log_y: true,
            },
        ),
        (
            "update_ratio",
            Chart {
                title: title(&format!("update / weight ratio per layer and {unit} (log scale)")),
                x_label: unit,
                y_label: "||update|| / ||weights|| (about 1e-3 is healthy)".into(),
                series: series(stats, |l| l.update_ratio, true),
                marker: None,
                caption: caption.clone(),
                legend_low: false,
                y_format: log,
                log_y: true,
            },
        ),
    ];
    let units = series(stats, |l| l.dead.or(l.saturated).map(|v| 100.0 * v), false);
    if !units.is_empty() {
        charts.push((
            "units",
            Chart {
                title: title(&format!("dead ReLUs or saturated sigmoid/tanh units per {unit}")),
                x_label: unit,
                y_label: "share of the layer's units (%)".into(),
                series: units,
                marker: None,
                caption,
                legend_low: false,
                y_format: |v| format!("{v:.0}"),
                log_y: false,
            },
        ));
    }
    let mut files = Vec::new();
    for (stem, chart) in charts.iter().filter(|(_, c)| !c.series.is_empty()) {
        let (png, svg) = (out.join(format!("{stem}.png")), out.join(format!("{stem}.svg")));
        write_png(chart, &png)?;
        write_svg(chart, &svg)?;
        files.extend([png, svg]);
    }
    Ok((files, findings))
}

/// A line per layer of `get`'s values (log10 of them with `log`; values that
/// are not finite, or not positive on a log scale, are left out).
fn series(stats: &[GradStatsRecord], get: fn(&LayerStats) -> Option<f32>, log: bool) -> Vec<Series> {
    let mut names: Vec<String> = Vec::new();
    for l in stats.iter().flat_map(|r| &r.layers) {
        if !names.contains(&l.layer) {
            names.push(l.layer.clone());
        }
    }
    let x = |r: &GradStatsRecord| r.step.unwrap_or(r.epoch) as f64;
    let mut out: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(i, layer)| Series {
            name: layer.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: stats
                .iter()
                .filter_map(|r| {
                    let v = get(r.layers.iter().find(|l| &l.layer == layer)?)? as f64;
                    let v = if log { (v > 0.0).then(|| v.log10())? } else { v };
                    v.is_finite().then_some((x(r), v))
                })
                .collect(),
        })
        .collect();
    out.retain(|s| !s.points.is_empty());
    out
}
