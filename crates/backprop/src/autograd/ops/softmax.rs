//! Softmax and log-softmax over the last axis.
//!
//! softmax: y = e^x / sum e^x, so dx = y * (g - sum(g * y)).
//! log-softmax: y = x - log sum e^x, so dx = g - softmax(x) * sum(g).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;

struct SoftmaxOp;
impl Backward for SoftmaxOp {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let n = *c.output.shape().last().unwrap_or(&1);
        let mut out = c.grad.clone();
        for (dx, y) in out.data_mut().chunks_mut(n.max(1)).zip(c.output.data().chunks(n.max(1))) {
            let dot: f32 = dx.iter().zip(y).map(|(g, y)| g * y).sum();
            for (d, &y) in dx.iter_mut().zip(y) {
                *d = y * (*d - dot);
            }
        }
        vec![Some(out)]
    }
}

struct LogSoftmaxOp;
impl Backward for LogSoftmaxOp {
    fn name(&self) -> &'static str {
        "log_softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let n = *c.output.shape().last().unwrap_or(&1);
        let mut out = c.grad.clone();
        for (dx, y) in out.data_mut().chunks_mut(n.max(1)).zip(c.output.data().chunks(n.max(1))) {
            let sum: f32 = dx.iter().sum();
            for (d, &y) in dx.iter_mut().zip(y) {
                *d -= y.exp() * sum;
            }
        }
        vec![Some(out)]
    }
}

impl<'g> Var<'g> {
    /// Softmax over the last axis (numerically stable).
    pub fn softmax(self) -> Var<'g> {
        let v = self.value().softmax();
        self.derive(v, &[], SoftmaxOp)
    }
    /// Log-softmax over the last axis (numerically stable).
    pub fn log_softmax(self) -> Var<'g> {
        let v = self.value().log_softmax();
        self.derive(v, &[], LogSoftmaxOp)
    }
}
