//! Adam and AdamW.

use super::Optimizer;
use crate::autograd::Param;
use crate::tensor::parallel::{self, CHUNK};
use crate::Tensor;

/// Adam (Kingma & Ba): running means of the gradient (m) and its square (v),
/// bias-corrected, step `lr * m_hat / (sqrt(v_hat) + eps)`.
///
/// Weight decay is L2 (added to the gradient) for Adam, or decoupled
/// (`w -= lr * wd * w`, AdamW) when built with [`Adam::adamw`]. A filter can
/// exempt parameters from decay (GPT training decays only matrices).
pub struct Adam {
    params: Vec<(String, Param)>,
    decays: Vec<bool>,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
    t: i32,
    moments: Vec<Option<(Tensor, Tensor)>>,
}

impl Adam {
    /// Adam with betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(params: Vec<(String, Param)>, lr: f32) -> Adam {
        let n = params.len();
        Adam {
            params,
            decays: vec![true; n],
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
            moments: vec![None; n],
        }
    }

    /// AdamW: Adam with decoupled weight decay `wd` (PyTorch's default is 0.01).
    pub fn adamw(params: Vec<(String, Param)>, lr: f32, wd: f32) -> Adam {
        let mut a = Adam::new(params, lr);
        a.weight_decay = wd;
        a.decoupled = true;
        a
    }

    /// Sets the betas.
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Adam {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets epsilon.
    pub fn eps(mut self, eps: f32) -> Adam {
        self.eps = eps;
        self
    }

    /// Sets L2 (Adam) or decoupled (AdamW) weight decay.
    pub fn weight_decay(mut self, wd: f32) -> Adam {
        self.weight_decay = wd;
        self
    }

    /// Decays only the parameters for which `keep(name, shape)` is true.
    pub fn decay_only(mut self, keep: impl Fn(&str, &[usize]) -> bool) -> Adam {
        self.decays = self.params.iter().map(|(n, p)| keep(n, &p.shape())).collect();
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        self.t += 1;
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        let step_size = lr / bc1;
        let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
        for (((_, p), moments), &decays) in self.params.iter().zip(&mut self.moments).zip(&self.decays) {
            let mut state = p.lock();
            let state = &mut *state;
            let Some(grad) = &state.grad else { continue };
            let (m, v) = moments.get_or_insert_with(|| (Tensor::zeros(grad.shape()), Tensor::zeros(grad.shape())));
            let wd = if decays { self.weight_decay } else { 0.0 };
            let (l2, shrink) = if self.decoupled { (0.0, 1.0 - lr * wd) } else { (wd, 1.0) };
            let (w, g, m, v) = (state.value.data_mut(), grad.data(), m.data_mut(), v.data_mut());
            parallel::for_each((w, g, m, v), CHUNK, |_, (w, g, m, v)| {
                for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = g + l2 * *w;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *w = *w * shrink - step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
            });
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
