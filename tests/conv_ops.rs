//! Convolution, pooling, batch-norm and leaky-ReLU ops: forward and gradients
//! against naive reference loops, `gradcheck` over strides, padding,
//! dilation, groups, odd sizes, non-square kernels and batch 1, PyTorch's
//! tie rule for max pooling, shape errors, and the PyTorch fixture
//! `tests/fixtures/conv_ops.safetensors` (made by `make_conv_ops_fixture.py`).
//! The batch-norm layers and checkpoints are in `tests/conv_layers.rs`.

use backprop::autograd::{gradcheck, GradcheckOptions};
use backprop::checkpoint::Checkpoint;
use backprop::tensor::{Conv2dOptions, ConvTranspose2dOptions, Rng};
use backprop::{Graph, Tensor, Var};
use std::path::Path;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::new(seed))
}

/// Distinct values (multiples of 0.05, shuffled): a max has one clear winner,
/// further than the gradcheck step from the runner-up.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut data: Vec<f32> = (0..n).map(|i| i as f32 * 0.05 - n as f32 * 0.025).collect();
    Rng::new(seed).shuffle(&mut data);
    Tensor::from_vec(data, shape)
}

fn check<F>(name: &str, inputs: &[Tensor], f: F)
where
    F: for<'g> Fn(&'g Graph, &[Var<'g>]) -> Var<'g>,
{
    let report = gradcheck(inputs, f, &GradcheckOptions::default());
    assert!(report.passed, "gradcheck failed for {name}: {report:?}");
}

/// [`check`] for a function linear in each input separately (a convolution):
/// central differences are then exact at any step, so a step of 0.05 keeps
/// f32 rounding (larger in Winograd's transforms than in a plain dot
/// product) from swamping the difference, which 1e-3 does not.
fn check_linear<F>(name: &str, inputs: &[Tensor], f: F)
where
    F: for<'g> Fn(&'g Graph, &[Var<'g>]) -> Var<'g>,
{
    let report = gradcheck(inputs, f, &GradcheckOptions { eps: 0.05, ..GradcheckOptions::default() });
    assert!(report.passed, "gradcheck failed for {name}: {report:?}");
}

/// `max |a - b| <= tol * max |b|`: errors relative to the tensor's scale.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    let scale = b.data().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let err = a.max_abs_diff(b);
    assert!(err <= tol * scale, "{what}: max error {err} exceeds {tol} x {scale}");
}

/// Index of `[a, b, c, d]` in a row-major tensor of shape `s`.
fn at(s: &[usize], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * s[1] + b) * s[2] + c) * s[3] + d
}

/// Input position `o * stride + k * dilation - padding`, if inside `0..n`.
fn tap(o: usize, k: usize, stride: usize, dilation: usize, padding: usize, n: usize) -> Option<usize> {
    (o * stride + k * dilation).checked_sub(padding).filter(|&i| i < n)
}

/// Naive convolution, straight from the definition, with the gradients of
/// `sum(y * dy)`: returns (y, dx, dw, db).
fn conv2d_ref(x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: Conv2dOptions, dy: &Tensor) -> [Tensor; 4] {
    let (xs, ws) = (x.shape(), w.shape());
    let out = |a: usize| (xs[2 + a] + 2 * o.padding[a] - o.dilation[a] * (ws[2 + a] - 1) - 1) / o.stride[a] + 1;
    let ys = [xs[0], ws[0], out(0), out(1)];
    let (cg, og) = (ws[1], ws[0] / o.groups);
    let (mut y, mut dx, mut dw) = (Tensor::zeros(&ys), Tensor::zeros(xs), Tensor::zeros(ws));
    for n in 0..ys[0] {
        for oc in 0..ys[1] {
            for oy in 0..ys[2] {
                for ox in 0..ys[3] {
                    let yi = at(&ys, n, oc, oy, ox);
                    let mut acc = b.map_or(0.0, |b| b.data()[oc]);
                    for c in 0..cg {
                        let ic = oc / og * cg + c;
                        for ki in 0..ws[2] {
                            let Some(iy) = tap(oy, ki, o.stride[0], o.dilation[0], o.padding[0], xs[2]) else {
                                continue;
                            };
                            for kj in 0..ws[3] {
                                let Some(ix) = tap(ox, kj, o.stride[1], o.dilation[1], o.padding[1], xs[3]) else {
                                    continue;
                                };
                                let (xi, wi) = (at(xs, n, ic, iy, ix), at(ws, oc, c, ki, kj));
                                acc += x.data()[xi] * w.data()[wi];
                                dx.data_mut()[xi] += w.data()[wi] * dy.data()[yi];
                                dw.data_mut()[wi] += x.data()[xi] * dy.data()[yi];
                            }
                        }
                    }
                    y.data_mut()[yi] = acc;
                }
            }
        }
    }
    let db = Tensor::from_vec((0..ys[1]).map(|c| (0..ys[0]).map(|n| plane_sum(dy, n, c)).sum()).collect(), &[ys[1]]);
    [y, dx, dw, db]
}

