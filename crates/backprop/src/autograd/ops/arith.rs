//! Arithmetic with broadcasting: +, -, *, /, powers, and the same with scalars.
//!
//! Backward rules return gradients in the broadcast (output) shape; the tape
//! ([`Graph::backward`](crate::autograd::Graph::backward)) sums each back to
//! its input's shape.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{pow_grad_base, pow_grad_exponent};
use crate::Tensor;
use std::ops;

struct AddOp;
impl Backward for AddOp {
    fn name(&self) -> &'static str {
        "add"
    }
    // d(a+b)/da = 1, d(a+b)/db = 1
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![c.needs[0].then(|| c.grad.clone()), c.needs[1].then(|| c.grad.clone())]
    }
}

struct SubOp;
impl Backward for SubOp {
    fn name(&self) -> &'static str {
        "sub"
    }
    // d(a-b)/da = 1, d(a-b)/db = -1
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![c.needs[0].then(|| c.grad.clone()), c.needs[1].then(|| c.grad.neg())]
    }
}

struct MulOp;
impl Backward for MulOp {
    fn name(&self) -> &'static str {
        "mul"
    }
    // d(ab)/da = b, d(ab)/db = a
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (a, b) = (c.inputs[0], c.inputs[1]);
        vec![c.needs[0].then(|| c.grad.mul(b)), c.needs[1].then(|| c.grad.mul(a))]
    }
}

struct DivOp;
impl Backward for DivOp {
    fn name(&self) -> &'static str {
        "div"
    }
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -out/b
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let b = c.inputs[1];
        vec![c.needs[0].then(|| c.grad.div(b)), c.needs[1].then(|| c.grad.mul(c.output).div(b).neg())]
    }
}

struct PowOp;
impl Backward for PowOp {
    fn name(&self) -> &'static str {
        "pow"
    }
    // d(x^y)/dx = y x^(y-1) (0 where y = 0); d(x^y)/dy = x^y ln x (0 where x = 0 and y >= 0),
    // PyTorch's pow_backward_self and pow_backward_exponent.
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (x, y) = (c.inputs[0], c.inputs[1]);
        vec![
            c.needs[0].then(|| x.zip_broadcast(y, "pow", pow_grad_base).mul(c.grad)),
            c.needs[1].then(|| x.zip_broadcast(y, "pow", pow_grad_exponent).mul(c.grad)),
        ]
    }
}

struct AddScalarOp;
impl Backward for AddScalarOp {
    fn name(&self) -> &'static str {
        "add_scalar"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.clone())]
    }
}

struct MulScalarOp(f32);
impl Backward for MulScalarOp {
    fn name(&self) -> &'static str {
        "mul_scalar"
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.mul_scalar(self.0))]
    }
}

struct RSubScalarOp;
impl Backward for RSubScalarOp {
    fn name(&self) -> &'static str {
        "rsub_scalar"
    }
    // d(s - x)/dx = -1
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(c.grad.neg())]
    }
}

struct RDivScalarOp(f32);
impl Backward for RDivScalarOp {
    fn name(&self) -> &'static str {
        "rdiv_scalar"
    }
    // d(s/x)/dx = -s/x^2
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let s = self.0;
        vec![Some(c.grad.zip_broadcast(c.inputs[0], "rdiv_scalar", |g, x| -g * s / (x * x)))]
    }
}

impl<'g> Var<'g> {
    /// Elementwise sum with broadcasting (`a + b`).
    pub(crate) fn add_var(self, other: Var<'g>) -> Var<'g> {
        let v = self.value().add(&other.value());
        self.derive(v, &[other], AddOp)
    }
    /// Elementwise difference with broadcasting (`a - b`).
    pub(crate) fn sub_var(self, other: Var<'g>) -> Var<'g> {
        let v = self.value().sub(&other.value());
        self.derive(v, &[other], SubOp)
    }
    /// Elementwise product with broadcasting (`a * b`).
    pub(crate) fn mul_var(self, other: Var<'g>) -> Var<'g> {
        let v = self.value().mul(&other.value());
        self.derive(v, &[other], MulOp)
    }
    /// Elementwise quotient with broadcasting (`a / b`).
    pub(crate) fn div_var(self, other: Var<'g>) -> Var<'g> {
        let v = self.value().div(&other.value());
        self.derive(v, &[other], DivOp)
    }
    /// `self ^ exponent` elementwise with broadcasting, as PyTorch's `pow`:
    /// the value by `powf` (defined for a negative base with an integer
    /// exponent), the gradients by [`pow_grad_base`] and [`pow_grad_exponent`]
    /// (so d/dexponent is NaN where the base is negative, and both are 0 at a
    /// base of 0 with an exponent above 1). For a constant exponent use
    /// [`Var::powf`].
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let (x, y) = (g.leaf(Tensor::scalar(-2.0)), g.leaf(Tensor::scalar(2.0)));
    /// let z = x.pow(y);
    /// let grads = g.backward(z);
    /// assert_eq!(z.item(), 4.0);
    /// assert_eq!(grads.wrt(x).unwrap().item(), -4.0);
    /// assert!(grads.wrt(y).unwrap().item().is_nan()); // ln(-2) is undefined
    /// ```
    pub fn pow(self, exponent: Var<'g>) -> Var<'g> {
        let v = self.value().pow(&exponent.value());
        self.derive(v, &[exponent], PowOp)
    }
    /// x + s.
    pub fn add_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().add_scalar(s);
        self.derive(v, &[], AddScalarOp)
    }
    /// x * s.
    pub fn mul_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().mul_scalar(s);
        self.derive(v, &[], MulScalarOp(s))
    }
    /// s - x.
    pub fn rsub_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().map(|x| s - x);
        self.derive(v, &[], RSubScalarOp)
    }
    /// s / x.
    pub fn rdiv_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().map(|x| s / x);
        self.derive(v, &[], RDivScalarOp(s))
    }
}

macro_rules! var_binary_ops {
    ($($tr:ident $method:ident $var_fn:ident $scalar_fn:expr, $rscalar_fn:expr;)*) => {$(
        impl<'g> ops::$tr<Var<'g>> for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                self.$var_fn(rhs)
            }
        }
        impl<'g> ops::$tr<f32> for Var<'g> {
            type Output = Var<'g>;
            fn $method(self, rhs: f32) -> Var<'g> {
                #[allow(clippy::redundant_closure_call)]
                ($scalar_fn)(self, rhs)
            }
        }
        impl<'g> ops::$tr<Var<'g>> for f32 {
            type Output = Var<'g>;
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                #[allow(clippy::redundant_closure_call)]
                ($rscalar_fn)(self, rhs)
            }
        }
    )*};
}

var_binary_ops! {
    Add add add_var |v: Var<'g>, s| v.add_scalar(s), |s, v: Var<'g>| v.add_scalar(s);
    Sub sub sub_var |v: Var<'g>, s: f32| v.add_scalar(-s), |s, v: Var<'g>| v.rsub_scalar(s);
    Mul mul mul_var |v: Var<'g>, s| v.mul_scalar(s), |s, v: Var<'g>| v.mul_scalar(s);
    Div div div_var |v: Var<'g>, s: f32| v.mul_scalar(1.0 / s), |s, v: Var<'g>| v.rdiv_scalar(s);
}

impl<'g> ops::Neg for Var<'g> {
    type Output = Var<'g>;
    fn neg(self) -> Var<'g> {
        self.mul_scalar(-1.0)
    }
}
