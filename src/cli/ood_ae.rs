//! `ood --method ae`: an autoencoder's anomaly scores (minus the
//! reconstruction error, or minus the VAE's negative ELBO) of the in- and
//! out-of-distribution test images.

use backprop::data::Dataset;
use backprop::models::Classifier;
use backprop::Result;
use std::path::Path;

/// The autoencoder at `path`'s scores of `inside` and `outside`, after
/// checking it reads the images the classifier reads.
pub(crate) fn scores(
    path: &Path,
    _model: &Classifier<'_>,
    inside: &Dataset,
    outside: &Dataset,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let loaded = backprop::models::load(path)?;
    let ae = loaded.autoencoder("ood --method ae")?;
    for (data, what) in [(inside, "--in"), (outside, "--out")] {
        if data.input_dim() != ae.inputs() {
            return Err(backprop::Error::Checkpoint {
                path: path.to_path_buf(),
                message: format!(
                    "the autoencoder takes {} inputs ({}) but the {what} images have {} values each",
                    ae.inputs(),
                    shape(ae.config().input),
                    data.input_dim()
                ),
            });
        }
    }
    Ok((ae.anomaly_scores(&inside.inputs, 500), ae.anomaly_scores(&outside.inputs, 500)))
}

/// `1x28x28 images`
fn shape([c, h, w]: [usize; 3]) -> String {
    format!("{c}x{h}x{w} images")
}