fn plane_sum(t: &Tensor, n: usize, c: usize) -> f32 {
    let s = t.shape();
    let plane = s[2] * s[3];
    t.data()[(n * s[1] + c) * plane..][..plane].iter().sum()
}

/// Naive transposed convolution by its definition: each input value adds
/// its kernel, scaled, onto the output. Returns the output only.
fn conv_transpose2d_ref(x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: ConvTranspose2dOptions) -> Tensor {
    let (xs, ws) = (x.shape(), w.shape());
    let out = |a: usize| {
        (xs[2 + a] - 1) * o.stride[a] + o.dilation[a] * (ws[2 + a] - 1) + o.output_padding[a] + 1 - 2 * o.padding[a]
    };
    let ys = [xs[0], ws[1] * o.groups, out(0), out(1)];
    let (cg, og) = (xs[1] / o.groups, ws[1]);
    let mut y = Tensor::zeros(&ys);
    for n in 0..xs[0] {
        for c in 0..xs[1] {
            for iy in 0..xs[2] {
                for ix in 0..xs[3] {
                    for j in 0..og {
                        let oc = c / cg * og + j;
                        for ki in 0..ws[2] {
                            let Some(oy) = tap(iy, ki, o.stride[0], o.dilation[0], o.padding[0], ys[2]) else {
                                continue;
                            };
                            for kj in 0..ws[3] {
                                let Some(ox) = tap(ix, kj, o.stride[1], o.dilation[1], o.padding[1], ys[3]) else {
                                    continue;
                                };
                                y.data_mut()[at(&ys, n, oc, oy, ox)] +=
                                    x.data()[at(xs, n, c, iy, ix)] * w.data()[at(ws, c, j, ki, kj)];
                            }
                        }
                    }
                }
            }
        }
    }
    match b {
        Some(b) => y.add(&b.reshape(&[ys[1], 1, 1])),
        None => y,
    }
}

/// Naive pooling: (max with first-wins ties and its arg-max gradient of
/// `sum(y * dy)`, or the average including padding). Returns (y, dx).
fn pool_ref(x: &Tensor, k: [usize; 2], s: [usize; 2], p: [usize; 2], max: bool, dy: &Tensor) -> (Tensor, Tensor) {
    let xs = x.shape();
    let out = |a: usize| (xs[2 + a] + 2 * p[a] - k[a]) / s[a] + 1;
    let ys = [xs[0], xs[1], out(0), out(1)];
    let (mut y, mut dx) = (Tensor::zeros(&ys), Tensor::zeros(xs));
    let planes = (0..ys[0]).flat_map(|n| (0..ys[1]).map(move |c| (n, c)));
    for ((n, c), oy, ox) in planes.flat_map(|nc| (0..ys[2]).flat_map(move |oy| (0..ys[3]).map(move |ox| (nc, oy, ox))))
    {
        let yi = at(&ys, n, c, oy, ox);
        let mut taps = Vec::new();
        for ki in 0..k[0] {
            for kj in 0..k[1] {
                if let (Some(iy), Some(ix)) = (tap(oy, ki, s[0], 1, p[0], xs[2]), tap(ox, kj, s[1], 1, p[1], xs[3])) {
                    taps.push(at(xs, n, c, iy, ix));
                }
            }
        }
        if max {
            let best = taps.iter().copied().fold(taps[0], |b, i| if x.data()[i] > x.data()[b] { i } else { b });
            y.data_mut()[yi] = x.data()[best];
            dx.data_mut()[best] += dy.data()[yi];
        } else {
            let area = (k[0] * k[1]) as f32;
            y.data_mut()[yi] = taps.iter().map(|&i| x.data()[i]).sum::<f32>() / area;
            taps.iter().for_each(|&i| dx.data_mut()[i] += dy.data()[yi] / area);
        }
    }
    (y, dx)
}

