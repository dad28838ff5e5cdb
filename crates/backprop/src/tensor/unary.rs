//! Elementwise functions with their derivatives: [`UnaryOp`], applied
//! forward by [`unary`] and backward by [`unary_backward`].
//!
//! Each op's derivative is written in terms of its input `x` or, where
//! cheaper, its output `y` (sigmoid: y(1-y); tanh: 1-y^2; exp: y). The
//! kernels match on the op once, outside the loop, so each loop is compiled
//! for one op and vectorises.

use super::parallel::{self, CHUNK};
use super::{output_buffer, Tensor};

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
    /// max(x, 0), NaN kept (PyTorch's `relu`); derivative 0 for x <= 0, else 1.
    Relu,
    /// PyTorch's `leaky_relu`: x for x > 0, else `negative_slope` x; derivative
    /// 1 for x > 0, else `negative_slope`.
    LeakyRelu(f32),
    /// GELU, tanh approximation (GPT-2's), with the branch-free [`fast_tanh`].
    Gelu,
    /// x^2; derivative 2x.
    Square,
    /// x^p (`powf`: defined for a negative base with an integer exponent);
    /// derivative p x^(p-1), 0 when p = 0 (see [`pow_grad_base`]).
    Pow(f32),
    /// max(x, s), NaN kept (PyTorch's `clamp_min`); derivative 1 where x > s.
    MaxScalar(f32),
    /// min(x, s), NaN kept (PyTorch's `clamp_max`); derivative 1 where x < s.
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
            UnaryOp::LeakyRelu(_) => "leaky_relu",
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
            UnaryOp::Relu => nan_max(x, 0.0),
            UnaryOp::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            UnaryOp::Gelu => gelu_f32(x),
            UnaryOp::Square => x * x,
            UnaryOp::Pow(p) => x.powf(p),
            UnaryOp::MaxScalar(s) => nan_max(x, s),
            UnaryOp::MinScalar(s) => nan_min(x, s),
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
            // PyTorch's threshold_backward: 0 where x <= 0, so a NaN passes the gradient on.
            UnaryOp::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
            UnaryOp::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            UnaryOp::Gelu => gelu_deriv_f32(x),
            UnaryOp::Square => 2.0 * x,
            UnaryOp::Pow(p) => pow_grad_base(x, p),
            UnaryOp::MaxScalar(s) => f32::from(x > s),
            UnaryOp::MinScalar(s) => f32::from(x < s),
        }
    }
}

