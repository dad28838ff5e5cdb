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
        Sgd { params, lr, momentum: 0.0, nesterov: false, weight_decay: 0.0, velocity: vec![None; n] }
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
}

impl Optimizer for Sgd {
    fn step(&mut self) {
        let (lr, mu, wd, nesterov) = (self.lr, self.momentum, self.weight_decay, self.nesterov);
        for ((_, p), vel) in self.params.iter().zip(&mut self.velocity) {
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