fn conv_opts(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups: usize) -> Conv2dOptions {
    Conv2dOptions { stride, padding, dilation, groups }
}

/// (input, weight, options, bias): strides, padding, dilation, groups
/// (including depthwise), 1x1, odd sizes, non-square kernels, batch 1.
fn conv_cases() -> Vec<([usize; 4], [usize; 4], Conv2dOptions, bool)> {
    vec![
        ([2, 4, 5, 6], [6, 2, 3, 2], conv_opts([2, 1], [1, 2], [1, 2], 2), true),
        ([1, 3, 5, 5], [2, 3, 3, 3], conv_opts([1, 1], [1, 1], [1, 1], 1), false),
        ([2, 3, 4, 3], [4, 3, 1, 1], conv_opts([1, 1], [0, 0], [1, 1], 1), true),
        ([1, 4, 6, 5], [4, 1, 2, 3], conv_opts([1, 2], [0, 1], [2, 1], 4), true),
        ([1, 2, 3, 3], [3, 2, 3, 3], conv_opts([2, 2], [2, 2], [1, 1], 1), true),
        ([3, 1, 7, 5], [2, 1, 5, 3], conv_opts([3, 2], [0, 0], [1, 1], 1), false),
        ([2, 2, 4, 4], [2, 2, 1, 1], conv_opts([2, 2], [1, 0], [1, 1], 1), true),
        // Stride 1, 3x3 or 5x5, 8+ channels each side: Winograd's F(4x4, 3x3)
        // and F(4x4, 5x5), with outputs that are not a multiple of the tile.
        ([2, 8, 7, 9], [8, 8, 3, 3], conv_opts([1, 1], [1, 1], [1, 1], 1), true),
        ([1, 9, 6, 5], [10, 9, 5, 5], conv_opts([1, 1], [2, 2], [1, 1], 1), false),
        ([3, 8, 5, 6], [9, 8, 3, 3], conv_opts([1, 1], [0, 0], [1, 1], 1), true),
        ([1, 8, 4, 3], [8, 8, 5, 5], conv_opts([1, 1], [3, 2], [1, 1], 1), true),
        // A first layer (C kh kw <= 32, rows of 8 or more outputs): the
        // direct kernels on AVX-512 CPUs, 16 + 1 output channels.
        ([2, 1, 9, 11], [17, 1, 5, 5], conv_opts([1, 1], [2, 2], [1, 1], 1), true),
        ([1, 3, 8, 10], [4, 3, 3, 3], conv_opts([1, 1], [1, 1], [1, 1], 1), false),
        // 16 and more channels: whole AVX-512 lane slices and a partial one.
        ([2, 17, 6, 7], [16, 17, 5, 5], conv_opts([1, 1], [2, 2], [1, 1], 1), true),
        ([1, 16, 9, 8], [33, 16, 3, 3], conv_opts([1, 1], [1, 0], [1, 1], 1), false),
    ]
}

#[test]
fn conv2d_forward_and_gradients_match_the_definition() {
    for (i, (xs, ws, o, bias)) in conv_cases().into_iter().enumerate() {
        let (x, w) = (randn(&xs, 10 + i as u64), randn(&ws, 20 + i as u64));
        let b = bias.then(|| randn(&[ws[0]], 30 + i as u64));
        let g = Graph::new();
        let (xv, wv) = (g.leaf(x.clone()), g.leaf(w.clone()));
        let bv = b.clone().map(|b| g.leaf(b));
        let y = xv.conv2d(wv, bv, o);
        let dy = randn(&y.shape(), 40 + i as u64);
        let grads = g.backward((y * g.constant(dy.clone())).sum());
        let [y_ref, dx_ref, dw_ref, db_ref] = conv2d_ref(&x, &w, b.as_ref(), o, &dy);
        let case = format!("case {i}: x {xs:?} w {ws:?} {o:?}");
        assert_close(&format!("{case} y"), &y.value(), &y_ref, 1e-5);
        assert_close(&format!("{case} dx"), grads.wrt(xv).unwrap(), &dx_ref, 1e-5);
        assert_close(&format!("{case} dw"), grads.wrt(wv).unwrap(), &dw_ref, 1e-5);
        if let Some(bv) = bv {
            assert_close(&format!("{case} db"), grads.wrt(bv).unwrap(), &db_ref, 1e-5);
        }
    }
}

