//! Every differentiable op on `Var`, checked against central finite
//! differences with `backprop::autograd::gradcheck`.

use backprop::autograd::{gradcheck, GradcheckOptions, GradcheckReport};
use backprop::tensor::Rng;
use backprop::{loss, Graph, Tensor, Var};

/// Runs gradcheck with the default options and asserts it passed.
fn check<const N: usize, F>(name: &str, inputs: [Tensor; N], f: F) -> GradcheckReport
where
    F: for<'g> Fn(&'g Graph, &[Var<'g>]) -> Var<'g>,
{
    let report = gradcheck(&inputs, f, &GradcheckOptions::default());
    assert!(report.passed, "gradcheck failed for {name}: {report:?}");
    report
}

/// N(0, 1) values, seeded.
fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::new(seed))
}

/// Uniform values in [lo, hi), seeded.
fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Tensor {
    Tensor::rand_uniform(shape, lo, hi, &mut Rng::new(seed))
}

/// Uniform values in [lo, hi) at least `margin` away from every point in `kinks`.
fn away_from(shape: &[usize], lo: f32, hi: f32, kinks: &[f32], margin: f32, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let x = rng.uniform(lo, hi);
        if kinks.iter().all(|k| (x - k).abs() >= margin) {
            out.push(x);
        }
    }
    Tensor::from_vec(out, shape)
}

/// Values with magnitude in [0.5, 2) and a random sign: safe denominators.
fn nonzero(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            let m = rng.uniform(0.5, 2.0);
            if rng.next_u64() & 1 == 0 {
                m
            } else {
                -m
            }
        })
        .collect();
    Tensor::from_vec(data, shape)
}

/// Distinct values (multiples of 0.1, shuffled) so that a max has one clear winner.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut data: Vec<f32> = (0..n).map(|i| i as f32 * 0.1 - n as f32 * 0.05).collect();
    Rng::new(seed).shuffle(&mut data);
    Tensor::from_vec(data, shape)
}

/// The shape pairs checked for each broadcasting binary op: same shape, and
/// broadcasting in both directions.
const BINARY_SHAPES: &[(&[usize], &[usize])] = &[
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[4], &[3, 4]),
    (&[3, 1], &[1, 4]),
    (&[1, 4], &[3, 1]),
    (&[2, 3, 4], &[3, 1]),
    (&[3, 1], &[2, 3, 4]),
    (&[2, 3, 4], &[2, 1, 4]),
    (&[3, 4], &[1]),
    (&[1], &[3, 4]),
    (&[1], &[1]),
];

// ---------------------------------------------------------------- meta tests

#[test]
fn gradcheck_numerical_side_is_sane_for_x_squared() {
    // Analytic: d(x*x)/dx = 2x = 6 at x = 3.
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(vec![3.0], &[1]));
    let y = (x * x).sum();
    let grads = g.backward(y);
    assert_eq!(grads.wrt(x).unwrap().data(), &[6.0]);

    // Numerical side agrees to within the f32 rounding of a 1e-3 step.
    let report = check("x*x", [Tensor::from_vec(vec![3.0], &[1])], |_, v| v[0] * v[0]);
    assert_eq!(report.max_abs_error.len(), 1);
    assert!(report.max_abs_error[0] < 5e-3, "{report:?}");
    assert!(report.max_rel_error[0] < 5e-3, "{report:?}");
    assert!(report.first_failure.is_none());
}

#[test]
fn gradcheck_detects_a_wrong_gradient() {
    // A function whose recorded (analytic) graph differs from what the
    // non-recording (numerical) evaluation computes: the analytic gradient is
    // 2 while the finite differences see 3, so gradcheck must fail.
    let x = randn(&[6], 1);
    let report =
        gradcheck(&[x], |g, v| if g.is_recording() { v[0] * 2.0 } else { v[0] * 3.0 }, &GradcheckOptions::default());
    assert!(!report.passed, "{report:?}");
    let (input, _, analytic, numerical) = report.first_failure.expect("a failure is reported");
    assert_eq!(input, 0);
    assert!((numerical - 1.5 * analytic).abs() < 1e-2 * numerical.abs().max(1.0), "{report:?}");
}

// ---------------------------------------------------------------- arithmetic

#[test]
fn add_same_shape_and_broadcast() {
    for (i, &(sa, sb)) in BINARY_SHAPES.iter().enumerate() {
        let inputs = [randn(sa, 10 + i as u64), randn(sb, 100 + i as u64)];
        check(&format!("add {sa:?} + {sb:?}"), inputs, |_, v| v[0] + v[1]);
    }
}

