//! Optimizers (SGD with momentum/Nesterov/weight decay, Adam, AdamW),
//! learning-rate schedules and gradient clipping.
//!
//! An optimizer holds the parameters it updates; `step` reads each
//! parameter's accumulated gradient, `zero_grad` clears them.
//!
//! ```
//! use backprop::{optim::{Optimizer, Sgd}, Graph, Param, Tensor};
//! let w = Param::new(Tensor::from_vec(vec![3.0], &[1]));
//! let mut opt = Sgd::new(vec![("w".into(), w.clone())], 0.1);
//! for _ in 0..100 {
//!     opt.zero_grad();
//!     let g = Graph::new();
//!     let loss = g.param(&w).square().sum(); // minimum at w = 0
//!     g.backward(loss);
//!     opt.step();
//! }
//! assert!(w.value().data()[0].abs() < 1e-6);
//! ```

mod adam;
mod clip;
mod schedule;
mod sgd;
mod shared;

pub use adam::Adam;
pub use clip::clip_grad_norm;
pub use schedule::Schedule;
pub use sgd::Sgd;
pub use shared::Shared;

use crate::autograd::Param;

/// What every optimizer does.
pub trait Optimizer {
    /// Updates every parameter from its gradient (parameters without one are skipped).
    fn step(&mut self);
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate (what a schedule does before each step).
    fn set_lr(&mut self, lr: f32);
    /// The parameters being optimized, with their names.
    fn params(&self) -> &[(String, Param)];
    /// Clears every parameter's gradient.
    fn zero_grad(&self) {
        for (_, p) in self.params() {
            p.zero_grad();
        }
    }
}