#[test]
fn conv2d_gradcheck() {
    for (i, (xs, ws, o, bias)) in conv_cases().into_iter().enumerate() {
        let mut inputs = vec![randn(&xs, 50 + i as u64), randn(&ws, 60 + i as u64)];
        if bias {
            inputs.push(randn(&[ws[0]], 70 + i as u64));
        }
        check_linear(&format!("conv2d x {xs:?} w {ws:?} {o:?}"), &inputs, |_, v| {
            v[0].conv2d(v[1], v.get(2).copied(), o)
        });
    }
}

/// (input, weight, options, bias) for transposed convolutions, including an
/// output padding that reaches past the stride (allowed below the dilation).
fn conv_transpose_cases() -> Vec<([usize; 4], [usize; 4], ConvTranspose2dOptions, bool)> {
    let o = |stride, padding, output_padding, dilation, groups| ConvTranspose2dOptions {
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    };
    vec![
        ([2, 4, 3, 4], [4, 3, 3, 2], o([2, 3], [1, 0], [1, 2], [2, 1], 2), true),
        ([1, 2, 4, 4], [2, 3, 4, 4], o([2, 2], [1, 1], [0, 0], [1, 1], 1), false),
        ([1, 2, 3, 3], [2, 2, 2, 2], o([1, 1], [0, 0], [1, 1], [2, 2], 1), true),
        ([2, 3, 2, 3], [3, 2, 1, 3], o([1, 2], [0, 1], [0, 1], [1, 1], 1), true),
        ([1, 3, 3, 2], [3, 1, 3, 3], o([2, 1], [1, 1], [1, 0], [1, 2], 3), false),
        ([2, 8, 4, 5], [8, 9, 3, 3], o([1, 1], [1, 1], [0, 0], [1, 1], 1), true),
    ]
}

#[test]
fn conv_transpose2d_forward_matches_the_definition() {
    for (i, (xs, ws, o, bias)) in conv_transpose_cases().into_iter().enumerate() {
        let (x, w) = (randn(&xs, 80 + i as u64), randn(&ws, 90 + i as u64));
        let b = bias.then(|| randn(&[ws[1] * o.groups], 100 + i as u64));
        let g = Graph::no_grad();
        let y = g.constant(x.clone()).conv_transpose2d(g.constant(w.clone()), b.clone().map(|b| g.constant(b)), o);
        let want = conv_transpose2d_ref(&x, &w, b.as_ref(), o);
        assert_close(&format!("case {i}: x {xs:?} w {ws:?} {o:?}"), &y.value(), &want, 1e-5);
    }
}

#[test]
fn conv_transpose2d_gradcheck() {
    for (i, (xs, ws, o, bias)) in conv_transpose_cases().into_iter().enumerate() {
        let mut inputs = vec![randn(&xs, 110 + i as u64), randn(&ws, 120 + i as u64)];
        if bias {
            inputs.push(randn(&[ws[1] * o.groups], 130 + i as u64));
        }
        let name = format!("conv_transpose2d x {xs:?} w {ws:?} {o:?}");
        check_linear(&name, &inputs, |_, v| v[0].conv_transpose2d(v[1], v.get(2).copied(), o));
    }
}

#[test]
fn conv2d_on_a_batch_that_runs_in_parallel_is_independent_of_the_thread_count() {
    // Large enough to be split across threads; the weight gradient is summed
    // in fixed blocks, so one thread and four give the same bits. Four input
    // channels run through im2col, eight through Winograd.
    for c in [4, 8] {
        thread_count_independent(c);
    }
}

fn thread_count_independent(c: usize) {
    let (x, w) = (randn(&[40, c, 12, 12], 1), randn(&[8, c, 3, 3], 2));
    let o = conv_opts([1, 1], [1, 1], [1, 1], 1);
    let dy = randn(&[40, 8, 12, 12], 3);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let g = Graph::new();
            let (xv, wv) = (g.leaf(x.clone()), g.leaf(w.clone()));
            let y = xv.conv2d(wv, None, o);
            let grads = g.backward((y * g.constant(dy.clone())).sum());
            (y.value(), grads.wrt(xv).unwrap().clone(), grads.wrt(wv).unwrap().clone())
        })
    };
    let (one, four) = (run(1), run(4));
    assert_eq!(one, four);
    let [y_ref, dx_ref, dw_ref, _] = conv2d_ref(&x, &w, None, o, &dy);
    assert_close("y", &one.0, &y_ref, 1e-5);
    assert_close("dx", &one.1, &dx_ref, 1e-5);
    assert_close("dw", &one.2, &dw_ref, 1e-5);
}

