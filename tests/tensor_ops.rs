//! Tensor kernels against naive reference implementations.

use backprop::tensor::{broadcast_shapes, matmul_into, Rng};
use backprop::Tensor;

mod tensor_common;
use tensor_common::{randn, ravel, unravel};

// ---------------------------------------------------------------- matmul

/// Element (r, c) of `op(x)` where `x` is stored row-major with `cols` columns.
fn at(x: &[f32], cols: usize, r: usize, c: usize, t: bool) -> f64 {
    (if t { x[c * cols + r] } else { x[r * cols + c] }) as f64
}

/// Naive `op(a) op(b)` for one (m x k) x (k x n) product, plus the scale
/// sum |a||b| of each entry for a rounding-aware tolerance.
#[allow(clippy::too_many_arguments)]
fn naive_matmul(a: &[f32], ta: bool, b: &[f32], tb: bool, m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let a_cols = if ta { m } else { k };
    let b_cols = if tb { k } else { n };
    let mut out = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut sc) = (0.0f64, 0.0f64);
            for p in 0..k {
                let prod = at(a, a_cols, i, p, ta) * at(b, b_cols, p, j, tb);
                s += prod;
                sc += prod.abs();
            }
            out[i * n + j] = s;
            scale[i * n + j] = sc;
        }
    }
    (out, scale)
}

fn assert_matmul_close(what: &str, got: &[f32], want: &[f64], scale: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(err <= 1e-4 * s.max(1e-6), "{what}: element {i}: got {g}, want {w} (error {err:e}, scale {s})");
    }
}

fn stored(r: usize, c: usize, t: bool) -> Vec<usize> {
    if t {
        vec![c, r]
    } else {
        vec![r, c]
    }
}

const FLAGS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

fn check_matmul_2d(m: usize, k: usize, n: usize, seed: u64) {
    for &(ta, tb) in &FLAGS {
        let a = randn(&stored(m, k, ta), seed);
        let b = randn(&stored(k, n, tb), seed + 1);
        let c = a.matmul_t(ta, &b, tb);
        assert_eq!(c.shape(), &[m, n]);
        let (want, scale) = naive_matmul(a.data(), ta, b.data(), tb, m, k, n);
        assert_matmul_close(&format!("matmul {m}x{k}x{n} ta={ta} tb={tb}"), c.data(), &want, &scale);
    }
}

#[test]
fn matmul_small_odd_shapes_all_transposes() {
    let sizes = [1, 2, 3, 5, 7, 16, 17, 31, 64, 70];
    let mut seed = 0;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &[1, 3, 17, 70] {
                seed += 2;
                check_matmul_2d(m, k, n, seed);
            }
        }
    }
}

#[test]
fn matmul_random_shapes_up_to_70() {
    let mut rng = Rng::new(1234);
    for t in 0..60 {
        let (m, k, n) = (1 + rng.below(70), 1 + rng.below(70), 1 + rng.below(70));
        check_matmul_2d(m, k, n, 5000 + 2 * t);
    }
}

#[test]
fn matmul_large_multithreaded_all_transposes() {
    // 200 x 300 x 150 is far above the single-thread threshold.
    check_matmul_2d(200, 300, 150, 77);
}

#[test]
fn matmul_plain_entry_point() {
    let a = randn(&[5, 7], 1);
    let b = randn(&[7, 3], 2);
    assert_eq!(a.matmul(&b), a.matmul_t(false, &b, false));
    let i = Tensor::from_vec((0..49).map(|x| f32::from(x % 8 == 0)).collect(), &[7, 7]);
    assert_eq!(a.matmul(&i), a);
}

/// Checks a batched product `[B?, ..] x [B?, ..]` product by product.
fn check_batched(bs: usize, m: usize, k: usize, n: usize, a_batched: bool, b_batched: bool, seed: u64) {
    for &(ta, tb) in &FLAGS {
        let mut sa = stored(m, k, ta);
        if a_batched {
            sa.insert(0, bs);
        }
        let mut sb = stored(k, n, tb);
        if b_batched {
            sb.insert(0, bs);
        }
        let a = randn(&sa, seed);
        let b = randn(&sb, seed + 1);
        let c = a.matmul_t(ta, &b, tb);
        assert_eq!(c.shape(), &[bs, m, n], "shape of {sa:?} x {sb:?}");
        for i in 0..bs {
            let ai = if a_batched { &a.data()[i * m * k..(i + 1) * m * k] } else { a.data() };
            let bi = if b_batched { &b.data()[i * k * n..(i + 1) * k * n] } else { b.data() };
            let (want, scale) = naive_matmul(ai, ta, bi, tb, m, k, n);
            let what = format!("batched {sa:?} x {sb:?} ta={ta} tb={tb}, product {i}");
            assert_matmul_close(&what, &c.data()[i * m * n..(i + 1) * m * n], &want, &scale);
        }
    }
}

