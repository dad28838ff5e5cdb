//! Elementwise functions with their derivatives: [`UnaryOp`], applied
//! forward by [`unary`] and backward by [`unary_backward`].
//!
//! Each op's derivative is written in terms of its input `x` or, where
//! cheaper, its output `y` (sigmoid: y(1-y); tanh: 1-y^2; exp: y). The
//! kernels match on the op once, outside the loop, so each loop is compiled
//! for one op and vectorises.

use super::parallel::{self, CHUNK};
use super::Tensor;

/// An elementwise function `y = f(x)` and its derivative `dy/dx = df(x, y)`.
///
/// ```
/// use backprop::tensor::UnaryOp;
/// assert_eq!(UnaryOp::Relu.f(-2.0), 0.0);
/// let y = UnaryOp::Sigmoid.f(0.0);
/// assert_eq!(UnaryOp::Sigmoid.df(0.0, y), 0.25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// e^x; derivative y.
    Exp,
    /// ln x; derivative 1/x.
    Log,
    /// sqrt x; derivative 1/(2y).
    Sqrt,
    /// |x|; derivative sign(x), 0 at 0.
    Abs,
    /// tanh x (libm's); derivative 1 - y^2.
    Tanh,
    /// Logistic sigmoid 1/(1+e^-x); derivative y(1 - y).
    Sigmoid,
    /// PyTorch's `hardsigmoid`: clamp(x/6 + 1/2, 0, 1); derivative 1/6 inside (-3, 3), else 0.
    HardSigmoid,
    /// max(x, 0); derivative 1 for x > 0, else 0.
    Relu,
    /// GELU, tanh approximation (GPT-2's), with the branch-free [`fast_tanh`].
    Gelu,
    /// x^2; derivative 2x.
    Square,
    /// x^p; derivative p x^(p-1).
    Pow(f32),
    /// max(x, s); derivative 1 where x > s.
    MaxScalar(f32),
    /// min(x, s); derivative 1 where x < s.
    MinScalar(f32),
}

impl UnaryOp {
    /// The op's name, as shown in graph drawings.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::HardSigmoid => "hard_sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Gelu => "gelu",
            UnaryOp::Square => "square",
            UnaryOp::Pow(_) => "pow",
            UnaryOp::MaxScalar(_) => "max_scalar",
            UnaryOp::MinScalar(_) => "min_scalar",
        }
    }

    /// y = f(x).
    #[inline(always)]
    pub fn f(self, x: f32) -> f32 {
        match self {
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Tanh => fast_tanh(x),
            UnaryOp::Sigmoid => sigmoid_f32(x),
            UnaryOp::HardSigmoid => (x / 6.0 + 0.5).clamp(0.0, 1.0),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::Gelu => gelu_f32(x),
            UnaryOp::Square => x * x,
            UnaryOp::Pow(p) => x.powf(p),
            UnaryOp::MaxScalar(s) => x.max(s),
            UnaryOp::MinScalar(s) => x.min(s),
        }
    }

    /// dy/dx at input `x` with output `y = f(x)`.
    #[inline(always)]
    pub fn df(self, x: f32, y: f32) -> f32 {
        match self {
            UnaryOp::Exp => y,
            UnaryOp::Log => 1.0 / x,
            UnaryOp::Sqrt => 0.5 / y,
            UnaryOp::Abs => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            UnaryOp::Tanh => 1.0 - y * y,
            UnaryOp::Sigmoid => y * (1.0 - y),
            UnaryOp::HardSigmoid => {
                if x > -3.0 && x < 3.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            UnaryOp::Relu => f32::from(x > 0.0),
            UnaryOp::Gelu => gelu_deriv_f32(x),
            UnaryOp::Square => 2.0 * x,
            UnaryOp::Pow(p) => p * x.powf(p - 1.0),
            UnaryOp::MaxScalar(s) => f32::from(x > s),
            UnaryOp::MinScalar(s) => f32::from(x < s),
        }
    }
}

