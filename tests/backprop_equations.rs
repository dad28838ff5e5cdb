//! The four equations of backpropagation, checked by hand.
//!
//! A 2-layer sigmoid network with the quadratic cost is computed here with
//! plain loops in f64: forward (z = W a + b, a = sigma(z)), the output error
//! delta_L = (a_L - y) * sigma'(z_L), the hidden error
//! delta_l = (W_{l+1}^T delta_{l+1}) * sigma'(z_l), and the gradients
//! dC/db = delta, dC/dW = delta a_{l-1}^T (averaged over the batch). They must
//! match what `Graph::backward` leaves in the parameters of an `nn::Mlp`.

use backprop::nn::{Activation, Init, Mlp, MlpConfig, Module};
use backprop::tensor::Rng;
use backprop::{loss, Graph, Param, Tensor};

fn sigma(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn sigma_prime(z: f64) -> f64 {
    sigma(z) * (1.0 - sigma(z))
}

/// A row-major matrix in f64.
#[derive(Clone, Debug)]
struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    fn zeros(rows: usize, cols: usize) -> Mat {
        Mat { rows, cols, data: vec![0.0; rows * cols] }
    }
    fn from_tensor(t: &Tensor) -> Mat {
        let (rows, cols) = match t.shape() {
            [r, c] => (*r, *c),
            [n] => (*n, 1),
            s => panic!("unexpected shape {s:?}"),
        };
        Mat { rows, cols, data: t.data().iter().map(|&v| v as f64).collect() }
    }
    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }
    fn at_mut(&mut self, r: usize, c: usize) -> &mut f64 {
        &mut self.data[r * self.cols + c]
    }
}

/// The hand-computed cost and gradients.
struct Expected {
    cost: f64,
    w1: Mat,
    b1: Vec<f64>,
    w2: Mat,
    b2: Vec<f64>,
}

/// Forward and backward by the textbook equations, one example (column
/// vector) at a time, then averaged over the batch.
// Index loops on purpose: they read like the equations (sum over j of w_jk ...).
#[allow(clippy::needless_range_loop)]
fn by_hand(w1: &Mat, b1: &[f64], w2: &Mat, b2: &[f64], xs: &Mat, ys: &Mat) -> Expected {
    let (n_in, n_hidden, n_out) = (w1.cols, w1.rows, w2.rows);
    let batch = xs.rows;
    let mut e = Expected {
        cost: 0.0,
        w1: Mat::zeros(n_hidden, n_in),
        b1: vec![0.0; n_hidden],
        w2: Mat::zeros(n_out, n_hidden),
        b2: vec![0.0; n_out],
    };
    for s in 0..batch {
        let x: Vec<f64> = (0..n_in).map(|i| xs.at(s, i)).collect();
        let y: Vec<f64> = (0..n_out).map(|i| ys.at(s, i)).collect();
        // Forward: z1 = W1 x + b1, a1 = sigma(z1), z2 = W2 a1 + b2, a2 = sigma(z2).
        let z1: Vec<f64> = (0..n_hidden).map(|j| b1[j] + (0..n_in).map(|i| w1.at(j, i) * x[i]).sum::<f64>()).collect();
        let a1: Vec<f64> = z1.iter().map(|&z| sigma(z)).collect();
        let z2: Vec<f64> =
            (0..n_out).map(|j| b2[j] + (0..n_hidden).map(|i| w2.at(j, i) * a1[i]).sum::<f64>()).collect();
        let a2: Vec<f64> = z2.iter().map(|&z| sigma(z)).collect();
        // C_x = 0.5 ||a2 - y||^2
        e.cost += 0.5 * (0..n_out).map(|j| (a2[j] - y[j]).powi(2)).sum::<f64>();
        // (BP1) delta_L = (a2 - y) * sigma'(z2)
        let delta2: Vec<f64> = (0..n_out).map(|j| (a2[j] - y[j]) * sigma_prime(z2[j])).collect();
        // (BP2) delta_1 = (W2^T delta_L) * sigma'(z1)
        let delta1: Vec<f64> = (0..n_hidden)
            .map(|i| (0..n_out).map(|j| w2.at(j, i) * delta2[j]).sum::<f64>() * sigma_prime(z1[i]))
            .collect();
        // (BP3) dC/db = delta; (BP4) dC/dW = delta a_prev^T
        for j in 0..n_out {
            e.b2[j] += delta2[j];
            for i in 0..n_hidden {
                *e.w2.at_mut(j, i) += delta2[j] * a1[i];
            }
        }
        for j in 0..n_hidden {
            e.b1[j] += delta1[j];
            for i in 0..n_in {
                *e.w1.at_mut(j, i) += delta1[j] * x[i];
            }
        }
    }
    // The quadratic cost averages over the batch: C = 1/n sum_x C_x.
    let n = batch as f64;
    e.cost /= n;
    e.w1.data.iter_mut().chain(&mut e.w2.data).chain(&mut e.b1).chain(&mut e.b2).for_each(|v| *v /= n);
    e
}