/// (input, kernel, stride, padding) for pooling.
type PoolCase = ([usize; 4], [usize; 2], [usize; 2], [usize; 2]);

const POOL_CASES: &[PoolCase] = &[
    ([2, 3, 6, 6], [2, 2], [2, 2], [0, 0]),
    ([1, 2, 7, 5], [3, 2], [2, 1], [1, 1]),
    ([2, 1, 5, 7], [3, 3], [1, 2], [1, 0]),
    ([1, 1, 4, 4], [4, 4], [1, 1], [2, 1]),
    ([3, 2, 5, 5], [1, 1], [2, 2], [0, 0]),
];

#[test]
fn pooling_matches_the_definition() {
    for (i, &(xs, k, s, p)) in POOL_CASES.iter().enumerate() {
        let x = randn(&xs, 140 + i as u64);
        for max in [true, false] {
            let g = Graph::new();
            let xv = g.leaf(x.clone());
            let y = if max { xv.max_pool2d(k, s, p) } else { xv.avg_pool2d(k, s, p) };
            let dy = randn(&y.shape(), 150 + i as u64);
            let dx = g.backward((y * g.constant(dy.clone())).sum()).wrt(xv).unwrap().clone();
            let (y_ref, dx_ref) = pool_ref(&x, k, s, p, max, &dy);
            let case = format!("{} case {i}: x {xs:?} k {k:?} s {s:?} p {p:?}", if max { "max" } else { "avg" });
            assert_close(&format!("{case} y"), &y.value(), &y_ref, 1e-6);
            assert_close(&format!("{case} dx"), &dx, &dx_ref, 1e-6);
        }
    }
}

#[test]
fn pooling_gradcheck() {
    for (i, &(xs, k, s, p)) in POOL_CASES.iter().enumerate() {
        let case = format!("x {xs:?} k {k:?} s {s:?} p {p:?}");
        check(&format!("max_pool2d {case}"), &[distinct(&xs, 160 + i as u64)], |_, v| v[0].max_pool2d(k, s, p));
        check(&format!("avg_pool2d {case}"), &[randn(&xs, 170 + i as u64)], |_, v| v[0].avg_pool2d(k, s, p));
    }
    check("global_avg_pool2d", &[randn(&[2, 3, 3, 5], 180)], |_, v| v[0].global_avg_pool2d());
    check("global_avg_pool2d batch 1", &[randn(&[1, 2, 1, 1], 181)], |_, v| v[0].global_avg_pool2d());
}

