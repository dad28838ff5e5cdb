//! Elementwise functions and activations, each with its derivative.
//!
//! Derivatives are written in terms of the input `x` or, where cheaper, the
//! output `y` (sigmoid: y(1-y); tanh: 1-y^2; exp: y).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::sigmoid_f32;
use crate::Tensor;

/// An elementwise op whose derivative is `dy/dx = deriv(x, y)`.
struct Elementwise {
    name: &'static str,
    deriv: fn(f32, f32, f32) -> f32,
}

impl Backward for Elementwise {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let x = c.inputs[0].data();
        let y = c.output.data();
        let g = c.grad.data();
        let deriv = self.deriv;
        let out: Vec<f32> = (0..x.len()).map(|i| g[i] * deriv(x[i], y[i], 0.0)).collect();
        vec![Some(Tensor::from_vec(out, c.grad.shape()))]
    }
}

/// An elementwise op with a scalar parameter `p`: `dy/dx = deriv(x, y, p)`.
struct ElementwiseP {
    name: &'static str,
    p: f32,
    deriv: fn(f32, f32, f32) -> f32,
}

impl Backward for ElementwiseP {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let x = c.inputs[0].data();
        let y = c.output.data();
        let g = c.grad.data();
        let (deriv, p) = (self.deriv, self.p);
        let out: Vec<f32> = (0..x.len()).map(|i| g[i] * deriv(x[i], y[i], p)).collect();
        vec![Some(Tensor::from_vec(out, c.grad.shape()))]
    }
}

const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (GELU_C * (x + 0.044715 * x * x * x)).tanh())
}

fn gelu_deriv(x: f32) -> f32 {
    let u = GELU_C * (x + 0.044715 * x * x * x);
    let t = u.tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
}

impl<'g> Var<'g> {
    fn unary(self, name: &'static str, f: impl Fn(f32) -> f32 + Sync, deriv: fn(f32, f32, f32) -> f32) -> Var<'g> {
        let v = self.value().map(f);
        self.derive(v, &[], Elementwise { name, deriv })
    }

    /// e^x.
    pub fn exp(self) -> Var<'g> {
        self.unary("exp", f32::exp, |_, y, _| y)
    }
    /// ln x.
    pub fn log(self) -> Var<'g> {
        self.unary("log", f32::ln, |x, _, _| 1.0 / x)
    }
    /// sqrt x.
    pub fn sqrt(self) -> Var<'g> {
        self.unary("sqrt", f32::sqrt, |_, y, _| 0.5 / y)
    }
    /// |x| (derivative sign(x), 0 at 0).
    pub fn abs(self) -> Var<'g> {
        self.unary("abs", f32::abs, |x, _, _| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
    }
    /// tanh x; derivative 1 - y^2.
    pub fn tanh(self) -> Var<'g> {
        self.unary("tanh", f32::tanh, |_, y, _| 1.0 - y * y)
    }
    /// Logistic sigmoid 1/(1+e^-x); derivative y(1 - y).
    pub fn sigmoid(self) -> Var<'g> {
        self.unary("sigmoid", sigmoid_f32, |_, y, _| y * (1.0 - y))
    }
    /// Hard sigmoid, PyTorch's `hardsigmoid`: clamp(x/6 + 1/2, 0, 1);
    /// derivative 1/6 inside (-3, 3), else 0.
    pub fn hard_sigmoid(self) -> Var<'g> {
        self.unary(
            "hard_sigmoid",
            |x| (x / 6.0 + 0.5).clamp(0.0, 1.0),
            |x, _, _| if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 },
        )
    }
    /// max(x, 0); derivative 1 for x > 0, else 0.
    pub fn relu(self) -> Var<'g> {
        self.unary("relu", |x| x.max(0.0), |x, _, _| if x > 0.0 { 1.0 } else { 0.0 })
    }
    /// GELU, tanh approximation (as in GPT-2):
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    pub fn gelu(self) -> Var<'g> {
        self.unary("gelu", gelu, |x, _, _| gelu_deriv(x))
    }
    /// x^p for a scalar exponent; derivative p x^(p-1).
    pub fn powf(self, p: f32) -> Var<'g> {
        let v = self.value().powf(p);
        self.derive(v, &[], ElementwiseP { name: "pow", p, deriv: |x, _, p| p * x.powf(p - 1.0) })
    }
    /// x^2 (cheaper than `powf(2.0)`).
    pub fn square(self) -> Var<'g> {
        self.unary("square", |x| x * x, |x, _, _| 2.0 * x)
    }
    /// max(x, s); gradient flows where x > s.
    pub fn max_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().max_scalar(s);
        self.derive(v, &[], ElementwiseP { name: "max_scalar", p: s, deriv: |x, _, s| if x > s { 1.0 } else { 0.0 } })
    }
    /// min(x, s); gradient flows where x < s.
    pub fn min_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().min_scalar(s);
        self.derive(v, &[], ElementwiseP { name: "min_scalar", p: s, deriv: |x, _, s| if x < s { 1.0 } else { 0.0 } })
    }
}
