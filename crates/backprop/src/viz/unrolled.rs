//! An MLP unrolled into scalar ops — one node per weight, product and sum —
//! for one example: the network of a course's hand-worked backpropagation
//! (`z = w1 x1 + w2 x2 + b`, `h = sigmoid(z)`, ...), to step through with
//! [`walkthrough`](super::walkthrough). The values are those of
//! [`Mlp::forward`](crate::nn::Module::forward) on the same example, up to
//! rounding: the same ops, one scalar at a time.

use crate::autograd::{Graph, Var};
use crate::loss::Loss;
use crate::nn::{Activation, Mlp, Module};
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;

/// The most weights and biases an unrolled network may have (each one is a node to draw).
pub const MAX_UNROLLED_PARAMETERS: usize = 128;

/// What the loss compares the network's outputs with.
#[derive(Clone, Debug, PartialEq)]
pub enum UnrolledTarget {
    /// One value per output (regression, or one-hot targets).
    Values(Vec<f32>),
    /// A class index (cross-entropy, or 0/1 for one logit with BCE).
    Class(usize),
}

/// An unrolled network recorded on a graph.
pub struct Unrolled<'g> {
    /// The loss (`L`).
    pub loss: Var<'g>,
    /// Names of the nodes: `x1` inputs, `W1[0,1]` weights, `b1[0]` biases,
    /// `z1[0]` pre-activations, `h1[0]` activations, `ŷ` outputs, `y` targets, `L`.
    pub names: BTreeMap<usize, String>,
    /// The node of each weight and bias, by name, in the order of the model's parameters.
    pub weights: Vec<(String, usize)>,
}

/// Records `mlp` on `g` for the example `x` (named `input_names`) against
/// `target` with `loss`, one scalar node per weight; `values` replaces
/// weights by name (`W1[0,1]`), as after gradient descent steps.
///
/// ```
/// use backprop::loss::Loss;
/// use backprop::nn::{Activation, Mlp, MlpConfig, Module};
/// use backprop::viz::{unroll_mlp, UnrolledTarget};
/// use backprop::{tensor::Rng, Graph, Tensor};
/// let mlp = Mlp::new(MlpConfig::classifier(2, &[3], 1, Activation::Sigmoid), &mut Rng::new(0));
/// let g = Graph::new();
/// let names = ["x1".to_string(), "x2".to_string()];
/// let net = unroll_mlp(&g, &mlp, &[0.5, -1.0], &names, &UnrolledTarget::Values(vec![0.3]), Loss::Mse, &Default::default())?;
/// assert_eq!(net.weights.len(), 13); // 2x3 + 3 + 3x1 + 1
/// // The same loss as the tensor forward pass.
/// let t = Graph::no_grad();
/// let out = mlp.forward(&t, t.constant(Tensor::from_vec(vec![0.5, -1.0], &[1, 2])));
/// let want = Loss::Mse.compute(out, &backprop::data::Targets::Values(Tensor::from_vec(vec![0.3], &[1, 1])));
/// assert!((net.loss.item() - want.item()).abs() < 1e-6);
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
/// A network of more than [`MAX_UNROLLED_PARAMETERS`] weights, a softmax
/// hidden layer, inputs or targets that do not fit the network.
pub fn unroll_mlp<'g>(
    g: &'g Graph,
    mlp: &Mlp,
    x: &[f32],
    input_names: &[String],
    target: &UnrolledTarget,
    loss: Loss,
    values: &BTreeMap<String, f32>,
) -> Result<Unrolled<'g>> {
    check_unrollable(mlp)?;
    let config = mlp.config();
    if x.len() != config.inputs || input_names.len() != config.inputs {
        return Err(Error::invalid("example", format!("the model takes {} inputs, got {}", config.inputs, x.len())));
    }
    let mut names = BTreeMap::new();
    let mut weights = Vec::new();
    let mut layer: Vec<Var<'g>> = x
        .iter()
        .zip(input_names)
        .map(|(&v, name)| {
            let node = g.constant(Tensor::scalar(v));
            names.insert(node.id(), name.clone());
            node
        })
        .collect();
    let params = mlp.parameters();
    let linears: Vec<&[(String, crate::Param)]> = params.chunks(2).collect();
    for (l, pair) in linears.iter().enumerate() {
        let [(_, w), (_, b)] = pair else {
            return Err(Error::invalid("model", "the step-by-step view needs layers with a bias"));
        };
        let (w, b) = (w.value(), b.value());
        let (outs, ins) = (w.dim(0), w.dim(1));
        let last = l + 1 == linears.len();
        let mut leaf = |name: String, v: f32| {
            let node = g.leaf(Tensor::scalar(values.get(&name).copied().unwrap_or(v)));
            weights.push((name, node.id()));
            node
        };
        let mut next = Vec::with_capacity(outs);
        for j in 0..outs {
            let mut sum: Option<Var<'g>> = None;
            for (i, &input) in layer.iter().enumerate().take(ins) {
                let term = leaf(format!("W{}[{j},{i}]", l + 1), w.data()[j * ins + i]) * input;
                sum = Some(match sum {
                    Some(s) => s + term,
                    None => term,
                });
            }
            let bias = leaf(format!("b{}[{j}]", l + 1), b.data()[j]);
            let z = sum.map_or(bias, |s| s + bias);
            let activation = if last { config.output_activation } else { config.activation };
            let (z_name, out_name) = match last {
                true => (format!("z{}[{j}]", l + 1), if outs == 1 { "ŷ".to_string() } else { format!("ŷ[{j}]") }),
                false => (format!("z{}[{j}]", l + 1), format!("h{}[{j}]", l + 1)),
            };
            let h = apply(activation, z)?;
            if h.id() == z.id() {
                names.insert(z.id(), out_name);
            } else {
                names.insert(z.id(), z_name);
                names.insert(h.id(), out_name);
            }
            next.push(h);
        }
        layer = next;
    }
    names.extend(weights.iter().map(|(name, id)| (*id, name.clone())));
    let loss = scalar_loss(g, &layer, target, loss, &mut names)?;
    names.insert(loss.id(), "L".to_string());
    Ok(Unrolled { loss, names, weights })
}