#[test]
fn matmul_batched_small() {
    check_batched(3, 5, 7, 4, true, true, 10);
    check_batched(3, 5, 7, 4, true, false, 20);
    check_batched(3, 5, 7, 4, false, true, 30);
    check_batched(1, 6, 3, 2, true, true, 40);
    check_batched(1, 6, 3, 2, true, false, 50);
    check_batched(1, 6, 3, 2, false, true, 60);
    check_batched(4, 1, 1, 1, true, true, 70);
}

#[test]
fn matmul_batched_parallel_over_batch() {
    // Each product is small but the batch as a whole is large.
    check_batched(8, 64, 33, 65, true, true, 80);
    check_batched(8, 64, 33, 65, true, false, 90);
    check_batched(8, 64, 33, 65, false, true, 100);
}

#[test]
fn matmul_batched_large_products() {
    // Each product is big enough to use every thread on its own.
    check_batched(2, 200, 150, 130, true, true, 110);
    check_batched(2, 200, 150, 130, true, false, 120);
    check_batched(2, 200, 150, 130, false, true, 130);
}

#[test]
fn matmul_into_accumulates() {
    let (m, k, n) = (4, 6, 5);
    let a = randn(&[m, k], 1);
    let b = randn(&[k, n], 2);
    let init = randn(&[m, n], 3);
    let mut dst = init.data().to_vec();
    matmul_into(&mut dst, a.data(), false, b.data(), false, m, k, n, true);
    let (want, scale) = naive_matmul(a.data(), false, b.data(), false, m, k, n);
    let want: Vec<f64> = want.iter().zip(init.data()).map(|(w, &i)| w + i as f64).collect();
    let scale: Vec<f64> = scale.iter().zip(init.data()).map(|(s, &i)| s + i.abs() as f64).collect();
    assert_matmul_close("accumulate", &dst, &want, &scale);
    // Without accumulate the old contents are overwritten, even NaN.
    let mut dst = vec![f32::NAN; m * n];
    matmul_into(&mut dst, a.data(), false, b.data(), false, m, k, n, false);
    let (want, scale) = naive_matmul(a.data(), false, b.data(), false, m, k, n);
    assert_matmul_close("overwrite", &dst, &want, &scale);
}

#[test]
fn matmul_small_batch_times_transposed_weight_accumulates() {
    // A layer's `x W^T` with few rows (m (n + k) <= n k): computed column-major
    // and transposed into place; accumulating and overwriting (even NaN).
    // W1's shape (10 x 784 against 30 x 784) is one of them.
    for (m, k, n) in [(8, 96, 40), (10, 784, 30)] {
        let x = randn(&[m, k], 4);
        let w = randn(&[n, k], 5);
        let init = randn(&[m, n], 6);
        let (want, scale) = naive_matmul(x.data(), false, w.data(), true, m, k, n);
        let mut dst = vec![f32::NAN; m * n];
        matmul_into(&mut dst, x.data(), false, w.data(), true, m, k, n, false);
        assert_matmul_close("x W^T overwrite", &dst, &want, &scale);
        let mut dst = init.data().to_vec();
        matmul_into(&mut dst, x.data(), false, w.data(), true, m, k, n, true);
        let want: Vec<f64> = want.iter().zip(init.data()).map(|(w, &i)| w + i as f64).collect();
        let scale: Vec<f64> = scale.iter().zip(init.data()).map(|(s, &i)| s + i.abs() as f64).collect();
        assert_matmul_close("x W^T accumulate", &dst, &want, &scale);
    }
    check_matmul_2d(64, 300, 200, 92);
}

#[test]
#[should_panic(expected = "inner dimensions differ")]
fn matmul_rejects_mismatched_inner_dims() {
    let _ = Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 2]));
}