/// Calls `$body` with `$k` bound to a closure that returns `$op`, built
/// inside the closure as one fixed variant: a loop calling `$k().f(x)` then
/// sees the variant as a constant and the `match` inside `f`/`df` folds away.
/// (Binding the value itself is not enough: a loop closure that captures an
/// enum reads its discriminant from memory, and the kernels it is handed to
/// are not inlined, so every element went through the `match`'s jump table.)
macro_rules! specialise {
    ($op:expr, $k:ident => $body:expr) => {
        match $op {
            UnaryOp::Exp => {
                let $k = move || UnaryOp::Exp;
                $body
            }
            UnaryOp::Log => {
                let $k = move || UnaryOp::Log;
                $body
            }
            UnaryOp::Sqrt => {
                let $k = move || UnaryOp::Sqrt;
                $body
            }
            UnaryOp::Abs => {
                let $k = move || UnaryOp::Abs;
                $body
            }
            UnaryOp::Tanh => {
                let $k = move || UnaryOp::Tanh;
                $body
            }
            UnaryOp::Sigmoid => {
                let $k = move || UnaryOp::Sigmoid;
                $body
            }
            UnaryOp::HardSigmoid => {
                let $k = move || UnaryOp::HardSigmoid;
                $body
            }
            UnaryOp::Relu => {
                let $k = move || UnaryOp::Relu;
                $body
            }
            UnaryOp::LeakyRelu(a) => {
                let $k = move || UnaryOp::LeakyRelu(a);
                $body
            }
            UnaryOp::Gelu => {
                let $k = move || UnaryOp::Gelu;
                $body
            }
            UnaryOp::Square => {
                let $k = move || UnaryOp::Square;
                $body
            }
            UnaryOp::Pow(p) => {
                let $k = move || UnaryOp::Pow(p);
                $body
            }
            UnaryOp::MaxScalar(s) => {
                let $k = move || UnaryOp::MaxScalar(s);
                $body
            }
            UnaryOp::MinScalar(s) => {
                let $k = move || UnaryOp::MinScalar(s);
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
    specialise!(op, k => x.map(move |v| k().f(v)))
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
    // SAFETY: `chain` writes every value of `out`.
    let mut out = unsafe { output_buffer(x.numel()) };
    specialise!(op, k => chain(&mut out, x.data(), y.data(), dy.data(), move |x, y| k().df(x, y)));
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

/// max(a, b) where a NaN in either wins, as PyTorch's `maximum`, `max` and
/// `clamp_min` (Rust's `f32::max` returns the other operand); `b` on ties.
///
/// ```
/// use backprop::tensor::nan_max;
/// assert!(nan_max(f32::NAN, 1.0).is_nan() && nan_max(1.0, f32::NAN).is_nan());
/// assert_eq!(nan_max(-1.0, 2.0), 2.0);
/// ```
#[inline(always)]
pub fn nan_max(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// min(a, b) where a NaN in either wins, as PyTorch's `minimum` and `clamp_max`.
///
/// ```
/// assert!(backprop::tensor::nan_min(1.0, f32::NAN).is_nan());
/// assert_eq!(backprop::tensor::nan_min(-1.0, 2.0), -1.0);
/// ```
#[inline(always)]
pub fn nan_min(a: f32, b: f32) -> f32 {
    if a < b || a.is_nan() {
        a
    } else {
        b
    }
}

/// Orders numbers with every NaN (whatever its sign bit) above +inf, as
/// PyTorch's `sort` and `topk` do, so a descending sort puts NaN first; other
/// values by `total_cmp`. (`f32::total_cmp` alone sorts a NaN with its sign
/// bit set, what x86 makes of 0/0 or inf - inf, below -inf.)
///
/// ```
/// use backprop::tensor::cmp_nan_greatest;
/// let mut v = [0.5f32, -f32::NAN, 2.0, f32::NEG_INFINITY];
/// v.sort_by(|a, b| cmp_nan_greatest(*b, *a)); // descending
/// assert!(v[0].is_nan() && v[1..] == [2.0, 0.5, f32::NEG_INFINITY]);
/// ```
pub fn cmp_nan_greatest(a: f32, b: f32) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

/// d(x^p)/dx = p x^(p-1), and 0 where p = 0 (x^0 = 1 everywhere), as PyTorch's
/// `pow_backward_self`: so at x = 0 it is 0 for p > 1, inf for 0 < p < 1, and
/// for a negative x it is defined when p is an integer.
///
/// ```
/// use backprop::tensor::pow_grad_base;
/// assert_eq!(pow_grad_base(-2.0, 2.0), -4.0);
/// assert_eq!(pow_grad_base(0.0, 2.0), 0.0);
/// assert_eq!(pow_grad_base(0.0, 0.0), 0.0);
/// assert_eq!(pow_grad_base(0.0, 0.5), f32::INFINITY);
/// ```
#[inline(always)]
pub fn pow_grad_base(x: f32, p: f32) -> f32 {
    if p == 0.0 {
        0.0
    } else {
        p * x.powf(p - 1.0)
    }
}

/// d(x^p)/dp = x^p ln x, and 0 where x = 0 and p >= 0, as PyTorch's
/// `pow_backward_exponent` (which masks that case: 0^p is constant 0 or 1
/// there); NaN for x < 0, where ln x is undefined.
///
/// ```
/// use backprop::tensor::pow_grad_exponent;
/// assert!((pow_grad_exponent(2.0, 3.0) - 8.0 * 2f32.ln()).abs() < 1e-6);
/// assert_eq!(pow_grad_exponent(0.0, 2.0), 0.0);
/// assert_eq!(pow_grad_exponent(0.0, -1.0), f32::NEG_INFINITY);
/// assert!(pow_grad_exponent(-2.0, 2.0).is_nan());
/// ```
#[inline(always)]
pub fn pow_grad_exponent(x: f32, p: f32) -> f32 {
    if x == 0.0 && p >= 0.0 {
        0.0
    } else {
        x.powf(p) * x.ln()
    }
}

/// Logistic sigmoid `1 / (1 + e^-x)`, without overflow for large |x|: with
/// `e = e^-|x|` (in `(0, 1]`), `1 / (1 + e)` for `x >= 0` and `e / (1 + e)`
/// below. Branch-free ([`exp_nonpositive`]), so loops over it vectorise;
/// within 2e-7 of the exact value (relative; subnormal below -87, 0 below
/// -104). NaN stays NaN.
///
/// ```
/// use backprop::tensor::sigmoid_f32;
/// assert_eq!(sigmoid_f32(0.0), 0.5);
/// assert!((sigmoid_f32(2.0) - 0.880_797_1).abs() < 1e-7);
/// assert!(sigmoid_f32(-100.0) > 0.0 && sigmoid_f32(-100.0) < 1e-43);
/// assert_eq!((sigmoid_f32(-200.0), sigmoid_f32(200.0)), (0.0, 1.0));
/// assert!(sigmoid_f32(f32::NAN).is_nan());
/// ```
#[inline]
pub fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_nonpositive(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 {
        s
    } else {
        e * s
    }
}

/// `e^x` for `x <= 0` (larger `x` is taken as 0), branch-free so that loops
/// over it vectorise, unlike libm's `expf`: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by Cephes' degree-7 polynomial for `expf`
/// (Moshier, *Methods and Programs for Mathematical Functions*, 1989; the
/// coefficients of its `expf.c`), times `2^n` built in the exponent bits, in
/// two factors when `2^n` is below the normal floats. Within 2 ulp of the
/// exact value down to -87.3; below, the subnormal result rounded once more;
/// 0 below -104.
#[inline]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties
    // to even) with plain additions: SSE2, the generic x86-64 target, has no
    // rounding instruction (`round_ties_even` would call libm's `rintf`).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-104.0, 0.0);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = P.iter().fold(0.0, |acc, &c| acc * r + c);
    let er = p * r * r + r + 1.0;
    // `n` lies in [-150, 0]: `2^n = 2^n1 2^n2` with both factors normal floats.
    let n1 = n.max(-126.0);
    let pow2 = |e: f32| f32::from_bits(((e as i32 + 127) as u32) << 23);
    (pow2(n1) * er) * pow2(n - n1)
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

#[cfg(test)]
mod tests {
    use super::{exp_nonpositive, sigmoid_f32};

    #[test]
    fn exp_and_sigmoid_match_f64_across_the_range() {
        let mut worst_exp = 0.0f64;
        let mut worst_sigmoid = 0.0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 + 174.0 * i as f64 / 2_000_000.0;
            let xf = x as f32;
            let xd = xf as f64;
            if xf <= 0.0 {
                let rel = (exp_nonpositive(xf) as f64 / xd.exp() - 1.0).abs();
                worst_exp = worst_exp.max(rel);
            }
            let exact = 1.0 / (1.0 + (-xd).exp());
            worst_sigmoid = worst_sigmoid.max((sigmoid_f32(xf) as f64 / exact - 1.0).abs());
        }
        assert!(worst_exp < 2.5e-7, "exp: worst relative error {worst_exp:e}");
        assert!(worst_sigmoid < 2e-7, "sigmoid: worst relative error {worst_sigmoid:e}");
        assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_f32(f32::NEG_INFINITY), 0.0);
        // Below the normal floats: subnormal, within a few units of the last place.
        for x in [-88.0f32, -95.0, -100.0, -103.0] {
            let exact = (x as f64).exp();
            let got = exp_nonpositive(x) as f64;
            assert!((got - exact).abs() <= 4.0 * 2f64.powi(-149), "exp({x}) = {got:e}, exactly {exact:e}");
        }
        assert!(sigmoid_f32(f32::NAN).is_nan());
    }
}