#[test]
fn sub_same_shape_and_broadcast() {
    for (i, &(sa, sb)) in BINARY_SHAPES.iter().enumerate() {
        let inputs = [randn(sa, 20 + i as u64), randn(sb, 200 + i as u64)];
        check(&format!("sub {sa:?} - {sb:?}"), inputs, |_, v| v[0] - v[1]);
    }
}

#[test]
fn mul_same_shape_and_broadcast() {
    for (i, &(sa, sb)) in BINARY_SHAPES.iter().enumerate() {
        let inputs = [randn(sa, 30 + i as u64), randn(sb, 300 + i as u64)];
        check(&format!("mul {sa:?} * {sb:?}"), inputs, |_, v| v[0] * v[1]);
    }
}

#[test]
fn div_same_shape_and_broadcast() {
    for (i, &(sa, sb)) in BINARY_SHAPES.iter().enumerate() {
        let inputs = [randn(sa, 40 + i as u64), nonzero(sb, 400 + i as u64)];
        check(&format!("div {sa:?} / {sb:?}"), inputs, |_, v| v[0] / v[1]);
    }
}

#[test]
fn same_var_used_twice_accumulates() {
    // x * x + x / (x*x + 1): gradients from several uses of x add up.
    check("x*x + x/(x*x+1)", [randn(&[3, 4], 5)], |_, v| v[0] * v[0] + v[0] / (v[0] * v[0] + 1.0));
}

#[test]
fn scalar_forms() {
    let x = randn(&[3, 4], 50);
    check("x + 2", [x.clone()], |_, v| v[0] + 2.0);
    check("2 + x", [x.clone()], |_, v| 2.0 + v[0]);
    check("x - 2", [x.clone()], |_, v| v[0] - 2.0);
    check("2 - x", [x.clone()], |_, v| 2.0 - v[0]);
    check("x * 3", [x.clone()], |_, v| v[0] * 3.0);
    check("3 * x", [x.clone()], |_, v| 3.0 * v[0]);
    check("x / 3", [x.clone()], |_, v| v[0] / 3.0);
    check("-x", [x.clone()], |_, v| -v[0]);
    check("x.add_scalar", [x.clone()], |_, v| v[0].add_scalar(-0.5));
    check("x.mul_scalar", [x.clone()], |_, v| v[0].mul_scalar(-1.5));
    check("x.rsub_scalar", [x.clone()], |_, v| v[0].rsub_scalar(0.25));
    let d = nonzero(&[3, 4], 51);
    check("3 / x", [d.clone()], |_, v| 3.0 / v[0]);
    check("x.rdiv_scalar", [d], |_, v| v[0].rdiv_scalar(-2.0));
}

// ---------------------------------------------------------------- unary

#[test]
fn exp() {
    check("exp", [uniform(&[3, 5], -2.0, 2.0, 60)], |_, v| v[0].exp());
}

#[test]
fn log_of_positive_inputs() {
    check("log", [uniform(&[3, 5], 0.3, 4.0, 61)], |_, v| v[0].log());
}

#[test]
fn sqrt_of_positive_inputs() {
    check("sqrt", [uniform(&[3, 5], 0.3, 4.0, 62)], |_, v| v[0].sqrt());
}

#[test]
fn abs_away_from_zero() {
    check("abs", [away_from(&[3, 5], -2.0, 2.0, &[0.0], 0.05, 63)], |_, v| v[0].abs());
}

#[test]
fn tanh() {
    check("tanh", [uniform(&[3, 5], -3.0, 3.0, 64)], |_, v| v[0].tanh());
}

#[test]
fn sigmoid() {
    check("sigmoid", [uniform(&[3, 5], -5.0, 5.0, 65)], |_, v| v[0].sigmoid());
}

#[test]
fn hard_sigmoid_away_from_kinks() {
    // Inputs on both flat parts and the linear middle, never near +-3.
    let x = away_from(&[4, 6], -5.0, 5.0, &[-3.0, 3.0], 0.05, 66);
    let data = x.data();
    assert!(data.iter().any(|&v| v < -3.0) && data.iter().any(|&v| v > 3.0) && data.iter().any(|v| v.abs() < 3.0));
    check("hard_sigmoid", [x.clone()], |_, v| v[0].hard_sigmoid());
}

#[test]
fn relu_away_from_zero() {
    check("relu", [away_from(&[3, 5], -2.0, 2.0, &[0.0], 0.05, 67)], |_, v| v[0].relu());
}