#[test]
#[should_panic(expected = "batch sizes differ")]
fn matmul_rejects_mismatched_batches() {
    let _ = Tensor::zeros(&[2, 2, 3]).matmul(&Tensor::zeros(&[3, 3, 2]));
}

// ---------------------------------------------------------------- broadcasting

/// Naive NumPy broadcasting by multi-index arithmetic.
fn naive_broadcast(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> (Vec<usize>, Vec<f32>) {
    let nd = a.ndim().max(b.ndim());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut p = vec![1; nd - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (pad(a.shape()), pad(b.shape()));
    let out_shape: Vec<usize> = (0..nd)
        .map(|d| {
            assert!(pa[d] == pb[d] || pa[d] == 1 || pb[d] == 1, "test shapes must broadcast");
            pa[d].max(pb[d])
        })
        .collect();
    let n: usize = out_shape.iter().product();
    let out = (0..n)
        .map(|flat| {
            let idx = unravel(flat, &out_shape);
            let ia: Vec<usize> = idx.iter().zip(&pa).map(|(&i, &d)| if d == 1 { 0 } else { i }).collect();
            let ib: Vec<usize> = idx.iter().zip(&pb).map(|(&i, &d)| if d == 1 { 0 } else { i }).collect();
            f(a.data()[ravel(&ia, &pa)], b.data()[ravel(&ib, &pb)])
        })
        .collect();
    (out_shape, out)
}

const BROADCAST_SHAPES: &[(&[usize], &[usize])] = &[
    (&[6], &[6]),
    (&[3, 5], &[3, 5]),
    (&[3, 5], &[5]),
    (&[5], &[3, 5]),
    (&[3, 5], &[1, 5]),
    (&[1, 5], &[3, 5]),
    (&[3, 5], &[3, 1]),
    (&[3, 1], &[3, 5]),
    (&[3, 1], &[1, 5]),
    (&[5, 1], &[1, 7]),
    (&[2, 3, 4], &[3, 1]),
    (&[3, 1], &[2, 3, 4]),
    (&[2, 3, 4], &[2, 1, 4]),
    (&[2, 1, 4], &[1, 3, 1]),
    (&[3, 1, 5], &[4, 1]),
    (&[2, 1, 3, 1], &[4, 1, 5]),
    (&[1, 1, 4], &[3, 4]),
    (&[3, 4], &[1, 1, 4]),
    (&[3, 4], &[1]),
    (&[1], &[3, 4]),
    (&[3, 4], &[]),
    (&[], &[3, 4]),
    (&[1, 1], &[2, 1, 3]),
    (&[7, 1, 1], &[1, 5, 3]),
];

#[test]
fn broadcasting_binary_ops_match_naive() {
    for (i, &(sa, sb)) in BROADCAST_SHAPES.iter().enumerate() {
        let a = randn(sa, 2 * i as u64);
        let b = randn(sb, 2 * i as u64 + 1).map(|x| if x.abs() < 0.1 { 0.5 } else { x });
        assert_eq!(broadcast_shapes(sa, sb).as_deref(), Some(naive_broadcast(&a, &b, |x, _| x).0.as_slice()));
        type Op = (&'static str, fn(&Tensor, &Tensor) -> Tensor, fn(f32, f32) -> f32);
        let ops: [Op; 6] = [
            ("add", Tensor::add, |x, y| x + y),
            ("sub", Tensor::sub, |x, y| x - y),
            ("mul", Tensor::mul, |x, y| x * y),
            ("div", Tensor::div, |x, y| x / y),
            ("maximum", Tensor::maximum, f32::max),
            ("minimum", Tensor::minimum, f32::min),
        ];
        for (name, op, f) in ops {
            let got = op(&a, &b);
            let (shape, want) = naive_broadcast(&a, &b, f);
            assert_eq!(got.shape(), shape.as_slice(), "{name} {sa:?} {sb:?}: shape");
            assert_eq!(got.data(), want.as_slice(), "{name} {sa:?} {sb:?}: values");
        }
    }
}

#[test]
fn broadcasting_large_tensors_match_naive() {
    // Big enough for the multithreaded elementwise paths.
    let a = randn(&[300, 257], 1);
    for sb in [&[300, 257][..], &[257], &[1], &[300, 1], &[1, 257]] {
        let b = randn(sb, 2);
        for (name, got, f) in [
            ("add", a.add(&b), (|x, y| x + y) as fn(f32, f32) -> f32),
            ("mul", a.mul(&b), |x, y| x * y),
            ("sub reversed", b.sub(&a), |x, y| y - x),
        ] {
            let (shape, want) = naive_broadcast(&a, &b, f);
            assert_eq!(got.shape(), shape.as_slice(), "{name} {sb:?}");
            assert_eq!(got.data(), want.as_slice(), "{name} {sb:?}");
        }
    }
    let big = randn(&[1 << 17], 3);
    assert_eq!(big.map(|x| 2.0 * x).data(), big.data().iter().map(|x| 2.0 * x).collect::<Vec<_>>().as_slice());
    let mut inplace = big.clone();
    inplace.map_inplace(|x| x + 1.0);
    assert_eq!(inplace.data(), big.add_scalar(1.0).data());
    assert_ne!(inplace.data(), big.data(), "map_inplace must not write through a shared buffer");
}

#[test]
#[should_panic(expected = "cannot be broadcast")]
fn broadcasting_rejects_incompatible_shapes() {
    let _ = Tensor::zeros(&[2, 3]).add(&Tensor::zeros(&[4]));
}

#[test]
fn unary_and_scalar_kernels_match_std() {
    let x = randn(&[4, 9], 5);
    type Case = (&'static str, Tensor, fn(f32) -> f32);
    let cases: [Case; 12] = [
        ("neg", x.neg(), |v| -v),
        ("exp", x.exp(), f32::exp),
        ("tanh", x.tanh(), f32::tanh),
        ("relu", x.relu(), |v| v.max(0.0)),
        ("abs", x.abs(), f32::abs),
        ("add_scalar", x.add_scalar(1.5), |v| v + 1.5),
        ("mul_scalar", x.mul_scalar(-2.0), |v| v * -2.0),
        ("max_scalar", x.max_scalar(0.2), |v| v.max(0.2)),
        ("min_scalar", x.min_scalar(0.2), |v| v.min(0.2)),
        ("clamp", x.clamp(-0.5, 0.5), |v| v.clamp(-0.5, 0.5)),
        ("gt_scalar", x.gt_scalar(0.0), |v| f32::from(v > 0.0)),
        ("le_scalar", x.le_scalar(0.0), |v| f32::from(v <= 0.0)),
    ];
    for (name, got, f) in cases {
        let want: Vec<f32> = x.data().iter().map(|&v| f(v)).collect();
        assert_eq!(got.data(), want.as_slice(), "{name}");
        assert_eq!(got.shape(), x.shape(), "{name}");
    }
    let pos = x.abs().add_scalar(0.1);
    assert_eq!(pos.log().data(), pos.data().iter().map(|v| v.ln()).collect::<Vec<_>>().as_slice());
    assert_eq!(pos.sqrt().data(), pos.data().iter().map(|v| v.sqrt()).collect::<Vec<_>>().as_slice());
    assert_eq!(pos.powf(1.5).data(), pos.data().iter().map(|v| v.powf(1.5)).collect::<Vec<_>>().as_slice());
    for (&s, &v) in x.sigmoid().data().iter().zip(x.data()) {
        assert!((s as f64 - 1.0 / (1.0 + (-(v as f64)).exp())).abs() < 1e-6);
    }
    // Sigmoid saturates without NaN or overflow.
    let extreme = Tensor::from_vec(vec![-1e4, -100.0, 0.0, 100.0, 1e4], &[5]).sigmoid();
    assert!(extreme.all_finite(), "{extreme:?}");
    assert_eq!(extreme.data()[0], 0.0);
    assert!(extreme.data()[1] >= 0.0 && extreme.data()[1] < 1e-40);
    assert_eq!(&extreme.data()[2..], &[0.5, 1.0, 1.0]);
}

#[test]
fn add_scaled_inplace_is_axpy() {
    let a = randn(&[3, 7], 1);
    let b = randn(&[3, 7], 2);
    let mut c = a.clone();
    c.add_scaled_inplace(&b, -0.5);
    let want: Vec<f32> = a.data().iter().zip(b.data()).map(|(x, y)| x + -0.5 * y).collect();
    assert_eq!(c.data(), want.as_slice());
    assert_ne!(a.data(), c.data(), "the clone shares the buffer; writing must copy it first");
}

// ---------------------------------------------------------------- reductions

/// Naive reduction of `x` along `axis` with `f` starting at `init`.
fn naive_reduce(x: &Tensor, axis: usize, init: f64, f: impl Fn(f64, f64) -> f64) -> (Vec<usize>, Vec<f64>) {
    let mut out_shape = x.shape().to_vec();
    out_shape[axis] = 1;
    let n: usize = out_shape.iter().product();
    let mut out = vec![init; n];
    for flat in 0..x.numel() {
        let mut idx = unravel(flat, x.shape());
        idx[axis] = 0;
        let o = ravel(&idx, &out_shape);
        out[o] = f(out[o], x.data()[flat] as f64);
    }
    (out_shape, out)
}

#[test]
fn sum_axis_max_axis_argmax_axis_match_naive() {
    for shape in [&[7][..], &[3, 5], &[2, 3, 4], &[3, 1, 4, 2]] {
        let x = randn(shape, shape.len() as u64);
        for axis in 0..shape.len() {
            let (kept, sums) = naive_reduce(&x, axis, 0.0, |a, b| a + b);
            let (_, maxes) = naive_reduce(&x, axis, f64::NEG_INFINITY, f64::max);
            let mut dropped = shape.to_vec();
            dropped.remove(axis);

            let s = x.sum_axis(axis, true);
            assert_eq!(s.shape(), kept.as_slice());
            for (&g, &w) in s.data().iter().zip(&sums) {
                assert!((g as f64 - w).abs() < 1e-5, "sum_axis {shape:?} axis {axis}: {g} vs {w}");
            }
            assert_eq!(x.sum_axis(axis, false).shape(), dropped.as_slice());
            assert_eq!(x.sum_axis(axis, false).data(), s.data());

            let m = x.mean_axis(axis, false);
            assert_eq!(m.shape(), dropped.as_slice());
            for (&g, &w) in m.data().iter().zip(&sums) {
                assert!((g as f64 - w / shape[axis] as f64).abs() < 1e-5, "mean_axis {shape:?} axis {axis}");
            }

            let mx = x.max_axis(axis, true);
            assert_eq!(mx.shape(), kept.as_slice());
            assert_eq!(mx.data(), maxes.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice());
            assert_eq!(x.max_axis(axis, false).shape(), dropped.as_slice());

            // argmax points at the maximum.
            let arg = x.argmax_axis(axis);
            assert_eq!(arg.len(), maxes.len());
            for (o, (&k, &w)) in arg.iter().zip(&maxes).enumerate() {
                let mut idx = unravel(o, &kept);
                idx[axis] = k;
                assert_eq!(x.data()[ravel(&idx, shape)] as f64, w, "argmax_axis {shape:?} axis {axis}");
            }
        }
    }
}

#[test]
fn argmax_axis_first_on_ties_and_negative_values() {
    let t = Tensor::from_vec(vec![-3.0, -1.0, -1.0, -2.0, -5.0, -5.0, -5.0, -1.5], &[2, 4]);
    assert_eq!(t.argmax_axis(1), vec![1, 3]);
    assert_eq!(t.argmax_axis(0), vec![0, 0, 0, 1]);
    let all_same = Tensor::full(&[3, 2], 7.0);
    assert_eq!(all_same.argmax_axis(0), vec![0, 0]);
    let neg_inf = Tensor::full(&[1, 3], f32::NEG_INFINITY);
    assert_eq!(neg_inf.argmax_axis(1), vec![0]);
    assert_eq!(neg_inf.max_axis(1, false).data(), &[f32::NEG_INFINITY]);
}

#[test]
fn sum_all_and_mean_all() {
    let x = randn(&[13, 17], 3);
    let want: f64 = x.data().iter().map(|&v| v as f64).sum();
    assert!((x.sum_all() as f64 - want).abs() < 1e-4);
    assert!((x.mean_all() as f64 - want / 221.0).abs() < 1e-6);
    assert_eq!(Tensor::ones(&[1000, 1000]).sum_all(), 1e6);
}

#[test]
fn sum_to_shape_undoes_broadcasting() {
    let g = randn(&[2, 3, 4], 9);
    for target in [&[2, 3, 4][..], &[4], &[3, 4], &[3, 1], &[1, 4], &[2, 1, 4], &[2, 3, 1], &[1, 1, 1], &[1], &[]] {
        let got = g.sum_to_shape(target);
        assert_eq!(got.shape(), target, "sum_to_shape {target:?}");
        // Naive: add each element of g into the target position it broadcast from.
        let nd = g.ndim();
        let mut padded = vec![1; nd - target.len()];
        padded.extend_from_slice(target);
        let mut want = vec![0.0f64; got.numel()];
        for flat in 0..g.numel() {
            let idx: Vec<usize> =
                unravel(flat, g.shape()).iter().zip(&padded).map(|(&i, &d)| if d == 1 { 0 } else { i }).collect();
            want[ravel(&idx, &padded)] += g.data()[flat] as f64;
        }
        for (&a, &w) in got.data().iter().zip(&want) {
            assert!((a as f64 - w).abs() < 1e-5, "sum_to_shape {target:?}: {a} vs {w}");
        }
        // And it is the adjoint of broadcasting: <broadcast(y), g> = <y, sum_to_shape(g)>.
        let y = randn(target, 10);
        let lhs: f64 =
            Tensor::zeros(g.shape()).add(&y).data().iter().zip(g.data()).map(|(&a, &b)| (a * b) as f64).sum();
        let rhs: f64 = y.data().iter().zip(got.data()).map(|(&a, &b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-4, "adjoint {target:?}: {lhs} vs {rhs}");
    }
}

// ---------------------------------------------------------------- softmax

#[test]
fn softmax_rows_sum_to_one_and_match_naive() {
    let x = randn(&[6, 11], 3).mul_scalar(3.0);
    let s = x.softmax();
    assert_eq!(s.shape(), x.shape());
    for (row, xr) in s.data().chunks(11).zip(x.data().chunks(11)) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
        let denom: f64 = xr.iter().map(|&v| (v as f64).exp()).sum();
        for (&p, &v) in row.iter().zip(xr) {
            assert!(p > 0.0);
            assert!((p as f64 - (v as f64).exp() / denom).abs() < 1e-6);
        }
    }
    // 3-d: over the last axis only.
    let x3 = randn(&[2, 3, 4], 4);
    assert_eq!(x3.softmax().data(), x3.reshape(&[6, 4]).softmax().data());
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    let x = Tensor::from_vec(vec![1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4, 0.0, 1e4], &[2, 3]);
    let s = x.softmax();
    assert!(s.all_finite(), "{s:?}");
    let shifted = Tensor::from_vec(vec![0.0, -1.0, -2.0], &[1, 3]).softmax();
    for (a, b) in s.data()[..3].iter().zip(shifted.data()) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(&s.data()[3..], &[0.0, 0.0, 1.0]);
    let ls = x.log_softmax();
    assert!(ls.all_finite(), "{ls:?}");
    assert!((ls.data()[5]).abs() < 1e-6);
    assert!((ls.data()[3] + 2e4).abs() < 1.0 && (ls.data()[4] + 1e4).abs() < 1.0);
    let neg = Tensor::from_vec(vec![-1e4, -1e4], &[2]).softmax();
    assert_eq!(neg.data(), &[0.5, 0.5]);
}

#[test]
fn log_softmax_equals_log_of_softmax() {
    let x = randn(&[5, 9], 8).mul_scalar(2.0);
    let ls = x.log_softmax();
    let l = x.softmax().log();
    assert!(ls.max_abs_diff(&l) < 1e-5, "{}", ls.max_abs_diff(&l));
    for row in ls.data().chunks(9) {
        let total: f32 = row.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }
}

#[test]
fn zero_sized_tensors_broadcast_and_reduce() {
    // NumPy: zeros((3, 0)) + zeros(0) has shape (3, 0).
    assert_eq!(Tensor::zeros(&[3, 0]).add(&Tensor::zeros(&[0])).shape(), &[3, 0]);
    assert_eq!(Tensor::zeros(&[0]).mul(&Tensor::zeros(&[3, 0])).shape(), &[3, 0]);
    assert_eq!(Tensor::zeros(&[0, 4]).add(&Tensor::ones(&[4])).shape(), &[0, 4]);
    assert_eq!(Tensor::zeros(&[3, 0]).sum_to_shape(&[0]).shape(), &[0]);
    assert_eq!(Tensor::zeros(&[0, 3]).sum_to_shape(&[3]).data(), &[0.0, 0.0, 0.0]);
    assert_eq!(Tensor::zeros(&[0, 3]).matmul(&Tensor::ones(&[3, 2])).shape(), &[0, 2]);
    assert_eq!(Tensor::zeros(&[2, 0]).matmul(&Tensor::ones(&[0, 3])).data(), &[0.0; 6]);
}
