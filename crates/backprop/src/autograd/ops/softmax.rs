//! Softmax and log-softmax over the last axis.
//!
//! softmax: y = e^x / sum e^x, so dx = y * (g - sum(g * y)).
//! log-softmax: y = x - log sum e^x, so dx = g - softmax(x) * sum(g).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{log_softmax_backward, softmax_backward};
use crate::Tensor;

struct SoftmaxOp;
impl Backward for SoftmaxOp {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(softmax_backward(c.output, c.grad))]
    }
}

struct LogSoftmaxOp;
impl Backward for LogSoftmaxOp {
    fn name(&self) -> &'static str {
        "log_softmax"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(log_softmax_backward(c.output, c.grad))]
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
