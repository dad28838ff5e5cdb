//! Stochastic gradient descent: w := w - eta * dJ/dw, with optional momentum,
//! Nesterov momentum and L2 weight decay.

use super::Optimizer;
use crate::autograd::Param;
use crate::tensor::parallel::{self, CHUNK};
use crate::Tensor;

/// SGD as in PyTorch: with weight decay `g += wd * w`; with momentum
/// `v = mu v + g`, then `w -= lr * v` (or `w -= lr * (g + mu v)` with Nesterov).
pub struct Sgd {
    params: Vec<(String, Param)>,
    lr_scales: Vec<f32>,
    lr: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
    velocity: Vec<Option<Tensor>>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(params: Vec<(String, Param)>, lr: f32) -> Sgd {
        let n = params.len();
        let lr_scales = vec![1.0; n];
        Sgd { params, lr_scales, lr, momentum: 0.0, nesterov: false, weight_decay: 0.0, velocity: vec![None; n] }
    }

    /// Adds momentum `mu` (0.9 is usual; in [0, 1), or the velocity grows
    /// without bound); `nesterov` selects Nesterov momentum. As in PyTorch each
    /// parameter has its own velocity, left as it is on a step where the
    /// parameter has no gradient.
    pub fn momentum(mut self, mu: f32, nesterov: bool) -> Sgd {
        self.momentum = mu;
        self.nesterov = nesterov;
        self
    }

    /// Adds L2 weight decay.
    pub fn weight_decay(mut self, wd: f32) -> Sgd {
        self.weight_decay = wd;
        self
    }

    /// Each parameter's learning rate is `scale(name)` times the optimizer's
    /// (and the schedule's): PyTorch's parameter groups with their own `lr`
    /// (discriminative fine-tuning, Howard & Ruder, ACL 2018).
    ///
    /// ```
    /// use backprop::{optim::{Optimizer, Sgd}, Param, Tensor};
    /// let w = Param::new(Tensor::scalar(1.0));
    /// let mut opt = Sgd::new(vec![("encoder.w".into(), w.clone())], 0.5).lr_scale(|_| 0.1);
    /// w.lock().grad = Some(Tensor::scalar(2.0));
    /// opt.step(); // w -= 0.5 * 0.1 * 2
    /// assert!((w.value().item() - 0.9).abs() < 1e-6);
    /// ```
    pub fn lr_scale(mut self, scale: impl Fn(&str) -> f32) -> Sgd {
        self.lr_scales = self.params.iter().map(|(n, _)| scale(n)).collect();
        self
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) {
        let (mu, wd, nesterov) = (self.momentum, self.weight_decay, self.nesterov);
        for (((_, p), vel), &scale) in self.params.iter().zip(&mut self.velocity).zip(&self.lr_scales) {
            let lr = self.lr * scale;
            let mut state = p.lock();
            let state = &mut *state;
            let Some(grad) = &state.grad else { continue };
            let w = state.value.data_mut();
            let g = grad.data();
            if mu == 0.0 {
                parallel::for_each((w, g), CHUNK, |_, (w, g)| {
                    for (w, &g) in w.iter_mut().zip(g) {
                        *w -= lr * (g + wd * *w);
                    }
                });
                continue;
            }
            let v = vel.get_or_insert_with(|| Tensor::zeros(grad.shape())).data_mut();
            for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                let g = g + wd * *w;
                *v = mu * *v + g;
                *w -= lr * if nesterov { g + mu * *v } else { *v };
            }
        }
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn params(&self) -> &[(String, Param)] {
        &self.params
    }
}