/// Asserts `actual` (f32, from autodiff) matches `expected` (f64, by hand).
fn assert_close(what: &str, actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let err = (a as f64 - e).abs();
        assert!(err <= 1e-5 * e.abs() + 1e-7, "{what}[{i}]: autodiff {a} vs by hand {e} (error {err:e})");
    }
}

fn param<'a>(params: &'a [(String, Param)], name: &str) -> &'a Param {
    &params.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no parameter named {name}")).1
}

/// Builds the network, runs forward + backward through the library, and
/// compares with the hand computation.
fn check_network(batch: usize, seed: u64) {
    let (n_in, n_hidden, n_out) = (4, 5, 3);
    let config = MlpConfig {
        inputs: n_in,
        hidden: vec![n_hidden],
        outputs: n_out,
        activation: Activation::Sigmoid,
        output_activation: Activation::Sigmoid,
        init: Init::Normal(1.0),
    };
    let mut rng = Rng::new(seed);
    let mlp = Mlp::new(config, &mut rng);
    let params = mlp.parameters();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
    let (w1, b1, w2, b2) = (
        param(&params, "layers.0.weight"),
        param(&params, "layers.0.bias"),
        param(&params, "layers.2.weight"),
        param(&params, "layers.2.bias"),
    );
    assert_eq!(w1.shape(), [n_hidden, n_in]);
    assert_eq!(b1.shape(), [n_hidden]);
    assert_eq!(w2.shape(), [n_out, n_hidden]);
    assert_eq!(b2.shape(), [n_out]);
    // Non-zero biases, so dC/db is tested against something other than zero init.
    b1.set_value(Tensor::randn(&[n_hidden], 0.0, 0.5, &mut rng));
    b2.set_value(Tensor::randn(&[n_out], 0.0, 0.5, &mut rng));

    let x = Tensor::randn(&[batch, n_in], 0.0, 1.0, &mut rng);
    let y = Tensor::rand_uniform(&[batch, n_out], 0.0, 1.0, &mut rng);

    let expected = by_hand(
        &Mat::from_tensor(&w1.value()),
        &Mat::from_tensor(&b1.value()).data,
        &Mat::from_tensor(&w2.value()),
        &Mat::from_tensor(&b2.value()).data,
        &Mat::from_tensor(&x),
        &Mat::from_tensor(&y),
    );

    mlp.zero_grad();
    let g = Graph::new();
    let out = mlp.forward(&g, g.constant(x));
    assert_eq!(out.shape(), [batch, n_out]);
    let cost = loss::quadratic(out, g.constant(y));
    g.backward(cost);

    let c = cost.item() as f64;
    assert!((c - expected.cost).abs() <= 1e-5 * expected.cost.abs() + 1e-7, "cost {c} vs by hand {}", expected.cost);
    let grad = |p: &Param, name: &str| {
        let gr = p.grad().unwrap_or_else(|| panic!("{name} has no gradient after backward"));
        assert_eq!(gr.shape(), p.shape().as_slice(), "{name}: gradient shape");
        gr
    };
    let tag = |name: &str| format!("batch {batch}: dC/d{name}");
    assert_close(&tag("W2"), grad(w2, "W2").data(), &expected.w2.data);
    assert_close(&tag("b2"), grad(b2, "b2").data(), &expected.b2);
    assert_close(&tag("W1"), grad(w1, "W1").data(), &expected.w1.data);
    assert_close(&tag("b1"), grad(b1, "b1").data(), &expected.b1);
}

