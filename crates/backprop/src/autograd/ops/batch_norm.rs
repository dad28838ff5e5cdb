//! Batch normalisation over the channel axis of `[N, C]` or `[N, C, H, W]`
//! (any `[N, C, *]`), with batch statistics (training) or given running
//! statistics (evaluation). Kernels and formulas in `tensor::batch_norm`.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{batch_norm, batch_norm_backward, batch_norm_stats};
use crate::Tensor;

/// Inputs `[x]`, `[x, weight]`, `[x, bias]` or `[x, weight, bias]`.
struct BatchNormOp {
    mean: Tensor,
    var: Tensor,
    eps: f32,
    /// Whether mean and var are the batch statistics of x (training).
    batch_stats: bool,
    has_weight: bool,
}

impl Backward for BatchNormOp {
    fn name(&self) -> &'static str {
        if self.batch_stats {
            "batch_norm_train"
        } else {
            "batch_norm_eval"
        }
    }
    // dbeta = sum dy, dgamma = sum dy xhat,
    // dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)) with batch statistics,
    // dx = gamma rstd dy with fixed ones.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let weight = self.has_weight.then(|| c.inputs[1]);
        let (dx, dweight, dbias) =
            batch_norm_backward(c.inputs[0], &self.mean, &self.var, weight, c.grad, self.eps, self.batch_stats);
        let mut grads = vec![c.needs[0].then_some(dx)];
        if self.has_weight {
            grads.push(c.needs[1].then_some(dweight));
        }
        if c.inputs.len() > grads.len() {
            grads.push(c.needs[grads.len()].then_some(dbias));
        }
        grads
    }
}

impl<'g> Var<'g> {
    /// Batch normalisation with the batch's statistics (training mode; Ioffe &
    /// Szegedy, 2015): `self` is `[N, C, *]`, `weight` and `bias` are `[C]`
    /// (1 and 0 when `None`). Returns the output and the batch's per-channel
    /// mean and biased variance (`[C]` each), from which a layer updates its
    /// running statistics.
    ///
    /// # Panics
    /// When a per-channel tensor is not `[C]`, or a channel holds a single
    /// value (`N * H * W == 1`: the variance is undefined, as PyTorch says).
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let x = g.leaf(Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]));
    /// let (y, mean, var) = x.batch_norm_train(None, None, 0.0);
    /// assert_eq!(y.value().data(), &[-1.0, -1.0, 1.0, 1.0]);
    /// assert_eq!((mean.data(), var.data()), (&[2.0, 20.0][..], &[1.0, 100.0][..]));
    /// ```
    pub fn batch_norm_train(
        self,
        weight: Option<Var<'g>>,
        bias: Option<Var<'g>>,
        eps: f32,
    ) -> (Var<'g>, Tensor, Tensor) {
        let x = self.value();
        let per_channel = x.numel() / x.shape().get(1).copied().unwrap_or(1).max(1);
        assert!(
            x.ndim() >= 2 && per_channel > 1,
            "batch_norm_train: needs more than one value per channel to compute a variance, got input {:?}",
            x.shape()
        );
        let (mean, var) = batch_norm_stats(&x);
        let y = self.batch_norm_with(weight, bias, mean.clone(), var.clone(), eps, true);
        (y, mean, var)
    }

    /// Batch normalisation with given statistics (evaluation mode): `self`
    /// `[N, C, *]`, `weight`, `bias`, `running_mean` and `running_var` `[C]`;
    /// `y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`.
    ///
    /// # Panics
    /// When a per-channel tensor is not `[C]`.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![3.0, 5.0], &[2, 1]));
    /// let (mean, var) = (Tensor::from_vec(vec![1.0], &[1]), Tensor::from_vec(vec![4.0], &[1]));
    /// assert_eq!(x.batch_norm_eval(None, None, &mean, &var, 0.0).value().data(), &[1.0, 2.0]);
    /// ```
    pub fn batch_norm_eval(
        self,
        weight: Option<Var<'g>>,
        bias: Option<Var<'g>>,
        running_mean: &Tensor,
        running_var: &Tensor,
        eps: f32,
    ) -> Var<'g> {
        self.batch_norm_with(weight, bias, running_mean.clone(), running_var.clone(), eps, false)
    }

    fn batch_norm_with(
        self,
        weight: Option<Var<'g>>,
        bias: Option<Var<'g>>,
        mean: Tensor,
        var: Tensor,
        eps: f32,
        batch_stats: bool,
    ) -> Var<'g> {
        let (wv, bv) = (weight.map(|w| w.value()), bias.map(|b| b.value()));
        let y = batch_norm(&self.value(), &mean, &var, wv.as_ref(), bv.as_ref(), eps);
        let others: Vec<Var<'g>> = weight.into_iter().chain(bias).collect();
        self.derive(y, &others, BatchNormOp { mean, var, eps, batch_stats, has_weight: weight.is_some() })
    }
}
