//! Elementwise functions and activations, each with its derivative.
//!
//! Derivatives are written in terms of the input `x` or, where cheaper, the
//! output `y` (sigmoid: y(1-y); tanh: 1-y^2; exp: y).

use crate::autograd::graph::{Backward, BackwardCtx, Var};
use crate::tensor::{gelu_deriv_f32, gelu_f32, sigmoid_f32};
use crate::Tensor;
use rayon::prelude::*;

/// Below this many values a backward pass stays on one thread.
const PARALLEL_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 13;

/// Output, input, forward output and incoming gradient of one chunk.
type Chunk<'a> = (&'a mut [f32], (&'a [f32], (&'a [f32], &'a [f32])));

/// An elementwise op whose derivative is `dy/dx = deriv(x, y)`. Generic over
/// the derivative so it inlines into the loop (which then vectorises).
struct Elementwise<F> {
    name: &'static str,
    deriv: F,
}

impl<F: Fn(f32, f32) -> f32 + Sync + 'static> Backward for Elementwise<F> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (x, y, g) = (c.inputs[0].data(), c.output.data(), c.grad.data());
        let mut out = vec![0.0f32; x.len()];
        let chunk = |(o, (x, (y, g))): Chunk<'_>| {
            for (o, ((&x, &y), &g)) in o.iter_mut().zip(x.iter().zip(y).zip(g)) {
                *o = g * (self.deriv)(x, y);
            }
        };
        if x.len() >= PARALLEL_MIN {
            out.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK).zip(g.par_chunks(CHUNK))))
                .for_each(chunk);
        } else {
            chunk((&mut out, (x, (y, g))));
        }
        vec![Some(Tensor::from_vec(out, c.grad.shape()))]
    }
}

impl<'g> Var<'g> {
    fn unary(
        self,
        name: &'static str,
        f: impl Fn(f32) -> f32 + Sync,
        deriv: impl Fn(f32, f32) -> f32 + Sync + 'static,
    ) -> Var<'g> {
        let v = self.value().map(f);
        self.derive(v, &[], Elementwise { name, deriv })
    }

    /// e^x.
    pub fn exp(self) -> Var<'g> {
        self.unary("exp", f32::exp, |_, y| y)
    }
    /// ln x.
    pub fn log(self) -> Var<'g> {
        self.unary("log", f32::ln, |x, _| 1.0 / x)
    }
    /// sqrt x.
    pub fn sqrt(self) -> Var<'g> {
        self.unary("sqrt", f32::sqrt, |_, y| 0.5 / y)
    }
    /// |x| (derivative sign(x), 0 at 0).
    pub fn abs(self) -> Var<'g> {
        self.unary("abs", f32::abs, |x, _| {
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
        self.unary("tanh", f32::tanh, |_, y| 1.0 - y * y)
    }
    /// Logistic sigmoid 1/(1+e^-x); derivative y(1 - y).
    pub fn sigmoid(self) -> Var<'g> {
        self.unary("sigmoid", sigmoid_f32, |_, y| y * (1.0 - y))
    }
    /// Hard sigmoid, PyTorch's `hardsigmoid`: clamp(x/6 + 1/2, 0, 1);
    /// derivative 1/6 inside (-3, 3), else 0.
    pub fn hard_sigmoid(self) -> Var<'g> {
        self.unary(
            "hard_sigmoid",
            |x| (x / 6.0 + 0.5).clamp(0.0, 1.0),
            |x, _| if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 },
        )
    }
    /// max(x, 0); derivative 1 for x > 0, else 0.
    pub fn relu(self) -> Var<'g> {
        self.unary("relu", |x| x.max(0.0), |x, _| if x > 0.0 { 1.0 } else { 0.0 })
    }
    /// GELU, tanh approximation (as in GPT-2):
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    pub fn gelu(self) -> Var<'g> {
        self.unary("gelu", gelu_f32, |x, _| gelu_deriv_f32(x))
    }
    /// x^p for a scalar exponent; derivative p x^(p-1).
    pub fn powf(self, p: f32) -> Var<'g> {
        let v = self.value().powf(p);
        self.derive(v, &[], Elementwise { name: "pow", deriv: move |x: f32, _| p * x.powf(p - 1.0) })
    }
    /// x^2 (cheaper than `powf(2.0)`).
    pub fn square(self) -> Var<'g> {
        self.unary("square", |x| x * x, |x, _| 2.0 * x)
    }
    /// max(x, s); gradient flows where x > s.
    pub fn max_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().max_scalar(s);
        self.derive(v, &[], Elementwise { name: "max_scalar", deriv: move |x: f32, _| if x > s { 1.0 } else { 0.0 } })
    }
    /// min(x, s); gradient flows where x < s.
    pub fn min_scalar(self, s: f32) -> Var<'g> {
        let v = self.value().min_scalar(s);
        self.derive(v, &[], Elementwise { name: "min_scalar", deriv: move |x: f32, _| if x < s { 1.0 } else { 0.0 } })
    }
}
