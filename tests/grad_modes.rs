//! Gradients without side effects: `Graph::inputs_only` (saliency, attacks)
//! and `Graph::freeze` (a GAN's generator step) compute and store nothing for
//! the parameters they skip; broadcasting gradients are reduced by the tape.

use backprop::autograd::{Graph, Param};
use backprop::explain::{fgsm, integrated_gradients, pgd, saliency};
use backprop::loss::cross_entropy;
use backprop::nn::{Activation, Mlp, MlpConfig, Module};
use backprop::tensor::Rng;
use backprop::Tensor;

fn model() -> Mlp {
    Mlp::new(MlpConfig::classifier(4, &[8], 3, Activation::Tanh), &mut Rng::new(7))
}

fn batch() -> (Tensor, Vec<usize>) {
    let x = Tensor::from_vec(vec![0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4, 0.8], &[2, 4]);
    (x, vec![2, 0])
}

fn grads_of(model: &Mlp) -> Vec<Option<Tensor>> {
    model.parameters().iter().map(|(_, p)| p.grad()).collect()
}

/// Gives the first parameter a known gradient and leaves the others at None.
fn seed_grads(model: &Mlp) {
    let params = model.parameters();
    let (_, first) = &params[0];
    first.lock().grad = Some(Tensor::full(&first.shape(), 0.25));
}

#[test]
fn explain_and_attacks_leave_parameter_gradients_untouched() {
    let model = model();
    seed_grads(&model);
    let before = grads_of(&model);
    assert!(before[0].is_some() && before[1..].iter().all(Option::is_none));
    let (x, labels) = batch();
    let one = x.narrow(0, 0, 1);
    saliency(&model, &one, 1).unwrap();
    assert_eq!(grads_of(&model), before, "saliency");
    integrated_gradients(&model, &one, 1, 8).unwrap();
    assert_eq!(grads_of(&model), before, "integrated gradients");
    fgsm(&model, &x, &labels, 0.1).unwrap();
    assert_eq!(grads_of(&model), before, "fgsm");
    pgd(&model, &x, &labels, 0.1, 3, 0.05).unwrap();
    assert_eq!(grads_of(&model), before, "pgd");
}

#[test]
fn inputs_only_gives_the_same_input_gradient_and_records_no_parameter_path() {
    let model = model();
    let (x, labels) = batch();
    let input_grad = |g: &Graph| {
        let xv = g.leaf(x.clone());
        let grads = g.backward(cross_entropy(model.forward(g, xv), &labels));
        grads.wrt(xv).unwrap().clone()
    };
    let g_train = Graph::new();
    let g_inputs = Graph::inputs_only();
    let (a, b) = (input_grad(&g_train), input_grad(&g_inputs));
    assert!(a.max_abs_diff(&b) == 0.0, "input gradient differs: {a:?} vs {b:?}");
    assert!(!g_inputs.is_training() && g_inputs.is_recording());
    // Only the training graph touched the parameters.
    model.zero_grad();
    let count = |g: &Graph| {
        let mut n = 0;
        g.visit_nodes(|info| {
            if info.is_param {
                assert_eq!(info.requires_grad, g.is_training(), "param node {}", info.id);
            }
            n += usize::from(info.has_backward);
        });
        n
    };
    // Every op of an MLP is on the input's path, so both keep the same rules
    // (inputs_only's rules skip the parameter gradients: `needs` is false).
    assert_eq!(count(&g_inputs), count(&g_train));
    // A path that reaches only parameters keeps no rule in inputs_only.
    let w = Param::new(Tensor::from_vec(vec![0.5, -1.0], &[2]));
    let mut rules = Vec::new();
    for g in [Graph::new(), Graph::inputs_only()] {
        let x = g.leaf(Tensor::from_vec(vec![1.0, 2.0], &[2]));
        let y = (x * g.param(&w).tanh()).sum();
        let grads = g.backward(y);
        assert!(grads.wrt(x).is_some());
        rules.push(count(&g));
    }
    assert_eq!(rules, vec![3, 2]);
}

