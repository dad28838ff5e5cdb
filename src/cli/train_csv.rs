//! `backprop train csv`: regression on a CSV table, or on a time series with `--window`.

use super::args::{fraction, layer_sizes, positive_usize, LayerSizes};
use super::input_args::{InitArg, Normalize, NormalizeArg};
use super::train_args::{check_model_size, total_steps, LrDefaults, OptimArgs, RunArgs};
use backprop::data::{read_csv, window_series, CsvTable, RegressionData, Standardizer};
use backprop::loss::Loss;
use backprop::models::{RegressionMeta, Scalers};
use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::tensor::Rng;
use backprop::train::TrainConfig;
use backprop::{Error, Result, Tensor};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ModelKind {
    /// y = b + sum_j w_j x_j
    Linear,
    /// Hidden layers with an activation, then a linear output.
    Mlp,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RegressionLoss {
    Mse,
    L1,
}

/// `train csv`'s learning rates: 0.01 for Adam, 0.1 for SGD.
const CSV_LR: LrDefaults = LrDefaults { sgd: 0.1, adam: 1e-2, decay_matrices_only: false };

#[derive(Args, Debug)]
#[command(
    mut_arg("out", |a| a.default_value("runs/csv")),
    mut_arg("lr", |a| a.help("Learning rate (default 1e-2 for Adam/AdamW, 0.1 for SGD)"))
)]
pub(crate) struct CsvArgs {
    /// CSV file with a header row of column names.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// Column(s) to predict, comma-separated: header names, or column numbers counted from 0
    /// (0 = the first column, as pandas' iloc; a header name wins over a number). A repeated
    /// header name is renamed as pandas does: the second 'cli' is 'cli.1'.
    #[arg(long, value_name = "COL", value_delimiter = ',', required = true)]
    target: Vec<String>,
    /// Input columns, by name or number from 0 as --target (default: every other numeric column).
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// Columns to leave out of the default features (ids, names, ...), by name or number from 0.
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    drop: Vec<String>,
    /// linear (y = b + w.x) or mlp (hidden layers with --activation).
    #[arg(long, value_enum, default_value = "mlp")]
    model: ModelKind,
    /// Hidden layer sizes of the MLP, comma-separated (default 64,32).
    #[arg(long, value_parser = layer_sizes, value_name = "SIZES")]
    hidden: Option<LayerSizes>,
    /// Activation of the MLP's hidden layers: sigmoid, hard-sigmoid, relu, tanh, gelu (default relu).
    #[arg(long)]
    activation: Option<Activation>,
    /// mse (errors reported as RMSE) or l1 (errors reported as MAE).
    #[arg(long, value_enum, default_value = "mse")]
    loss: RegressionLoss,
    /// Examples per step.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    batch_size: usize,
    /// Passes over the training rows.
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    epochs: usize,
    /// Fraction held out for validation: random rows, or the last part of a --window series.
    #[arg(long, default_value_t = 0.2, value_parser = fraction)]
    val_fraction: f32,
    /// Time series: predict the --target column's next value from its previous N values.
    #[arg(long, value_name = "N", value_parser = positive_usize)]
    window: Option<usize>,
    #[command(flatten)]
    normalize: NormalizeArg,
    #[command(flatten)]
    init: InitArg,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// The examples and what they were made from.
struct Prepared {
    train: RegressionData,
    valid: RegressionData,
    features: Vec<String>,
    /// The target columns' names (as in the header, after renaming repeats).
    targets: Vec<String>,
    /// How the inputs are described in the first line.
    inputs_text: String,
}

pub(crate) fn run(a: CsvArgs) -> Result<()> {
    let folder = a.run.start()?;
    check_flags(&a)?;
    let normalize = a.normalize.no_pixels()?.normalize;
    let table = read_csv(&a.file)?;
    if let Some(note) = table.renamed_note() {
        eprintln!("note: {note}");
    }
    let p = match a.window {
        Some(w) => prepare_series(&table, &a, w)?,
        None => prepare_table(&table, &a)?,
    };
    if p.train.is_empty() {
        return Err(Error::invalid(
            "--val-fraction",
            format!("{} leaves no training examples ({} in all)", a.val_fraction, p.valid.len()),
        ));
    }
    // Standardisation statistics come from the training split alone.
    let scalers = match normalize {
        Normalize::Standard => {
            Scalers { inputs: Standardizer::fit(&p.train.inputs), targets: Standardizer::fit(&p.train.targets) }
        }
        _ => Scalers {
            inputs: Standardizer::identity(p.train.input_dim()),
            targets: Standardizer::identity(p.train.target_dim()),
        },
    };
    let train = p.train.standardized(&scalers.inputs, &scalers.targets);
    let valid = p.valid.standardized(&scalers.inputs, &scalers.targets);
    let config = model_config(&a, train.input_dim(), train.target_dim());
    check_model_size(&config, "--hidden")?;
    let model = Mlp::new(config, &mut Rng::new(a.run.seed));
    if let Some(note) = a.init.apply(&model, model.config().hidden.len()) {
        eprintln!("{note}");
    }
    let loss = match a.loss {
        RegressionLoss::Mse => Loss::Mse,
        RegressionLoss::L1 => Loss::L1,
    };
    let steps = total_steps(train.len().div_ceil(a.batch_size * folder.ranks()), a.epochs)?;
    let (optimizer, schedule) = a.optim.build(model.parameters(), steps, CSV_LR)?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.run.seed,
        loss,
        schedule,
        clip_norm: a.optim.clip_norm(),
        ..Default::default()
    };
    folder.say(format_args!(
        "training {} on {}: {} -> {} ({} train, {} validation examples); {} parameters",
        describe(&model),
        a.file.display(),
        p.inputs_text,
        p.targets.join(", "),
        train.len(),
        valid.len(),
        model.num_parameters()
    ));
    let started = std::time::Instant::now();
    let records = folder
        .trainer(optimizer, config)?
        .fit(&model, &train, Some(&valid))
        .map_err(|e| super::args::name_flags(e, &["batch_size"]))?;
    let seconds = started.elapsed().as_secs_f32();
    if !folder.writes() {
        return Ok(());
    }
    let meta = RegressionMeta { features: p.features, targets: p.targets, window: a.window, scalers };
    let mut metadata = meta.to_metadata();
    metadata.insert(backprop::models::LOSS_KEY.into(), loss.to_string());
    model.save(&folder.model, &metadata)?;
    let last = records.last();
    let name = if loss == Loss::L1 { "mae" } else { "rmse" };
    if a.run.output.json {
        let summary = serde_json::json!({
            "error_name": name, "train_error": last.and_then(|r| r.train_error),
            "val_error": last.and_then(|r| r.val_error), "train_examples": train.len(),
            "val_examples": valid.len(), "train_seconds": seconds, "model": folder.model, "history": folder.history,
        });
        println!("{summary}");
    }
    let error = |e: Option<f32>| e.map_or("-".to_string(), |e| format!("{e:.4}"));
    folder.say(format_args!(
        "final {name}: train {}, validation {} (in the target's units); trained in {seconds:.1}s",
        error(last.and_then(|r| r.train_error)),
        error(last.and_then(|r| r.val_error)),
    ));
    folder.say_saved();
    Ok(())
}

