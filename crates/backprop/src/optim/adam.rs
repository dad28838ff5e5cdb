//! Adam and AdamW.

use super::Optimizer;
use crate::autograd::Param;
use crate::tensor::{adam_update, AdamStep};
use crate::Tensor;

/// Adam (Kingma & Ba): running means of the gradient (m) and its square (v),
/// bias-corrected, step `lr * m_hat / (sqrt(v_hat) + eps)`.
///
/// Weight decay is L2 (added to the gradient) for Adam, or decoupled
/// (`w -= lr * wd * w`, AdamW) when built with [`Adam::adamw`]. A filter can
/// exempt parameters from decay (GPT training decays only matrices).
///
/// As in PyTorch (`state['step']` per parameter), each parameter keeps its
/// own step count, used in its bias correction: a parameter without a
/// gradient on a step (frozen, or unused by that loss) is skipped, its step
/// count and moments unchanged, so its first update is a full first step.
///
/// ```
/// use backprop::{optim::{Adam, Optimizer}, Param, Tensor};
/// let (a, b) = (Param::new(Tensor::scalar(1.0)), Param::new(Tensor::scalar(1.0)));
/// let mut opt = Adam::new(vec![("a".into(), a.clone()), ("b".into(), b.clone())], 0.1);
/// for step in 1..=4 {
///     opt.zero_grad();
///     a.lock().grad = Some(Tensor::scalar(1.0));
///     if step == 4 {
///         b.lock().grad = Some(Tensor::scalar(1.0)); // b's first gradient
///     }
///     opt.step();
/// }
/// assert!((b.value().item() - 0.9).abs() < 1e-6); // one bias-corrected step of lr
/// assert_eq!(opt.steps_of(1), 1);
/// ```
pub struct Adam {
    params: Vec<(String, Param)>,
    decays: Vec<bool>,
    lr_scales: Vec<f32>,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
    state: Vec<Option<AdamState>>,
}

/// One parameter's state: its step count and the running moments m and v.
struct AdamState {
    step: u64,
    m: Tensor,
    v: Tensor,
}

impl Adam {
    /// Adam with betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(params: Vec<(String, Param)>, lr: f32) -> Adam {
        let n = params.len();
        Adam {
            params,
            decays: vec![true; n],
            lr_scales: vec![1.0; n],
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            state: (0..n).map(|_| None).collect(),
        }
    }

    /// AdamW: Adam with decoupled weight decay `wd` (PyTorch's default is 0.01).
    pub fn adamw(params: Vec<(String, Param)>, lr: f32, wd: f32) -> Adam {
        let mut a = Adam::new(params, lr);
        a.weight_decay = wd;
        a.decoupled = true;
        a
    }

    /// Sets the betas, the decay rates of the two moments, each in [0, 1).
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

    /// Each parameter's learning rate is `scale(name)` times the optimizer's
    /// (and the schedule's): PyTorch's parameter groups with their own `lr`,
    /// as in discriminative fine-tuning (Howard & Ruder, ACL 2018), where a
    /// pre-trained encoder learns more slowly than a fresh output layer.
    /// Decoupled weight decay (AdamW) is scaled with it, as in PyTorch.
    ///
    /// ```
    /// use backprop::{optim::{Adam, Optimizer}, Param, Tensor};
    /// let (enc, head) = (Param::new(Tensor::scalar(1.0)), Param::new(Tensor::scalar(1.0)));
    /// let params = vec![("encoder.w".into(), enc.clone()), ("head.w".into(), head.clone())];
    /// let mut opt = Adam::new(params, 0.1).lr_scale(|name| if name.starts_with("head") { 1.0 } else { 0.1 });
    /// enc.lock().grad = Some(Tensor::scalar(1.0));
    /// head.lock().grad = Some(Tensor::scalar(1.0));
    /// opt.step(); // Adam's first step moves each parameter by its learning rate
    /// assert!((enc.value().item() - 0.99).abs() < 1e-6);
    /// assert!((head.value().item() - 0.9).abs() < 1e-6);
    /// ```
    pub fn lr_scale(mut self, scale: impl Fn(&str) -> f32) -> Adam {
        self.lr_scales = self.params.iter().map(|(n, _)| scale(n)).collect();
        self
    }

    /// How many updates parameter `index` (in the order given to the
    /// optimizer) has received: the steps on which it had a gradient.
    pub fn steps_of(&self, index: usize) -> u64 {
        self.state.get(index).and_then(Option::as_ref).map_or(0, |s| s.step)
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let params = self.params.iter().zip(&mut self.state).zip(&self.decays).zip(&self.lr_scales);
        for ((((_, p), slot), &decays), &scale) in params {
            let lr = self.lr * scale;
            let mut locked = p.lock();
            let locked = &mut *locked;
            let Some(grad) = &locked.grad else { continue };
            let st = slot.get_or_insert_with(|| AdamState {
                step: 0,
                m: Tensor::zeros(grad.shape()),
                v: Tensor::zeros(grad.shape()),
            });
            st.step += 1;
            // Bias corrections from this parameter's own step count (f64: exact for any count).
            let t = st.step.min(i32::MAX as u64) as i32;
            let bc1 = (1.0 - f64::from(b1).powi(t)) as f32;
            let bc2 = (1.0 - f64::from(b2).powi(t)) as f32;
            let step_size = lr / bc1;
            let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
            let wd = if decays { self.weight_decay } else { 0.0 };
            let (l2, shrink) = if self.decoupled { (0.0, 1.0 - lr * wd) } else { (wd, 1.0) };
            let (g, m, v) = (grad.data(), st.m.data_mut(), st.v.data_mut());
            adam_update(&mut locked.value, g, m, v, AdamStep { b1, b2, eps, l2, shrink, step_size, inv_sqrt_bc2 });
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
