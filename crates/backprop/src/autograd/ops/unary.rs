//! Elementwise functions and activations: each is a [`UnaryOp`], whose value
//! and derivative live in `tensor::unary`. Backward is the chain rule
//! `dx = dy * f'(x)`, with f' from the input x or the output y.

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{unary, unary_backward, UnaryOp};
use crate::Tensor;

/// The node of an elementwise op: it keeps only which op it was.
struct UnaryNode(UnaryOp);

impl Backward for UnaryNode {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    // dx = dy * f'(x, y)
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        vec![Some(unary_backward(self.0, c.inputs[0], c.output, c.grad))]
    }
}

impl<'g> Var<'g> {
    /// Applies an elementwise [`UnaryOp`]; the named methods below are shorthands.
    ///
    /// ```
    /// use backprop::{tensor::UnaryOp, Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.unary(UnaryOp::Relu).value().data(), &[0.0, 2.0]);
    /// ```
    pub fn unary(self, op: UnaryOp) -> Var<'g> {
        let v = unary(op, &self.value());
        self.derive(v, &[], UnaryNode(op))
    }

    /// e^x.
    pub fn exp(self) -> Var<'g> {
        self.unary(UnaryOp::Exp)
    }
    /// ln x.
    pub fn log(self) -> Var<'g> {
        self.unary(UnaryOp::Log)
    }
    /// sqrt x.
    pub fn sqrt(self) -> Var<'g> {
        self.unary(UnaryOp::Sqrt)
    }
    /// |x| (derivative sign(x), 0 at 0).
    pub fn abs(self) -> Var<'g> {
        self.unary(UnaryOp::Abs)
    }
    /// tanh x; derivative 1 - y^2.
    pub fn tanh(self) -> Var<'g> {
        self.unary(UnaryOp::Tanh)
    }
    /// Logistic sigmoid 1/(1+e^-x); derivative y(1 - y).
    pub fn sigmoid(self) -> Var<'g> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// Hard sigmoid, PyTorch's `hardsigmoid`: clamp(x/6 + 1/2, 0, 1);
    /// derivative 1/6 inside (-3, 3), else 0.
    pub fn hard_sigmoid(self) -> Var<'g> {
        self.unary(UnaryOp::HardSigmoid)
    }
    /// max(x, 0); derivative 1 for x > 0, else 0.
    pub fn relu(self) -> Var<'g> {
        self.unary(UnaryOp::Relu)
    }
    /// Leaky ReLU (PyTorch's `leaky_relu`): x for x > 0, else
    /// `negative_slope` x; derivative 1 for x > 0, else `negative_slope`.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::no_grad();
    /// let x = g.constant(Tensor::from_vec(vec![-2.0, 3.0], &[2]));
    /// assert_eq!(x.leaky_relu(0.1).value().data(), &[-0.2, 3.0]);
    /// ```
    pub fn leaky_relu(self, negative_slope: f32) -> Var<'g> {
        self.unary(UnaryOp::LeakyRelu(negative_slope))
    }
    /// GELU, tanh approximation (as in GPT-2):
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    pub fn gelu(self) -> Var<'g> {
        self.unary(UnaryOp::Gelu)
    }
    /// x^p for a scalar exponent; derivative p x^(p-1).
    pub fn powf(self, p: f32) -> Var<'g> {
        self.unary(UnaryOp::Pow(p))
    }
    /// x^2 (cheaper than `powf(2.0)`).
    pub fn square(self) -> Var<'g> {
        self.unary(UnaryOp::Square)
    }
    /// max(x, s); gradient flows where x > s.
    pub fn max_scalar(self, s: f32) -> Var<'g> {
        self.unary(UnaryOp::MaxScalar(s))
    }
    /// min(x, s); gradient flows where x < s.
    pub fn min_scalar(self, s: f32) -> Var<'g> {
        self.unary(UnaryOp::MinScalar(s))
    }
}