/// Flag combinations that make no sense, rejected before reading any data.
fn check_flags(a: &CsvArgs) -> Result<()> {
    if a.model == ModelKind::Linear && a.hidden.as_ref().is_some_and(|h| !h.0.is_empty()) {
        return Err(Error::invalid("--hidden", "a linear model has no hidden layers (use --model mlp)"));
    }
    if a.model == ModelKind::Linear && a.activation.is_some() {
        return Err(Error::invalid("--activation", "a linear model has no activation (use --model mlp)"));
    }
    let lists = [("--target", Some(&a.target)), ("--features", a.features.as_ref()), ("--drop", Some(&a.drop))];
    for (flag, names) in lists {
        let names = names.map_or(&[][..], Vec::as_slice);
        if names.iter().any(|n| n.trim().is_empty()) {
            return Err(Error::invalid(flag, format!("empty column name in '{}'", names.join(","))));
        }
        if let Some((_, twice)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            return Err(Error::invalid(flag, format!("column '{twice}' is named twice")));
        }
    }
    if a.window.is_some() {
        if a.target.len() != 1 {
            return Err(Error::invalid(
                "--window",
                format!("a time series has exactly one --target column, got {}", a.target.len()),
            ));
        }
        if a.features.is_some() {
            return Err(Error::invalid(
                "--features",
                "not used with --window: the inputs are the target's past values",
            ));
        }
    }
    Ok(())
}