#[test]
fn gelu() {
    check("gelu", [uniform(&[3, 5], -4.0, 4.0, 68)], |_, v| v[0].gelu());
}

#[test]
fn powf() {
    let pos = uniform(&[3, 4], 0.5, 2.0, 69);
    for p in [2.5, 0.5, -1.5, 1.0] {
        check(&format!("powf {p}"), [pos.clone()], move |_, v| v[0].powf(p));
    }
    // Integer exponents are fine for negative bases too.
    let any = randn(&[3, 4], 70);
    check("powf 3 (any sign)", [any.clone()], |_, v| v[0].powf(3.0));
    check("powf 2 (any sign)", [any], |_, v| v[0].powf(2.0));
}

#[test]
fn square() {
    check("square", [randn(&[3, 5], 71)], |_, v| v[0].square());
}

#[test]
fn max_scalar_and_min_scalar_away_from_threshold() {
    let x = away_from(&[4, 5], -2.0, 2.0, &[0.3], 0.05, 72);
    check("max_scalar", [x.clone()], |_, v| v[0].max_scalar(0.3));
    check("min_scalar", [x], |_, v| v[0].min_scalar(0.3));
}

// ---------------------------------------------------------------- matmul

/// Stored shape of an `r x c` operand that the product reads transposed or not.
fn stored(r: usize, c: usize, t: bool) -> Vec<usize> {
    if t {
        vec![c, r]
    } else {
        vec![r, c]
    }
}

fn with_batch(b: usize, s: Vec<usize>) -> Vec<usize> {
    let mut v = vec![b];
    v.extend(s);
    v
}

const FLAGS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn matmul_2d_all_transposes() {
    let (m, k, n) = (3, 4, 5);
    for (i, &(ta, tb)) in FLAGS.iter().enumerate() {
        let a = randn(&stored(m, k, ta), 80 + i as u64);
        let b = randn(&stored(k, n, tb), 90 + i as u64);
        check(&format!("matmul 2d ta={ta} tb={tb}"), [a, b], move |_, v| v[0].matmul_t(ta, v[1], tb));
    }
    check("matmul", [randn(&[2, 3], 1), randn(&[3, 4], 2)], |_, v| v[0].matmul(v[1]));
}

#[test]
fn matmul_batched_3d_x_3d() {
    let (bs, m, k, n) = (2, 3, 4, 2);
    for (i, &(ta, tb)) in FLAGS.iter().enumerate() {
        let a = randn(&with_batch(bs, stored(m, k, ta)), 110 + i as u64);
        let b = randn(&with_batch(bs, stored(k, n, tb)), 120 + i as u64);
        check(&format!("matmul 3d x 3d ta={ta} tb={tb}"), [a, b], move |_, v| v[0].matmul_t(ta, v[1], tb));
    }
}

#[test]
fn matmul_3d_x_shared_2d() {
    // The right matrix is shared by the batch: its gradient sums over the batch.
    let (bs, m, k, n) = (3, 2, 4, 3);
    for (i, &(ta, tb)) in FLAGS.iter().enumerate() {
        let a = randn(&with_batch(bs, stored(m, k, ta)), 130 + i as u64);
        let b = randn(&stored(k, n, tb), 140 + i as u64);
        check(&format!("matmul 3d x 2d ta={ta} tb={tb}"), [a, b], move |_, v| v[0].matmul_t(ta, v[1], tb));
    }
}

#[test]
fn matmul_shared_2d_x_3d() {
    // The left matrix is shared by the batch.
    let (bs, m, k, n) = (3, 2, 4, 3);
    for (i, &(ta, tb)) in FLAGS.iter().enumerate() {
        let a = randn(&stored(m, k, ta), 150 + i as u64);
        let b = randn(&with_batch(bs, stored(k, n, tb)), 160 + i as u64);
        check(&format!("matmul 2d x 3d ta={ta} tb={tb}"), [a, b], move |_, v| v[0].matmul_t(ta, v[1], tb));
    }
}

// ---------------------------------------------------------------- reductions

#[test]
fn sum_and_mean_of_everything() {
    let x = randn(&[2, 3, 4], 170);
    check("sum", [x.clone()], |_, v| v[0].sum());
    check("mean", [x.clone()], |_, v| v[0].mean());
    // A reduction in the middle of an expression, not just at the end.
    check("x * mean(x)", [x], |_, v| v[0] * v[0].mean());
}

