//! Batch normalisation layers: [`BatchNorm1d`] and [`BatchNorm2d`], with
//! running statistics kept as buffers under PyTorch's names.

use super::Module;
use crate::autograd::{Graph, Param, Var};
use crate::Tensor;
use std::ops::{Deref, DerefMut};

/// What [`BatchNorm1d`] and [`BatchNorm2d`] share: batch normalisation over
/// the channel axis of `[N, C, *]` (Ioffe & Szegedy, 2015; PyTorch's
/// `_BatchNorm`),
///
/// `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c`.
///
/// In a training graph ([`Graph::is_training`]) mean and (biased) variance
/// are the batch's, over N and the positions, and the running estimates move
/// towards them: `running = (1 - momentum) running + momentum batch`, with the
/// unbiased variance (`M / (M - 1)` times the biased one, `M` values per
/// channel) for `running_var`; `num_batches_tracked` counts the batches.
/// In evaluation graphs ([`Graph::no_grad`], [`Graph::inputs_only`]) the
/// running estimates are used and nothing changes.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    /// Scale `[C]`, initialised to 1.
    pub weight: Param,
    /// Shift `[C]`, initialised to 0.
    pub bias: Param,
    /// Running mean `[C]` (a buffer), initialised to 0.
    pub running_mean: Param,
    /// Running unbiased variance `[C]` (a buffer), initialised to 1.
    pub running_var: Param,
    /// Training batches seen, a scalar (shape `[]`; PyTorch stores an int64).
    pub num_batches_tracked: Param,
    /// Added to the variance (1e-5).
    pub eps: f32,
    /// Weight of the newest batch in the running estimates (0.1).
    pub momentum: f32,
}

impl BatchNorm {
    /// Batch normalisation of `num_features` channels with PyTorch's defaults
    /// (eps 1e-5, momentum 0.1, weight 1, bias 0, running mean 0, running var 1).
    pub fn new(num_features: usize) -> BatchNorm {
        BatchNorm {
            weight: Param::new(Tensor::ones(&[num_features])),
            bias: Param::new(Tensor::zeros(&[num_features])),
            running_mean: Param::new(Tensor::zeros(&[num_features])),
            running_var: Param::new(Tensor::ones(&[num_features])),
            num_batches_tracked: Param::new(Tensor::scalar(0.0)),
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// Number of channels.
    pub fn num_features(&self) -> usize {
        self.weight.numel()
    }

    /// The names and shapes of the parameters and buffers of a layer over
    /// `n` channels (its [`Module::state_dict`]), without building it.
    ///
    /// ```
    /// let names: Vec<String> = backprop::nn::BatchNorm::shapes(3).into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]);
    /// ```
    pub fn shapes(n: usize) -> Vec<(String, Vec<usize>)> {
        let per_channel = ["weight", "bias", "running_mean", "running_var"].map(|name| (name.to_string(), vec![n]));
        per_channel.into_iter().chain([("num_batches_tracked".to_string(), vec![])]).collect()
    }

    /// Normalises `x` (checked by the caller to be `[N, C, *]` for its layer kind).
    fn normalise<'g>(&self, layer: &str, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        let shape = x.shape();
        let c = self.num_features();
        assert!(shape[1] == c, "{layer}: input {shape:?} has {} channels but the layer has {c}", shape[1]);
        let (w, b) = (Some(g.param(&self.weight)), Some(g.param(&self.bias)));
        if !g.is_training() {
            return x.batch_norm_eval(w, b, &self.running_mean.value(), &self.running_var.value(), self.eps);
        }
        let (y, mean, var) = x.batch_norm_train(w, b, self.eps);
        let m = (shape.iter().product::<usize>() / c) as f32;
        let unbiased = var.mul_scalar(m / (m - 1.0));
        let momentum = self.momentum;
        let blend = |running: &Param, batch: &Tensor| {
            let old = running.value();
            running.set_value(old.zip_broadcast(batch, "running stats", |r, b| (1.0 - momentum) * r + momentum * b));
        };
        blend(&self.running_mean, &mean);
        blend(&self.running_var, &unbiased);
        self.num_batches_tracked.set_value(Tensor::scalar(self.num_batches_tracked.value().item() + 1.0));
        y
    }

    /// `weight`, `bias`.
    fn params(&self) -> Vec<(String, Param)> {
        super::weight_and_bias(&self.weight, Some(&self.bias))
    }

    /// `running_mean`, `running_var`, `num_batches_tracked`.
    fn buffer_list(&self) -> Vec<(String, Param)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            ("num_batches_tracked".to_string(), self.num_batches_tracked.clone()),
        ]
    }
}

