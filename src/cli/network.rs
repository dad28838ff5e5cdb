//! The networks `train mnist` and `train images` train: an MLP, or a CNN
//! built from `--arch` (declared here once for both commands).

use super::train_args::MAX_PARAMETERS;
use backprop::nn::{Cnn, CnnConfig, Mlp, Module};
use backprop::tensor::Rng;
use backprop::{Error, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::Path;

/// `--arch`: a CNN's layers.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ArchArg {
    /// The CNN's layers (--model cnn): a preset (lenet5, vgg-small) or a string such as
    /// c32k5p2-bn-relu-mp2-fc128-relu, e.g. c<out>k<kernel>[s<stride>][p<pad>][d<dilation>][g<groups>],
    /// ct<out>k<kernel>.. (transposed), bn, relu, lrelu[<slope>], sigmoid, tanh, gelu, mp<k>[s..][p..],
    /// ap<k>[s..][p..], gap, flatten, fc<n>, drop<p>; the output layer fc<classes> is added unless the
    /// string ends with one. Default: lenet5 for train mnist, vgg-small for train images.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
}

/// The most values the layers' outputs of one batch may hold: 2^30 (4 GiB,
/// about three times that with gradients and saved inputs).
const MAX_BATCH_VALUES: usize = 1 << 30;

/// Builds the CNN `arch` describes for `input` (`[channels, height, width]`)
/// examples and `outputs` scores, seeded by `seed`; refuses, before anything
/// is allocated, one whose weights or batch of `batch_size` outputs are too
/// large for this machine. Errors about the architecture name `--arch`.
pub(crate) fn build_cnn(arch: &str, input: [usize; 3], outputs: usize, batch_size: usize, seed: u64) -> Result<Cnn> {
    let config = CnnConfig::classifier(arch, input, outputs).map_err(|e| super::args::name_flags(e, &["arch"]))?;
    let (params, values) = config.sizes().map_err(|e| super::args::name_flags(e, &["arch"]))?;
    if params > MAX_PARAMETERS {
        let message =
            format!("{} would have {params} parameters, more than the limit of {MAX_PARAMETERS}", config.arch);
        return Err(Error::invalid("--arch", message));
    }
    match values.checked_mul(batch_size) {
        Some(total) if total <= MAX_BATCH_VALUES => {}
        _ => {
            let message = format!(
                "the layers' outputs hold {values} values per example, too many for a batch of {batch_size} \
                 (the limit is {MAX_BATCH_VALUES}); lower --batch-size or the layer sizes"
            );
            return Err(Error::invalid("--arch", message));
        }
    }
    Cnn::new(config, &mut Rng::new(seed))
}

/// A network being trained.
pub(crate) enum Network {
    /// `--model mlp` (or logistic).
    Mlp(Mlp),
    /// `--model cnn`.
    Cnn(Cnn),
}

impl Network {
    /// The network as a module.
    pub fn module(&self) -> &dyn Module {
        match self {
            Network::Mlp(m) => m,
            Network::Cnn(c) => c,
        }
    }

    /// Saves the checkpoint (a CNN's batch-norm statistics included).
    pub fn save(&self, path: &Path, meta: &BTreeMap<String, String>) -> Result<()> {
        match self {
            Network::Mlp(m) => m.save(path, meta),
            Network::Cnn(c) => c.save(path, meta),
        }
    }
}