/// Whether `mlp` is small enough to unroll (at most [`MAX_UNROLLED_PARAMETERS`]
/// weights and biases) and has element-wise activations only.
///
/// # Errors
/// Saying which limit the model passes.
pub fn check_unrollable(mlp: &Mlp) -> Result<()> {
    let count = mlp.num_parameters();
    if count > MAX_UNROLLED_PARAMETERS {
        return Err(Error::invalid(
            "model",
            format!(
                "an MLP {} has {count} weights and biases; the step-by-step view draws at most \
                 {MAX_UNROLLED_PARAMETERS} (train a tiny one, e.g. --hidden 3)",
                sizes(mlp)
            ),
        ));
    }
    let c = mlp.config();
    if c.activation == Activation::Softmax || c.output_activation == Activation::Softmax {
        return Err(softmax_refused());
    }
    Ok(())
}

/// `784-3-1`
fn sizes(mlp: &Mlp) -> String {
    mlp.config().sizes().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-")
}

fn apply(activation: Activation, z: Var<'_>) -> Result<Var<'_>> {
    match activation {
        Activation::Softmax => Err(softmax_refused()),
        a => Ok(a.apply(z)),
    }
}

fn softmax_refused() -> Error {
    Error::invalid(
        "model",
        "a softmax layer mixes its units; the step-by-step view unrolls element-wise activations only",
    )
}

/// The loss of one example from scalar outputs, as [`Loss::compute`] defines it.
fn scalar_loss<'g>(
    g: &'g Graph,
    outputs: &[Var<'g>],
    target: &UnrolledTarget,
    loss: Loss,
    names: &mut BTreeMap<usize, String>,
) -> Result<Var<'g>> {
    let n = outputs.len();
    let constant = |v: f32| g.constant(Tensor::scalar(v));
    let sum = |terms: Vec<Var<'g>>| terms.into_iter().reduce(|a, b| a + b).expect("at least one output");
    let values: Vec<f32> = match (loss, target) {
        (Loss::CrossEntropy, UnrolledTarget::Class(c)) => {
            if *c >= n {
                return Err(Error::invalid("target", format!("class {c} of a model with {n} outputs")));
            }
            // -log softmax(z)_c = log(sum_k e^{z_k}) - z_c
            let lse = sum(outputs.iter().map(|z| z.exp()).collect()).log();
            return Ok(lse - outputs[*c]);
        }
        (Loss::CrossEntropy, UnrolledTarget::Values(_)) => {
            return Err(Error::invalid("target", "cross-entropy needs a class, not values"));
        }
        (_, UnrolledTarget::Class(c)) if loss == Loss::Bce && n == 1 => vec![*c as f32],
        (_, UnrolledTarget::Class(c)) => (0..n).map(|k| f32::from(u8::from(k == *c))).collect(),
        (_, UnrolledTarget::Values(v)) if v.len() == n => v.clone(),
        (_, UnrolledTarget::Values(v)) => {
            return Err(Error::invalid("target", format!("{} target values for a model with {n} outputs", v.len())));
        }
    };
    let targets: Vec<Var<'g>> = values
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let t = constant(v);
            names.insert(t.id(), if n == 1 { "y".to_string() } else { format!("y[{k}]") });
            t
        })
        .collect();
    let per_output: Vec<Var<'g>> = outputs
        .iter()
        .zip(&targets)
        .map(|(&p, &t)| match loss {
            Loss::L1 => (p - t).abs(),
            // BCE with logits: log(1 + e^z) - y z
            Loss::Bce => (constant(1.0) + p.exp()).log() - t * p,
            _ => (p - t).square(),
        })
        .collect();
    let total = sum(per_output);
    Ok(match loss {
        Loss::Quadratic => constant(0.5) * total,
        _ if n > 1 => total * constant(1.0 / n as f32),
        _ => total,
    })
}
