//! `backprop eval`: accuracy of a saved model on a data folder's test split.

use backprop::checkpoint::Checkpoint;
use backprop::data::{load_mnist_dir, Dataset, ImageFolderSplit};
use backprop::loss::Loss;
use backprop::nn::Mlp;
use backprop::train::evaluate;
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

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
    let (ckpt, model, dir, data) = load_model_and_data(&a.model, a.data)?;
    let e = evaluate(&model, &data.test, saved_loss(&ckpt), 1000);
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

/// The loss a checkpoint was trained with (cross-entropy when it does not say).
pub(crate) fn saved_loss(ckpt: &Checkpoint) -> Loss {
    ckpt.metadata.get("backprop.loss").and_then(|s| s.parse().ok()).unwrap_or(Loss::CrossEntropy)
}

/// A saved MLP and the IDX folder it is to run on (default: the bundled data),
/// with the folder's test split checked to fit the model.
pub(crate) fn load_model_and_data(
    model: &Path,
    data: Option<PathBuf>,
) -> Result<(Checkpoint, Mlp, PathBuf, ImageFolderSplit)> {
    let ckpt = Checkpoint::load(model)?;
    let mlp = Mlp::from_checkpoint(&ckpt)?;
    let dir = data.unwrap_or_else(super::train::default_data_dir);
    let split = load_mnist_dir(&dir)?;
    check_fits(&ckpt, &mlp, &split.test, &dir)?;
    Ok((ckpt, mlp, dir, split))
}

/// Errors unless the examples of `data` (read from `dir`) have the model's input size.
pub(crate) fn check_inputs(ckpt: &Checkpoint, model: &Mlp, data: &Dataset, dir: &Path) -> Result<()> {
    let inputs = model.config().inputs;
    if data.input_dim() != inputs {
        let shape = data.image_shape.map(|[r, c]| format!(", {r}x{c} images")).unwrap_or_default();
        return Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!(
                "the model takes {inputs} inputs but the data has {} values per example ({}{shape})",
                data.input_dim(),
                dir.display()
            ),
        });
    }
    Ok(())
}

/// Errors when `data` does not fit the model's input size or has more classes than it has outputs.
pub(crate) fn check_fits(ckpt: &Checkpoint, model: &Mlp, data: &Dataset, dir: &Path) -> Result<()> {
    check_inputs(ckpt, model, data, dir)?;
    let (outputs, classes) = (model.config().outputs, data.num_classes);
    if outputs < classes {
        return Err(Error::Checkpoint {
            path: ckpt.path.clone(),
            message: format!("the model has {outputs} outputs but the data has {classes} classes"),
        });
    }
    Ok(())
}
