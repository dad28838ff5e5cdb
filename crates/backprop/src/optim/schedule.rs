//! Learning-rate schedules.

/// A learning rate as a function of the optimizer step.
///
/// ```
/// use backprop::optim::Schedule;
/// let s = Schedule::Cosine { warmup: 10, total: 110, min_lr: 0.0 };
/// assert!((s.lr_at(0, 1.0) - 0.1).abs() < 1e-6);   // warming up
/// assert!((s.lr_at(10, 1.0) - 1.0).abs() < 1e-6);  // peak
/// assert!(s.lr_at(110, 1.0).abs() < 1e-6);          // end
/// assert_eq!(Schedule::Step { every: 5, gamma: 0.5 }.lr_at(10, 1.0), 0.25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// Always the base rate.
    Constant,
    /// Multiplies by `gamma` every `every` steps.
    Step {
        /// Steps between decays.
        every: usize,
        /// Decay factor.
        gamma: f32,
    },
    /// Linear warmup for `warmup` steps, then cosine decay to `min_lr` at
    /// `total`. With `warmup >= total` the rate never reaches its peak nor
    /// decays (the command line refuses such a warmup, or cuts its default
    /// to a tenth of the run).
    Cosine {
        /// Warmup steps.
        warmup: usize,
        /// Step at which the rate reaches `min_lr`.
        total: usize,
        /// Final rate.
        min_lr: f32,
    },
}

impl Schedule {
    /// The learning rate at `step` (counted from 0) for base rate `base`.
    pub fn lr_at(&self, step: usize, base: f32) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((step / every.max(1)) as i32),
            Schedule::Cosine { warmup, total, min_lr } => {
                if step < warmup {
                    base * (step + 1) as f32 / warmup as f32
                } else if step >= total {
                    min_lr
                } else {
                    let progress = (step - warmup) as f32 / (total - warmup).max(1) as f32;
                    min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f32::consts::PI * progress).cos())
                }
            }
        }
    }
}
