//! `backprop eval`: accuracy of a saved model on a data folder's test split.

use super::args::{DataArg, ModelArg, ThreadsArg};
use backprop::data::{load_mnist_test, Dataset};
use backprop::models::{Classifier, LoadedModel};
use backprop::nn::Module;
use backprop::train::evaluate;
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    pub(crate) threads: ThreadsArg,
}

pub(crate) fn run(a: EvalArgs) -> Result<()> {
    let (loaded, dir, data) = load_model_and_data("eval", &a.model, &a.data)?;
    let classifier = loaded.classifier("eval")?;
    let e = evaluate(classifier.module, &data, loaded.loss(), 1000);
    if !e.loss.is_finite() {
        eprintln!("{}", non_finite_warning(classifier.module, &format!("the test loss is {}", e.loss)));
    }
    println!(
        "{}: test accuracy {:.2}% ({} images from {}), loss {:.4}",
        a.model.model.display(),
        100.0 * e.accuracy.unwrap_or(0.0),
        data.len(),
        dir.display(),
        e.loss
    );
    Ok(())
}

/// A warning line for a result that is not finite (`what`, e.g. "the test
/// loss is NaN"), naming the cause: the first parameter holding NaN or inf
/// (with how many of its values), or else outputs that overflowed.
pub(crate) fn non_finite_warning(model: &dyn Module, what: &str) -> String {
    let bad = model.parameters().into_iter().find_map(|(name, p)| {
        let v = p.value();
        let count = v.data().iter().filter(|x| !x.is_finite()).count();
        (count > 0).then(|| (name, count, v.numel()))
    });
    match bad {
        Some((name, count, len)) => format!(
            "warning: {what}: parameter '{name}' holds {count} non-finite of {len} values, \
             so these results are meaningless; retrain the model or restore a good checkpoint"
        ),
        None => format!(
            "warning: {what}: the model's outputs overflowed f32 (its weights are finite but too large), \
             so these results are meaningless"
        ),
    }
}

/// A saved classifier and the test split (`t10k-*` files; the `train-*` files
/// need not be there) of the IDX folder it is to run on (default: the bundled
/// data), checked to fit the model. `user` names the command, for the error
/// when the model is no classifier.
pub(crate) fn load_model_and_data(
    user: &str,
    model: &ModelArg,
    data: &DataArg,
) -> Result<(LoadedModel, PathBuf, Dataset)> {
    let loaded = model.load()?;
    loaded.classifier(user)?;
    let dir = data.dir();
    let test = load_mnist_test(&dir)?;
    check_fits(&loaded.classifier(user)?, &test, &dir)?;
    Ok((loaded, dir, test))
}

/// Errors unless the examples of `data` (read from `dir`) have the model's input size and, for
/// grayscale images, its height and width.
pub(crate) fn check_inputs(model: &Classifier, data: &Dataset, dir: &Path) -> Result<()> {
    let inputs = model.inputs;
    if data.input_dim() != inputs {
        let shape = data.image_shape.map(|[r, c]| format!(", {r}x{c} images")).unwrap_or_default();
        return Err(Error::Checkpoint {
            path: model.loaded().path().to_path_buf(),
            message: format!(
                "the model takes {inputs} inputs but the data has {} values per example ({}{shape})",
                data.input_dim(),
                dir.display()
            ),
        });
    }
    // Equal sizes are not enough: 14x56 images have MNIST's 784 values but
    // are not 28x28 digits.
    if let (Some([rows, cols]), Ok(shape)) = (data.image_shape, model.image_shape()) {
        if shape.channels == 1 && [shape.height, shape.width] != [rows, cols] {
            return Err(Error::Checkpoint {
                path: model.loaded().path().to_path_buf(),
                message: format!(
                    "the model takes {}x{} images but {} holds {rows}x{cols} images",
                    shape.height,
                    shape.width,
                    dir.display()
                ),
            });
        }
    }
    Ok(())
}

/// Errors when `data` does not fit the model's input size or has more classes than it has outputs.
pub(crate) fn check_fits(model: &Classifier, data: &Dataset, dir: &Path) -> Result<()> {
    check_inputs(model, data, dir)?;
    let (outputs, classes) = (model.classes, data.num_classes);
    if outputs < classes {
        // Name the first label the model cannot output, and where it is.
        let first = data.labels.iter().enumerate().find(|(_, &l)| l >= outputs.max(2));
        let at = first.map_or(String::new(), |(i, l)| format!(" (label {l} at example {i} of {})", dir.display()));
        return Err(Error::Checkpoint {
            path: model.loaded().path().to_path_buf(),
            message: format!("the model has {outputs} outputs but the data has {classes} classes{at}"),
        });
    }
    Ok(())
}