#[test]
fn inputs_only_turns_dropout_off() {
    let g = Graph::inputs_only();
    let x = g.leaf(Tensor::ones(&[4, 4]));
    let y = x.dropout(0.5, &mut Rng::new(0));
    assert_eq!(y.id(), x.id());
}

#[test]
fn frozen_parameters_get_no_gradient_and_the_others_are_unchanged() {
    let disc = Mlp::new(MlpConfig::classifier(4, &[6], 2, Activation::Relu), &mut Rng::new(1));
    let gen = Mlp::new(MlpConfig::classifier(3, &[5], 4, Activation::Tanh), &mut Rng::new(2));
    let z = Tensor::from_vec(vec![0.3, -0.2, 0.5, 0.1, 0.9, -0.7], &[2, 3]);
    let run = |g: &Graph| {
        let fake = gen.forward(g, g.constant(z.clone()));
        let loss = cross_entropy(disc.forward(g, fake), &[1, 1]);
        g.backward_keep_all(loss)
    };
    // Unfrozen: both networks get gradients.
    let g_all = Graph::new();
    run(&g_all);
    let gen_reference: Vec<Tensor> = gen.parameters().iter().map(|(_, p)| p.grad().unwrap()).collect();
    assert!(disc.parameters().iter().all(|(_, p)| p.grad().is_some()));
    gen.zero_grad();
    disc.zero_grad();
    // Frozen discriminator (by the list `parameters()` returns).
    let g_frozen = Graph::new().freeze(disc.parameters().iter());
    let grads = run(&g_frozen);
    for ((name, p), reference) in gen.parameters().iter().zip(&gen_reference) {
        assert_eq!(&p.grad().unwrap(), reference, "{name}");
    }
    for (name, p) in disc.parameters() {
        assert!(p.grad().is_none(), "{name} is frozen but got a gradient");
        assert!(g_frozen.is_frozen(&p));
    }
    // No node of a frozen parameter holds a gradient, and fewer nodes keep backward rules.
    let (mut frozen_nodes, mut rules_frozen, mut rules_all) = (0, 0, 0);
    g_frozen.visit_nodes(|n| {
        rules_frozen += usize::from(n.has_backward);
        if n.is_param && !n.requires_grad {
            frozen_nodes += 1;
            assert!(grads.by_id(n.id).is_none(), "frozen node {} has a gradient", n.id);
        }
    });
    g_all.visit_nodes(|n| rules_all += usize::from(n.has_backward));
    assert_eq!(frozen_nodes, disc.parameters().len());
    assert!(rules_frozen <= rules_all);
}

#[test]
fn freeze_takes_params_and_skips_paths_that_reach_only_frozen_params() {
    let (a, b) = (Param::new(Tensor::scalar(2.0)), Param::new(Tensor::scalar(3.0)));
    let g = Graph::new().freeze([a.clone()]);
    let (va, vb) = (g.param(&a), g.param(&b));
    let only_a = va.exp(); // reaches only a frozen parameter: no backward rule
    let loss = only_a * vb;
    let mut with_rule = Vec::new();
    g.visit_nodes(|n| with_rule.push(n.has_backward));
    assert_eq!(with_rule, vec![false, false, false, true]);
    g.backward(loss);
    assert!(a.grad().is_none());
    assert_eq!(b.grad().unwrap().item(), 2f32.exp());
}

#[test]
fn the_tape_sums_broadcast_gradients_to_each_input_shape() {
    let g = Graph::new();
    let m = g.leaf(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let row = g.leaf(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    let col = g.leaf(Tensor::from_vec(vec![2.0, 4.0], &[2, 1]));
    let y = ((m + row) * col - row / col).sum();
    let grads = g.backward(y);
    assert_eq!(grads.wrt(row).unwrap().shape(), &[3]);
    assert_eq!(grads.wrt(col).unwrap().shape(), &[2, 1]);
    // d/drow = sum over rows of (col - 1/col) = (2 - 0.5) + (4 - 0.25)
    assert_eq!(grads.wrt(row).unwrap().data(), &[5.25, 5.25, 5.25]);
}