#[test]
fn two_layer_sigmoid_network_batch_of_one() {
    check_network(1, 7);
}

#[test]
fn two_layer_sigmoid_network_batch_of_several() {
    check_network(6, 11);
}

#[test]
fn two_layer_sigmoid_network_other_seeds() {
    for seed in [1, 2, 3] {
        check_network(3, seed);
    }
}

#[test]
fn gradients_accumulate_until_zero_grad() {
    // Two backward passes without zero_grad add up; zero_grad clears.
    let config = MlpConfig {
        inputs: 2,
        hidden: vec![3],
        outputs: 1,
        activation: Activation::Sigmoid,
        output_activation: Activation::Sigmoid,
        init: Init::Xavier,
    };
    let mlp = Mlp::new(config, &mut Rng::new(3));
    let x = Tensor::from_vec(vec![0.5, -1.0], &[1, 2]);
    let y = Tensor::from_vec(vec![1.0], &[1, 1]);
    let run = || {
        let g = Graph::new();
        let out = mlp.forward(&g, g.constant(x.clone()));
        g.backward(loss::quadratic(out, g.constant(y.clone())));
    };
    run();
    let once: Vec<Tensor> = mlp.parameters().iter().map(|(_, p)| p.grad().unwrap()).collect();
    run();
    for ((name, p), g1) in mlp.parameters().iter().zip(&once) {
        let twice = p.grad().unwrap();
        assert!(twice.max_abs_diff(&g1.mul_scalar(2.0)) < 1e-7, "{name}: {twice:?} vs 2 x {g1:?}");
    }
    mlp.zero_grad();
    assert!(mlp.parameters().iter().all(|(_, p)| p.grad().is_none()));
}

#[test]
fn j_equals_three_times_a_plus_b_c() {
    // J = 3 (a + b c) at a = 5, b = 3, c = 2: J = 33, dJ/da = 3, dJ/db = 3c = 6, dJ/dc = 3b = 9.
    let g = Graph::new();
    let a = g.leaf(Tensor::scalar(5.0));
    let b = g.leaf(Tensor::scalar(3.0));
    let c = g.leaf(Tensor::scalar(2.0));
    let u = b * c;
    let v = a + u;
    let j = v * 3.0;
    let grads = g.backward(j);
    assert_eq!(j.item(), 33.0);
    assert_eq!(u.item(), 6.0);
    assert_eq!(v.item(), 11.0);
    assert_eq!(grads.wrt(a).unwrap().item(), 3.0);
    assert_eq!(grads.wrt(b).unwrap().item(), 6.0);
    assert_eq!(grads.wrt(c).unwrap().item(), 9.0);

    // The same through parameters: the gradient lands in Param::grad().
    let (pa, pb, pc) =
        (Param::new(Tensor::scalar(5.0)), Param::new(Tensor::scalar(3.0)), Param::new(Tensor::scalar(2.0)));
    let g = Graph::new();
    let j = (g.param(&pa) + g.param(&pb) * g.param(&pc)) * 3.0;
    g.backward(j);
    assert_eq!(j.item(), 33.0);
    assert_eq!(pa.grad().unwrap().item(), 3.0);
    assert_eq!(pb.grad().unwrap().item(), 6.0);
    assert_eq!(pc.grad().unwrap().item(), 9.0);

    // Intermediate gradients: dJ/dv = 3, dJ/du = 3.
    let g = Graph::new();
    let a = g.leaf(Tensor::scalar(5.0));
    let b = g.leaf(Tensor::scalar(3.0));
    let c = g.leaf(Tensor::scalar(2.0));
    let u = b * c;
    let v = a + u;
    let j = v * 3.0;
    let grads = g.backward_keep_all(j);
    assert_eq!(grads.wrt(v).unwrap().item(), 3.0);
    assert_eq!(grads.wrt(u).unwrap().item(), 3.0);
    assert_eq!(grads.wrt(j).unwrap().item(), 1.0);
}