/// A table: features and targets by column, a seeded random validation split.
fn prepare_table(table: &CsvTable, a: &CsvArgs) -> Result<Prepared> {
    let targets = columns(table, &a.target, "--target")?;
    let dropped = columns(table, &a.drop, "--drop")?;
    let features = match &a.features {
        Some(names) => {
            let cols = columns(table, names, "--features")?;
            if let Some(c) = cols.iter().find(|c| targets.contains(c)) {
                let name = &table.headers[*c];
                return Err(Error::invalid(
                    "--features",
                    format!("'{name}' is the target; it cannot also be an input"),
                ));
            }
            cols
        }
        None => default_features(table, &targets, &dropped),
    };
    if features.is_empty() {
        return Err(Error::format(
            &table.path,
            format!("no numeric column is left to use as a feature (columns: {})", table.headers.join(", ")),
        ));
    }
    let n = table.rows.len();
    let y = Tensor::from_vec(table.numeric_matrix(&targets)?, &[n, targets.len()]);
    let x = Tensor::from_vec(table.numeric_matrix(&features)?, &[n, features.len()]);
    let (train, valid) = RegressionData::new(x, y)?.split_validation(a.val_fraction, a.run.seed);
    let names = |cols: &[usize]| cols.iter().map(|&c| table.headers[c].clone()).collect::<Vec<String>>();
    let (features, targets) = (names(&features), names(&targets));
    Ok(Prepared { train, valid, inputs_text: features.join(", "), features, targets })
}

/// Every column that is not a target, not dropped and numeric; a note for each text column skipped.
fn default_features(table: &CsvTable, targets: &[usize], dropped: &[usize]) -> Vec<usize> {
    let candidates = (0..table.headers.len()).filter(|c| !targets.contains(c) && !dropped.contains(c));
    candidates
        .filter(|&c| {
            let numeric = table.is_numeric(c);
            if !numeric {
                eprintln!(
                    "note: skipping column '{}' of {}: not numeric (name it in --features to see where)",
                    table.headers[c],
                    table.path.display()
                );
            }
            numeric
        })
        .collect()
}

/// A time series: windows of the one target column, the last part held out in time order.
fn prepare_series(table: &CsvTable, a: &CsvArgs, window: usize) -> Result<Prepared> {
    let col = columns(table, &a.target, "--target")?[0];
    let name = &table.headers[col];
    columns(table, &a.drop, "--drop")?;
    let series = table.numeric_column(col)?;
    let needed = window + if a.val_fraction > 0.0 { 2 } else { 1 };
    if series.len() < needed {
        return Err(Error::invalid(
            "--window",
            format!(
                "the series in column '{name}' of {} is too short: {} values, but a window of {window} needs at least {needed}",
                table.path.display(),
                series.len()
            ),
        ));
    }
    let data = window_series(&series, window).map_err(|e| super::args::name_flags(e, &["window"]))?;
    // The last samples in time order, at least one when a fraction is asked for (never shuffled).
    let n = data.len();
    let n_valid = match a.val_fraction {
        f if f > 0.0 => ((f64::from(f) * n as f64).round() as usize).clamp(1, n - 1),
        _ => 0,
    };
    let ids: Vec<usize> = (0..n).collect();
    let (train, valid) = (data.subset(&ids[..n - n_valid]), data.subset(&ids[n - n_valid..]));
    let inputs_text = format!("the previous {window} values of {name} (validation: the last {} in time)", valid.len());
    Ok(Prepared { train, valid, features: Vec::new(), targets: vec![name.clone()], inputs_text })
}

/// The column index of each name or number given to `flag`; the error names the
/// file and the column, or the two specs that name the same column.
fn columns(table: &CsvTable, specs: &[String], flag: &str) -> Result<Vec<usize>> {
    let what = format!("a {flag} column");
    let cols = specs.iter().map(|s| table.column(s, &what)).collect::<Result<Vec<usize>>>()?;
    if let Some(i) = (0..cols.len()).find(|&i| cols[..i].contains(&cols[i])) {
        let j = cols.iter().position(|&c| c == cols[i]).expect("found above");
        let message = format!("'{}' and '{}' are the same column ('{}')", specs[j], specs[i], table.headers[cols[i]]);
        return Err(Error::invalid(flag, message));
    }
    Ok(cols)
}

fn model_config(a: &CsvArgs, inputs: usize, outputs: usize) -> MlpConfig {
    match a.model {
        ModelKind::Linear => MlpConfig {
            inputs,
            hidden: Vec::new(),
            outputs,
            activation: Activation::Identity,
            output_activation: Activation::Identity,
            init: Init::Xavier,
        },
        ModelKind::Mlp => {
            let hidden = a.hidden.as_ref().map_or(vec![64, 32], |h| h.0.clone());
            MlpConfig::classifier(inputs, &hidden, outputs, a.activation.unwrap_or(Activation::Relu))
        }
    }
}

/// `linear model 2-1` or `MLP 7-64-32-1 (sigmoid)`.
fn describe(model: &Mlp) -> String {
    if model.config().hidden.is_empty() {
        let c = model.config();
        format!("linear model {}-{}", c.inputs, c.outputs)
    } else {
        super::train::describe(model)
    }
}