#[test]
fn max_pool_gives_a_tie_to_the_first_maximum_in_row_major_order() {
    // Overlapping 2x2 windows with stride 1 over a constant plane: every
    // window's winner is its top-left input, so those inputs collect the
    // gradient of each window that starts on them.
    let g = Graph::new();
    let x = g.leaf(Tensor::full(&[1, 1, 3, 3], 1.0));
    let y = x.max_pool2d([2, 2], [1, 1], [0, 0]);
    let grads = g.backward(y.sum());
    assert_eq!(grads.wrt(x).unwrap().data(), &[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    // A tie between the second row's two values in a window whose first row is smaller.
    let x = Tensor::from_vec(vec![0.0, 0.0, 5.0, 5.0], &[1, 1, 2, 2]);
    let (_, arg) = backprop::tensor::max_pool2d(&x, [2, 2], [2, 2], [0, 0]);
    assert_eq!(arg, vec![2]);
    // Padding is -inf: an all-negative plane still pools to its values, not 0.
    let x = Tensor::full(&[1, 1, 2, 2], -3.0);
    let (y, _) = backprop::tensor::max_pool2d(&x, [2, 2], [1, 1], [1, 1]);
    assert!(y.data().iter().all(|&v| v == -3.0), "{y:?}");
    // A window of -inf pools to -inf and still names an input; a NaN wins its window.
    let x = Tensor::from_vec(vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0, f32::NAN], &[1, 1, 1, 4]);
    let (y, arg) = backprop::tensor::max_pool2d(&x, [1, 2], [1, 2], [0, 0]);
    assert_eq!((y.data()[0], y.data()[1].is_nan()), (f32::NEG_INFINITY, true));
    assert_eq!(arg, vec![0, 3]);
    // The same rule on the 2x2 stride-2 path: the last NaN of the window wins.
    let x = Tensor::from_vec(vec![1.0, f32::NAN, 3.0, f32::NAN], &[1, 1, 2, 2]);
    let (y, arg) = backprop::tensor::max_pool2d(&x, [2, 2], [2, 2], [0, 0]);
    assert!(y.data()[0].is_nan());
    assert_eq!(arg, vec![3]);
}

#[test]
fn leaky_relu_flatten_and_their_gradients() {
    let x = Tensor::from_vec(vec![-2.0, -0.5, 0.5, 3.0], &[2, 2]);
    let g = Graph::new();
    let xv = g.leaf(x.clone());
    let y = xv.leaky_relu(0.1);
    assert_eq!(y.value().data(), &[-0.2, -0.05, 0.5, 3.0]);
    assert_eq!(g.backward(y.sum()).wrt(xv).unwrap().data(), &[0.1, 0.1, 1.0, 1.0]);
    check("leaky_relu", &[distinct(&[3, 4], 190).add_scalar(0.025)], |_, v| v[0].leaky_relu(0.2));
    check("flatten", &[randn(&[2, 3, 2, 2], 191)], |_, v| v[0].flatten() * v[0].flatten());
    let g = Graph::no_grad();
    assert_eq!(g.constant(Tensor::zeros(&[3, 2, 4, 5])).flatten().shape(), vec![3, 40]);
}

#[test]
fn batch_norm_gradcheck_in_both_modes() {
    // Training: the statistics depend on x, so every x gets a gradient through them.
    for (shape, seed) in [(&[3, 2, 3, 2][..], 200), (&[5, 3][..], 201), (&[2, 2, 3][..], 202), (&[1, 2, 2, 2][..], 203)]
    {
        let c = shape[1];
        let inputs = [randn(shape, seed), randn(&[c], seed + 10), randn(&[c], seed + 20)];
        check(&format!("batch_norm_train {shape:?}"), &inputs, |_, v| {
            v[0].batch_norm_train(Some(v[1]), Some(v[2]), 1e-5).0
        });
        check(&format!("batch_norm_train {shape:?} without affine"), &inputs[..1], |_, v| {
            v[0].batch_norm_train(None, None, 1e-5).0
        });
        let (mean, var) = (randn(&[c], seed + 30), randn(&[c], seed + 40).map(|v| v.abs() + 0.5));
        check(&format!("batch_norm_eval {shape:?}"), &inputs, |_, v| {
            v[0].batch_norm_eval(Some(v[1]), Some(v[2]), &mean, &var, 1e-5)
        });
    }
}

#[test]
#[should_panic(
    expected = "conv2d: weight for 4 input channels in 1 groups does not fit 3 input channels: input [1, 3, 5, 5], weight [2, 4, 3, 3]"
)]
fn conv2d_names_both_shapes_when_channels_differ() {
    let g = Graph::no_grad();
    g.constant(Tensor::zeros(&[1, 3, 5, 5])).conv2d(g.constant(Tensor::zeros(&[2, 4, 3, 3])), None, Default::default());
}

#[test]
#[should_panic(
    expected = "conv2d: the kernel does not fit the input along axis 2: input [1, 1, 2, 5], weight [1, 1, 3, 3]"
)]
fn conv2d_names_both_shapes_when_the_kernel_does_not_fit() {
    let g = Graph::no_grad();
    g.constant(Tensor::zeros(&[1, 1, 2, 5])).conv2d(g.constant(Tensor::zeros(&[1, 1, 3, 3])), None, Default::default());
}

#[test]
#[should_panic(expected = "conv2d: the output is too large to exist: input [2, 1, 1, 1], weight [3, 1, 1, 1]")]
fn conv2d_refuses_a_padding_whose_output_cannot_exist() {
    let g = Graph::no_grad();
    let o = Conv2dOptions { padding: [usize::MAX / 8, usize::MAX / 8], ..Default::default() };
    g.constant(Tensor::zeros(&[2, 1, 1, 1])).conv2d(g.constant(Tensor::zeros(&[3, 1, 1, 1])), None, o);
}

