//! Reductions: the gradient of a sum is the incoming gradient spread back
//! over every summed element; of a max, it goes to the element that won.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::Tensor;

struct SumAllOp;
impl Backward for SumAllOp {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(Tensor::full(c.inputs[0].shape(), c.grad.item()))]
    }
}

struct MeanAllOp;
impl Backward for MeanAllOp {
    fn name(&self) -> &'static str {
        "mean"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let n = c.inputs[0].numel().max(1) as f32;
        vec![Some(Tensor::full(c.inputs[0].shape(), c.grad.item() / n))]
    }
}

struct SumAxisOp {
    axis: usize,
    scale: f32,
}
impl Backward for SumAxisOp {
    fn name(&self) -> &'static str {
        if self.scale == 1.0 {
            "sum_axis"
        } else {
            "mean_axis"
        }
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let x = c.inputs[0];
        let mut kept = x.shape().to_vec();
        kept[self.axis] = 1;
        let g = c.grad.reshape(&kept);
        let spread = Tensor::zeros(x.shape()).add(&g);
        vec![Some(if self.scale == 1.0 { spread } else { spread.mul_scalar(self.scale) })]
    }
}

struct MaxAxisOp {
    axis: usize,
}
impl Backward for MaxAxisOp {
    fn name(&self) -> &'static str {
        "max_axis"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.scatter_to_argmax(c.inputs[0], self.axis))]
    }
}

impl<'g> Var<'g> {
    /// Sum of all elements (a one-element result of shape `[]`).
    pub fn sum(self) -> Var<'g> {
        let v = Tensor::scalar(self.value().sum_all());
        self.derive(v, &[], SumAllOp)
    }
    /// Mean of all elements.
    pub fn mean(self) -> Var<'g> {
        let v = Tensor::scalar(self.value().mean_all());
        self.derive(v, &[], MeanAllOp)
    }
    /// Sum along `axis`.
    pub fn sum_axis(self, axis: usize, keepdim: bool) -> Var<'g> {
        let v = self.value().sum_axis(axis, keepdim);
        self.derive(v, &[], SumAxisOp { axis, scale: 1.0 })
    }
    /// Mean along `axis`.
    pub fn mean_axis(self, axis: usize, keepdim: bool) -> Var<'g> {
        let x = self.value();
        let scale = 1.0 / x.dim(axis) as f32;
        let v = x.mean_axis(axis, keepdim);
        self.derive(v, &[], SumAxisOp { axis, scale })
    }
    /// Maximum along `axis`; the gradient goes to the (first) maximal element.
    pub fn max_axis(self, axis: usize, keepdim: bool) -> Var<'g> {
        let v = self.value().max_axis(axis, keepdim);
        self.derive(v, &[], MaxAxisOp { axis })
    }
}