/// Calls `$body` with `$k` bound to `$op` as a value the compiler sees is one
/// fixed variant, so the `match` inside `f`/`df` folds away in each loop.
macro_rules! specialise {
    ($op:expr, $k:ident => $body:expr) => {
        match $op {
            UnaryOp::Exp => {
                let $k = UnaryOp::Exp;
                $body
            }
            UnaryOp::Log => {
                let $k = UnaryOp::Log;
                $body
            }
            UnaryOp::Sqrt => {
                let $k = UnaryOp::Sqrt;
                $body
            }
            UnaryOp::Abs => {
                let $k = UnaryOp::Abs;
                $body
            }
            UnaryOp::Tanh => {
                let $k = UnaryOp::Tanh;
                $body
            }
            UnaryOp::Sigmoid => {
                let $k = UnaryOp::Sigmoid;
                $body
            }
            UnaryOp::HardSigmoid => {
                let $k = UnaryOp::HardSigmoid;
                $body
            }
            UnaryOp::Relu => {
                let $k = UnaryOp::Relu;
                $body
            }
            UnaryOp::Gelu => {
                let $k = UnaryOp::Gelu;
                $body
            }
            UnaryOp::Square => {
                let $k = UnaryOp::Square;
                $body
            }
            UnaryOp::Pow(p) => {
                let $k = UnaryOp::Pow(p);
                $body
            }
            UnaryOp::MaxScalar(s) => {
                let $k = UnaryOp::MaxScalar(s);
                $body
            }
            UnaryOp::MinScalar(s) => {
                let $k = UnaryOp::MinScalar(s);
                $body
            }
        }
    };
}

/// `op` applied to every element of `x`.
///
/// ```
/// use backprop::{tensor::{unary, UnaryOp}, Tensor};
/// let y = unary(UnaryOp::Relu, &Tensor::from_vec(vec![-1.0, 2.0], &[2]));
/// assert_eq!(y.data(), &[0.0, 2.0]);
/// ```
pub fn unary(op: UnaryOp, x: &Tensor) -> Tensor {
    specialise!(op, k => x.map(move |v| k.f(v)))
}

/// The chain rule through `op`: `dx = dy * df(x, y)`, elementwise, where `y`
/// is the forward output. All three tensors have the same shape.
///
/// ```
/// use backprop::{tensor::{unary, unary_backward, UnaryOp}, Tensor};
/// let x = Tensor::from_vec(vec![0.0, 1.0], &[2]);
/// let y = unary(UnaryOp::Exp, &x);
/// let dx = unary_backward(UnaryOp::Exp, &x, &y, &Tensor::ones(&[2]));
/// assert_eq!(dx.data(), y.data());
/// ```
pub fn unary_backward(op: UnaryOp, x: &Tensor, y: &Tensor, dy: &Tensor) -> Tensor {
    assert!(
        x.shape() == dy.shape() && y.shape() == dy.shape(),
        "unary_backward ({}): shapes {:?}, {:?} and {:?} differ",
        op.name(),
        x.shape(),
        y.shape(),
        dy.shape()
    );
    let mut out = vec![0.0f32; x.numel()];
    specialise!(op, k => chain(&mut out, x.data(), y.data(), dy.data(), move |x, y| k.df(x, y)));
    Tensor::from_vec(out, dy.shape())
}

/// `out = g * deriv(x, y)`, generic over `deriv` so it inlines into the loop.
fn chain(out: &mut [f32], x: &[f32], y: &[f32], g: &[f32], deriv: impl Fn(f32, f32) -> f32 + Sync) {
    parallel::for_each((out, x, y, g), CHUNK, |_, (o, x, y, g)| {
        for (o, ((&x, &y), &g)) in o.iter_mut().zip(x.iter().zip(y).zip(g)) {
            *o = g * deriv(x, y);
        }
    });
}

/// Logistic sigmoid, computed without overflow for large |x|.
#[inline]
pub fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)

/// tanh by a rational approximation (Eigen's `ptanh` for floats, within a few
/// ulps of the exact value): branch-free, so loops over it vectorise, unlike libm's.
///
/// ```
/// for x in [-10.0f32, -1.5, -0.3, 0.0, 1e-4, 0.7, 4.0, 20.0] {
///     assert!((backprop::tensor::fast_tanh(x) - x.tanh()).abs() < 2e-6);
/// }
/// ```
#[inline]
pub fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    p = x2 * p + -8.604_672e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = x2 * q + 2.268_434_6e-3;
    q = x2 * q + 4.893_525e-3;
    p / q
}

/// GELU, tanh approximation (as in GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#[inline]
pub fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_tanh(GELU_C * (x + 0.044715 * x * x * x)))
}

/// Derivative of [`gelu_f32`].
#[inline]
pub fn gelu_deriv_f32(x: f32) -> f32 {
    let t = fast_tanh(GELU_C * (x + 0.044715 * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
}
