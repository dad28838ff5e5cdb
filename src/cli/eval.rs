//! `backprop eval`: accuracy of a saved model on a data folder's test split.

use crate::checkpoint::Checkpoint;
use crate::data::load_mnist_dir;
use crate::loss::Loss;
use crate::nn::Mlp;
use crate::train::evaluate;
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// A checkpoint written by `backprop train`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// IDX data folder (its t10k- files are evaluated); default: the bundled data.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Threads for the kernels.
    #[arg(long, value_parser = super::args::positive_usize, allow_hyphen_values = true)]
    threads: Option<usize>,
}

pub(crate) fn run(a: EvalArgs) -> Result<()> {
    super::set_threads(a.threads)?;
    let ckpt = Checkpoint::load(&a.model)?;
    let model = Mlp::from_checkpoint(&ckpt)?;
    let dir = a.data.unwrap_or_else(super::train::default_data_dir);
    let data = load_mnist_dir(&dir)?;
    check_fits(&ckpt, &model, data.test.input_dim(), data.test.num_classes)?;
    let loss: Loss = ckpt.metadata.get("backprop.loss").and_then(|s| s.parse().ok()).unwrap_or(Loss::CrossEntropy);
    let e = evaluate(&model, &data.test, loss, 1000);
    println!(
        "{}: test accuracy {:.2}% ({} images from {}), loss {:.4}",
        a.model.display(),
        100.0 * e.accuracy.unwrap_or(0.0),
        data.test.len(),
        dir.display(),
        e.loss
    );
    Ok(())
}

/// Errors when the data does not fit the model's input or output size.
pub(crate) fn check_fits(ckpt: &Checkpoint, model: &Mlp, inputs: usize, classes: usize) -> Result<()> {
    let c = model.config();
    if c.inputs != inputs {
        return Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!("the model takes {} inputs but the data has {inputs} values per example", c.inputs),
        });
    }
    if c.outputs < classes {
        return Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!("the model has {} outputs but the data has {classes} classes", c.outputs),
        });
    }
    Ok(())
}