/// Batch normalisation of `[N, C]` features or `[N, C, L]` sequences
/// (PyTorch's `nn.BatchNorm1d`): statistics per channel over N (and L).
/// Formulas, modes and running statistics as in [`BatchNorm`], whose fields
/// it exposes.
///
/// ```
/// use backprop::{nn::{BatchNorm1d, Module}, Graph, Tensor};
/// let bn = BatchNorm1d::new(2);
/// let g = Graph::new(); // training: batch statistics
/// let x = g.leaf(Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]));
/// let y = bn.forward(&g, x).value();
/// assert!((y.data()[0] + 1.0).abs() < 1e-4 && (y.data()[3] - 1.0).abs() < 1e-4);
/// assert_eq!(bn.running_mean.value().data(), &[0.2, 2.0]); // 0.9 * 0 + 0.1 * [2, 20]
/// assert_eq!(bn.buffers()[0].0, "running_mean");
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm1d(pub BatchNorm);

impl BatchNorm1d {
    /// Over `num_features` channels, PyTorch's defaults (see [`BatchNorm::new`]).
    pub fn new(num_features: usize) -> BatchNorm1d {
        BatchNorm1d(BatchNorm::new(num_features))
    }
}

/// Batch normalisation of `[N, C, H, W]` feature maps (PyTorch's
/// `nn.BatchNorm2d`): statistics per channel over N, H and W. Formulas,
/// modes and running statistics as in [`BatchNorm`], whose fields it exposes.
///
/// ```
/// use backprop::{nn::{BatchNorm2d, Module}, Graph, Tensor};
/// let bn = BatchNorm2d::new(3);
/// let g = Graph::no_grad(); // evaluation: running statistics (0 and 1 at first)
/// let x = g.constant(Tensor::full(&[2, 3, 4, 4], 2.0));
/// let y = bn.forward(&g, x).value();
/// assert!((y.data()[0] - 2.0 / (1.0f32 + 1e-5).sqrt()).abs() < 1e-6);
/// assert_eq!(bn.num_batches_tracked.value().item(), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm2d(pub BatchNorm);

impl BatchNorm2d {
    /// Over `num_features` channels, PyTorch's defaults (see [`BatchNorm::new`]).
    pub fn new(num_features: usize) -> BatchNorm2d {
        BatchNorm2d(BatchNorm::new(num_features))
    }
}

/// Deref to [`BatchNorm`] and the [`Module`] impl for a layer kind accepting
/// inputs of the given ranks.
macro_rules! batch_norm_layer {
    ($name:ident, $ranks:expr, $expected:expr) => {
        impl Deref for $name {
            type Target = BatchNorm;
            fn deref(&self) -> &BatchNorm {
                &self.0
            }
        }

        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut BatchNorm {
                &mut self.0
            }
        }

        impl Module for $name {
            fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
                let shape = x.shape();
                let name = stringify!($name);
                assert!($ranks.contains(&shape.len()), "{name}: input must be {}, got {shape:?}", $expected);
                self.0.normalise(name, g, x)
            }
            fn parameters(&self) -> Vec<(String, Param)> {
                self.0.params()
            }
            fn buffers(&self) -> Vec<(String, Param)> {
                self.0.buffer_list()
            }
        }
    };
}

/// Whether a model's buffers (its [`Module::buffers`]) include a batch-norm
/// layer's running variance: such a model cannot train on a batch with one
/// value per channel (PyTorch: "Expected more than 1 value per channel when
/// training").
///
/// ```
/// use backprop::nn::{has_batch_norm, BatchNorm1d, Init, Linear, Module};
/// use backprop::tensor::Rng;
/// assert!(has_batch_norm(&BatchNorm1d::new(4).buffers()));
/// let linear = Linear::new(3, 2, true, Init::PytorchDefault, &mut Rng::new(1));
/// assert!(!has_batch_norm(&linear.buffers()));
/// ```
pub fn has_batch_norm(buffers: &[(String, Param)]) -> bool {
    buffers.iter().any(|(name, _)| name == "running_var" || name.ends_with(".running_var"))
}

batch_norm_layer!(BatchNorm1d, [2, 3], "[N, C] or [N, C, L]");
batch_norm_layer!(BatchNorm2d, [4], "[N, C, H, W]");
