//! `backprop predict --csv`: a regression model from `train csv` applied to a CSV file.
//!
//! The output is the input table with a `predicted_<target>` column per
//! target. For a time series (`--window N` at training), row `i` gets the
//! prediction of its value from the `N` rows before it (empty for the first
//! `N` rows) and one more row holds the forecast for the step after the end.

use super::args::ModelArg;
use backprop::autograd::Graph;
use backprop::data::{quote_field, read_csv, series_windows, CsvTable};
use backprop::models::RegressionMeta;
use backprop::nn::Module;
use backprop::{Error, Result, Tensor};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// The options of `predict` for tables.
#[derive(Args, Debug)]
pub(crate) struct CsvPredictArgs {
    /// Predict for the rows of this CSV file (a model from `train csv`) instead of classifying images.
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    pub csv: Option<PathBuf>,
    /// Where to write the predictions as CSV (default: standard output).
    #[arg(long, value_name = "FILE", requires = "csv")]
    pub output: Option<PathBuf>,
}

/// Rows processed per forward pass.
const CHUNK: usize = 4096;

pub(crate) fn run(model: &ModelArg, a: &CsvPredictArgs) -> Result<()> {
    let csv = a.csv.as_deref().expect("dispatched only with --csv");
    if let Some(out) = &a.output {
        let inputs = [("model (--model)", model.model.as_path()), ("input table (--csv)", csv)];
        super::args::refuse_overwriting_inputs("--output", out, &inputs)?;
    }
    let loaded = model.load()?;
    let regressor = loaded.regressor("predict --csv")?;
    let meta = regressor.meta()?;
    let table = read_csv(csv)?;
    if let Some(note) = table.renamed_note() {
        eprintln!("note: {note}");
    }
    let (inputs, first_row) = match meta.window {
        Some(w) => series_inputs(&table, &meta, w)?,
        None => (feature_inputs(&table, &meta)?, 0),
    };
    let predictions = predict(regressor.module, &meta, &inputs);
    let text = render(&table, &meta, &predictions, first_row);
    match &a.output {
        Some(path) => backprop::checkpoint::write_atomically(path, text.as_bytes()),
        None => std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Error::io("<standard output>", e)),
    }
}

/// The model's feature columns, by name, as `[rows, features]`.
fn feature_inputs(table: &CsvTable, meta: &RegressionMeta) -> Result<Tensor> {
    let cols = meta
        .features
        .iter()
        .map(|name| table.column_index(name, "a feature the model was trained on"))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::from_vec(table.numeric_matrix(&cols)?, &[table.rows.len(), cols.len()]))
}

/// Every full window of the series column; predictions start at row `window`.
fn series_inputs(table: &CsvTable, meta: &RegressionMeta, window: usize) -> Result<(Tensor, usize)> {
    let name = &meta.targets[0];
    let series = table.numeric_column(table.column_index(name, "the series the model was trained on")?)?;
    let inputs = series_windows(&series, window).ok_or_else(|| {
        Error::format(
            &table.path,
            format!("column '{name}' has {} values, fewer than the model's window of {window}", series.len()),
        )
    })?;
    Ok((inputs, window))
}

/// Standardise, run the model, and return predictions `[rows, targets]` in original units.
fn predict(model: &dyn Module, meta: &RegressionMeta, inputs: &Tensor) -> Vec<f32> {
    let rows = inputs.dim(0);
    let mut out = Vec::with_capacity(rows * meta.targets.len());
    for start in (0..rows).step_by(CHUNK) {
        let ids: Vec<usize> = (start..rows.min(start + CHUNK)).collect();
        let x = meta.scalers.inputs.apply(&inputs.index_select(&ids));
        let g = Graph::no_grad();
        let z = model.forward(&g, g.constant(x)).value();
        out.extend_from_slice(meta.scalers.targets.invert(&z).data());
    }
    out
}

/// The table with one `predicted_<target>` column per target; prediction row
/// `k` belongs to table row `first_row + k` (a row past the end is added).
fn render(table: &CsvTable, meta: &RegressionMeta, predictions: &[f32], first_row: usize) -> String {
    let t = meta.targets.len();
    let mut header: Vec<String> = table.headers.iter().map(|h| quote_field(h).into_owned()).collect();
    header.extend(meta.targets.iter().map(|n| quote_field(&format!("predicted_{n}")).into_owned()));
    let mut text = header.join(",") + "\n";
    let rows = table.rows.len().max(first_row + predictions.len() / t.max(1));
    for r in 0..rows {
        let mut fields: Vec<String> = match table.rows.get(r) {
            Some(row) => row.iter().map(|f| quote_field(f).into_owned()).collect(),
            None => vec![String::new(); table.headers.len()],
        };
        let k = r.checked_sub(first_row).filter(|k| (k + 1) * t <= predictions.len());
        match k {
            Some(k) => fields.extend(predictions[k * t..(k + 1) * t].iter().map(|v| v.to_string())),
            None => fields.extend(std::iter::repeat_n(String::new(), t)),
        }
        text += &fields.join(",");
        text.push('\n');
    }
    text
}