#[test]
fn sum_axis_and_mean_axis_every_axis() {
    let x = randn(&[2, 3, 4], 180);
    for axis in 0..3 {
        for keepdim in [false, true] {
            check(&format!("sum_axis {axis} keepdim={keepdim}"), [x.clone()], move |_, v| v[0].sum_axis(axis, keepdim));
            check(&format!("mean_axis {axis} keepdim={keepdim}"), [x.clone()], move |_, v| {
                v[0].mean_axis(axis, keepdim)
            });
        }
    }
}

#[test]
fn max_axis_every_axis() {
    let x = distinct(&[2, 3, 4], 190);
    for axis in 0..3 {
        for keepdim in [false, true] {
            check(&format!("max_axis {axis} keepdim={keepdim}"), [x.clone()], move |_, v| v[0].max_axis(axis, keepdim));
        }
    }
    // 2-d, as used by max-pooling style code.
    check("max_axis 2d", [distinct(&[4, 5], 191)], |_, v| v[0].max_axis(1, false));
}

// ---------------------------------------------------------------- shape ops

#[test]
fn reshape() {
    check("reshape", [randn(&[2, 3, 4], 200)], |_, v| v[0].reshape(&[4, 6]));
    check("reshape to 1d", [randn(&[3, 4], 201)], |_, v| v[0].reshape(&[12]));
}

#[test]
fn permute_3d() {
    let x = randn(&[2, 3, 4], 210);
    for dims in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [2, 1, 0], [1, 0, 2]] {
        check(&format!("permute {dims:?}"), [x.clone()], move |_, v| v[0].permute(&dims));
    }
}

#[test]
fn transpose() {
    check("transpose 2d", [randn(&[3, 5], 220)], |_, v| v[0].transpose(0, 1));
    let x = randn(&[2, 3, 4], 221);
    check("transpose (0, 2)", [x.clone()], |_, v| v[0].transpose(0, 2));
    check("transpose (1, 2)", [x], |_, v| v[0].transpose(1, 2));
}

#[test]
fn narrow_start_middle_end() {
    let x = randn(&[4, 5, 3], 230);
    // (axis, start, len) at the start, in the middle and at the end of each axis.
    for (axis, start, len) in
        [(0, 0, 2), (0, 1, 2), (0, 2, 2), (1, 0, 3), (1, 1, 3), (1, 2, 3), (2, 0, 1), (2, 1, 1), (2, 1, 2)]
    {
        check(&format!("narrow axis {axis} {start}..+{len}"), [x.clone()], move |_, v| v[0].narrow(axis, start, len));
    }
}

#[test]
fn concat_three_parts() {
    let axis0 = [randn(&[2, 3], 240), randn(&[1, 3], 241), randn(&[3, 3], 242)];
    check("concat axis 0", axis0, |_, v| Var::concat(&[v[0], v[1], v[2]], 0));
    let axis1 = [randn(&[2, 1], 243), randn(&[2, 3], 244), randn(&[2, 2], 245)];
    check("concat axis 1", axis1, |_, v| Var::concat(&[v[0], v[1], v[2]], 1));
    let axis1_3d = [randn(&[2, 1, 2], 246), randn(&[2, 2, 2], 247), randn(&[2, 3, 2], 248)];
    check("concat axis 1 (3-d)", axis1_3d, |_, v| Var::concat(&[v[0], v[1], v[2]], 1));
    // The same value twice in one concat.
    check("concat [x, x]", [randn(&[2, 3], 249)], |_, v| Var::concat(&[v[0], v[0]], 1));
}

#[test]
fn index_select_with_repeated_index() {
    // Row 2 is picked three times: its gradient is the sum of three rows.
    let ids = [2, 0, 2, 1, 2];
    check("index_select", [randn(&[4, 3], 250)], move |_, v| v[0].index_select(&ids));
    check("index_select 3-d", [randn(&[3, 2, 2], 251)], |_, v| v[0].index_select(&[1, 1, 0]));
}

// ---------------------------------------------------------------- softmax

#[test]
fn softmax() {
    check("softmax 2d", [randn(&[3, 5], 260)], |_, v| v[0].softmax());
    check("softmax 3d", [randn(&[2, 3, 4], 261)], |_, v| v[0].softmax());
}

#[test]
fn log_softmax() {
    check("log_softmax 2d", [randn(&[3, 5], 270)], |_, v| v[0].log_softmax());
    check("log_softmax 3d", [randn(&[2, 3, 4], 271)], |_, v| v[0].log_softmax());
}

// ---------------------------------------------------------------- losses

