//! Attributions: saliency maps and integrated gradients.

use crate::autograd::Graph;
use crate::nn::Module;
use crate::{Error, Result, Tensor};

/// The input as one row `[1, D]` (accepts `[D]` or `[1, D]`).
pub(super) fn one_row(input: &Tensor) -> Result<Tensor> {
    match input.shape() {
        [d] => Ok(input.reshape(&[1, *d])),
        [1, _] => Ok(input.clone()),
        s => {
            Err(Error::Shape { op: "explain".into(), message: format!("expected one input [1, D] or [D], got {s:?}") })
        }
    }
}

/// Checks that the model's outputs are `[rows, C]` with `class < C`.
pub(super) fn check_class(out_shape: &[usize], rows: usize, class: usize) -> Result<()> {
    match out_shape {
        [r, c] if *r == rows && class < *c => Ok(()),
        [r, c] if *r == rows => {
            Err(Error::invalid("class", format!("class {class} is out of range for a model with {c} outputs")))
        }
        s => Err(Error::Shape {
            op: "explain".into(),
            message: format!("the model gave outputs of shape {s:?} for {rows} inputs; expected [{rows}, classes]"),
        }),
    }
}

/// The model's outputs (logits) for a batch `[N, D]`, without recording.
pub fn class_scores<M: Module + ?Sized>(model: &M, inputs: &Tensor) -> Tensor {
    let g = Graph::no_grad();
    model.forward(&g, g.constant(inputs.clone())).value()
}

/// Gradient of the score of `class` with respect to every row of `inputs`
/// `[N, D]` (rows are independent, so one backward pass gives all of them).
fn score_gradients<M: Module + ?Sized>(model: &M, inputs: Tensor, class: usize) -> Result<Tensor> {
    let rows = inputs.dim(0);
    let g = Graph::inputs_only();
    let x = g.leaf(inputs);
    let out = model.forward(&g, x);
    check_class(&out.shape(), rows, class)?;
    let score = out.narrow(1, class, 1).sum();
    let grads = g.backward(score);
    Ok(grads.wrt(x).cloned().unwrap_or_else(|| x.value().zeros_like()))
}

/// Saliency map: d score(class) / d input, for one input `[1, D]` (or `[D]`);
/// returns `[D]`. The score is the model's output for `class` (the logit of a
/// classifier).
///
/// # Errors
/// When the input is not a single row or `class` is not below the number of
/// outputs.
///
/// # Panics
/// When `D` differs from the number of inputs the model takes.
pub fn saliency<M: Module + ?Sized>(model: &M, input: &Tensor, class: usize) -> Result<Tensor> {
    let x = one_row(input)?;
    let d = x.dim(1);
    Ok(score_gradients(model, x, class)?.reshape(&[d]))
}

/// Integrated gradients from a black (all-zero) baseline; see
/// [`integrated_gradients_from`].
///
/// # Errors
/// As [`integrated_gradients_from`].
pub fn integrated_gradients<M: Module + ?Sized>(
    model: &M,
    input: &Tensor,
    class: usize,
    steps: usize,
) -> Result<Tensor> {
    let x = one_row(input)?;
    let baseline = x.zeros_like();
    integrated_gradients_from(model, &x, &baseline, class, steps)
}

/// Integrated gradients (Sundararajan et al., 2017) of the score of `class`:
/// `(x - baseline) * mean_k grad score(baseline + a_k (x - baseline))` with
/// `a_k = (k + 0.5) / steps` (the midpoint rule), all `steps` points in one
/// batched forward and backward pass. Returns `[D]`; its sum approximates
/// `score(x) - score(baseline)` (completeness), better with more steps.
///
/// # Errors
/// When the input is not a single row, the baseline's size differs,
/// `steps` is 0 or `class` is not below the number of outputs.
///
/// # Panics
/// When `D` differs from the number of inputs the model takes.
pub fn integrated_gradients_from<M: Module + ?Sized>(
    model: &M,
    input: &Tensor,
    baseline: &Tensor,
    class: usize,
    steps: usize,
) -> Result<Tensor> {
    if steps == 0 {
        return Err(Error::invalid("steps", "must be at least 1, got 0"));
    }
    let x = one_row(input)?;
    let b = one_row(baseline)?;
    let d = x.dim(1);
    if b.dim(1) != d {
        return Err(Error::Shape {
            op: "integrated_gradients".into(),
            message: format!("baseline has {} values but the input has {d}", b.dim(1)),
        });
    }
    let diff: Vec<f32> = x.data().iter().zip(b.data()).map(|(x, b)| x - b).collect();
    let mut path = Vec::with_capacity(steps * d);
    for k in 0..steps {
        let alpha = (k as f32 + 0.5) / steps as f32;
        path.extend(b.data().iter().zip(&diff).map(|(b, dx)| b + alpha * dx));
    }
    let grads = score_gradients(model, Tensor::from_vec(path, &[steps, d]), class)?;
    let mean = grads.mean_axis(0, false);
    let attributions: Vec<f32> = mean.data().iter().zip(&diff).map(|(g, dx)| g * dx).collect();
    Ok(Tensor::from_vec(attributions, &[d]))
}