#[test]
#[should_panic(expected = "conv_transpose2d: weight for 3 input channels in 1 groups does not fit 2 input channels")]
fn conv_transpose2d_names_both_shapes_when_channels_differ() {
    let g = Graph::no_grad();
    let w = g.constant(Tensor::zeros(&[3, 2, 3, 3]));
    g.constant(Tensor::zeros(&[1, 2, 5, 5])).conv_transpose2d(w, None, Default::default());
}

#[test]
#[should_panic(
    expected = "max_pool2d: the window does not fit (or padding exceeds half the kernel): input [1, 1, 1, 4]"
)]
fn max_pool_names_the_shape_when_the_window_does_not_fit() {
    let g = Graph::no_grad();
    g.constant(Tensor::zeros(&[1, 1, 1, 4])).max_pool2d([2, 2], [2, 2], [0, 0]);
}

#[test]
#[should_panic(expected = "batch_norm: weight has shape [3], expected [2] for input [4, 2]")]
fn batch_norm_names_the_shapes_when_parameters_do_not_fit() {
    let g = Graph::no_grad();
    let w = g.constant(Tensor::ones(&[3]));
    g.constant(Tensor::zeros(&[4, 2])).batch_norm_train(Some(w), None, 1e-5);
}

// ---------------------------------------------------------------- PyTorch fixture

fn fixture() -> Checkpoint {
    Checkpoint::load(Path::new("tests/fixtures/conv_ops.safetensors")).expect("fixture loads")
}

fn pair(v: &serde_json::Value, key: &str) -> [usize; 2] {
    let a = v[key].as_array().unwrap_or_else(|| panic!("{key} missing"));
    [a[0].as_u64().unwrap() as usize, a[1].as_u64().unwrap() as usize]
}

#[test]
fn ops_match_pytorch() {
    let f = fixture();
    let t = |case: &str, name: &str| f.tensors.get(&format!("{case}.{name}")).cloned();
    let mut cases = 0;
    for (case, json) in &f.metadata {
        let Ok(cfg) = serde_json::from_str::<serde_json::Value>(json) else { continue };
        let Some(op) = cfg["op"].as_str() else { continue };
        cases += 1;
        let g = Graph::new();
        let x = g.leaf(t(case, "x").unwrap());
        let w = t(case, "w").map(|w| g.leaf(w));
        let b = t(case, "b").map(|b| g.leaf(b));
        let s = |key| pair(&cfg, key);
        let y = match op {
            "conv2d" => {
                let o = Conv2dOptions {
                    stride: s("stride"),
                    padding: s("padding"),
                    dilation: s("dilation"),
                    groups: cfg["groups"].as_u64().unwrap() as usize,
                };
                x.conv2d(w.unwrap(), b, o)
            }
            "conv_transpose2d" => {
                let o = ConvTranspose2dOptions {
                    stride: s("stride"),
                    padding: s("padding"),
                    output_padding: s("output_padding"),
                    dilation: s("dilation"),
                    groups: cfg["groups"].as_u64().unwrap() as usize,
                };
                x.conv_transpose2d(w.unwrap(), b, o)
            }
            "max_pool2d" => x.max_pool2d(s("kernel_size"), s("stride"), s("padding")),
            "avg_pool2d" => x.avg_pool2d(s("kernel_size"), s("stride"), s("padding")),
            "leaky_relu" => x.leaky_relu(cfg["negative_slope"].as_f64().unwrap() as f32),
            "batch_norm" => continue, // tests/conv_layers.rs, through the layers
            other => panic!("fixture case {case}: unknown op {other}"),
        };
        let grads = g.backward((y * g.constant(t(case, "r").unwrap())).sum());
        assert_close(&format!("{case} y"), &y.value(), &t(case, "y").unwrap(), 1e-4);
        assert_close(&format!("{case} dx"), grads.wrt(x).unwrap(), &t(case, "dx").unwrap(), 1e-4);
        for (v, name) in [(w, "dw"), (b, "db")] {
            if let Some(v) = v {
                assert_close(&format!("{case} {name}"), grads.wrt(v).unwrap(), &t(case, name).unwrap(), 1e-4);
            }
        }
    }
    assert!(cases >= 14, "the fixture holds {cases} cases");
}