#[test]
fn cross_entropy() {
    let labels = [1, 4, 0, 2];
    check("cross_entropy", [randn(&[4, 5], 280)], move |_, v| loss::cross_entropy(v[0], &labels));
    // Scaled afterwards, so the incoming gradient is not 1.
    check("cross_entropy * 3", [randn(&[2, 3], 281)], |_, v| loss::cross_entropy(v[0], &[2, 2]) * 3.0);
}

#[test]
fn bce_with_logits() {
    // Gradients with respect to both the logits and the targets.
    let z = uniform(&[3, 4], -3.0, 3.0, 290);
    let y = uniform(&[3, 4], 0.0, 1.0, 291);
    check("bce_with_logits", [z, y], |_, v| loss::bce_with_logits(v[0], v[1]));
    let z = uniform(&[5], -3.0, 3.0, 292);
    let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 1.0], &[5]);
    check("bce_with_logits * 2", [z, y], |_, v| loss::bce_with_logits(v[0], v[1]) * 2.0);
}

#[test]
fn mse() {
    check("mse", [randn(&[3, 4], 300), randn(&[3, 4], 301)], |_, v| loss::mse(v[0], v[1]));
}

#[test]
fn l1_away_from_kinks() {
    let target = randn(&[3, 4], 310);
    let offset = away_from(&[3, 4], -2.0, 2.0, &[0.0], 0.05, 311);
    let pred = target.add(&offset);
    check("l1", [pred, target], |_, v| loss::l1(v[0], v[1]));
}

#[test]
fn quadratic() {
    check("quadratic", [randn(&[4, 3], 320), randn(&[4, 3], 321)], |_, v| loss::quadratic(v[0], v[1]));
    check("quadratic batch of 1", [randn(&[1, 3], 322), randn(&[1, 3], 323)], |_, v| loss::quadratic(v[0], v[1]));
}

// ---------------------------------------------------------------- layers

#[test]
fn linear_forward_with_weights_as_leaves() {
    // y = x W^T + b, as nn::Linear computes it (the fused op) and as a
    // product plus a broadcast bias; x, W and b all checked.
    let x = randn(&[4, 3], 330);
    let w = randn(&[2, 3], 331);
    let b = randn(&[2], 332);
    check("linear", [x.clone(), w.clone(), b.clone()], |_, v| v[0].linear(v[1], Some(v[2])));
    check("linear, no bias", [x.clone(), w.clone()], |_, v| v[0].linear(v[1], None));
    check("matmul_t + bias", [x, w.clone(), b.clone()], |_, v| v[0].matmul_t(false, v[1], true) + v[2]);
    // A [batch, time, in] input against the shared weight.
    let x3 = randn(&[2, 3, 3], 333);
    check("linear 3-d input", [x3.clone(), w.clone(), b.clone()], |_, v| v[0].linear(v[1], Some(v[2])));
    check("matmul_t + bias 3-d", [x3, w, b], |_, v| v[0].matmul_t(false, v[1], true) + v[2]);
}

#[test]
fn linear_equals_a_product_plus_a_bias_at_every_size() {
    // Both of the product's paths (a column-major scratch for few rows, the
    // row-major kernel otherwise) and the single-thread and threaded splits.
    for (m, k, n) in [(1, 1, 1), (3, 7, 5), (64, 100, 256), (300, 40, 20), (2, 300, 1)] {
        let (x, w, b) = (randn(&[m, k], 340), randn(&[n, k], 341), randn(&[n], 342));
        let fused = x.linear(&w, Some(&b));
        let apart = x.matmul_t(false, &w, true).add(&b);
        let worst = fused.data().iter().zip(apart.data()).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-4, "{m}x{k}x{n}: the fused linear differs by {worst}");
        assert_eq!(x.linear(&w, None).data(), x.matmul_t(false, &w, true).data(), "{m}x{k}x{n} without a bias");
    }
}

#[test]
fn two_layer_network_end_to_end() {
    // Linear -> tanh -> Linear -> cross-entropy, every weight a leaf.
    let x = randn(&[3, 4], 340);
    let w1 = randn(&[5, 4], 341).mul_scalar(0.5);
    let b1 = randn(&[5], 342);
    let w2 = randn(&[2, 5], 343).mul_scalar(0.5);
    let b2 = randn(&[2], 344);
    check("mlp", [x, w1, b1, w2, b2], |_, v| {
        let h = (v[0].matmul_t(false, v[1], true) + v[2]).tanh();
        loss::cross_entropy(h.matmul_t(false, v[3], true) + v[4], &[0, 1, 1])
    });
}
