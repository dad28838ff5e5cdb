//! Adversarial examples: FGSM and PGD in the L-inf ball, for inputs in [0, 1].

use super::sign;
use crate::autograd::Graph;
use crate::loss::cross_entropy;
use crate::nn::Module;
use crate::{Error, Result, Tensor};

/// Checks the batch, labels and radius shared by both attacks.
fn check(x: &Tensor, labels: &[usize], eps: f32) -> Result<()> {
    if x.ndim() != 2 {
        return Err(Error::Shape {
            op: "attack".into(),
            message: format!("inputs must be [N, D], got {:?}", x.shape()),
        });
    }
    if labels.len() != x.dim(0) {
        return Err(Error::Shape {
            op: "attack".into(),
            message: format!("{} labels for a batch of {}", labels.len(), x.dim(0)),
        });
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::invalid("eps", format!("must be a finite number >= 0, got {eps}")));
    }
    Ok(())
}

/// Gradient of the mean cross-entropy of the model's outputs with respect to the inputs.
fn loss_gradient<M: Module + ?Sized>(model: &M, x: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let g = Graph::inputs_only();
    let xv = g.leaf(x.clone());
    let out = model.forward(&g, xv);
    let shape = out.shape();
    let classes = match shape.as_slice() {
        [n, c] if *n == labels.len() => *c,
        s => {
            return Err(Error::Shape {
                op: "attack".into(),
                message: format!("the model gave outputs of shape {s:?} for {} inputs", labels.len()),
            })
        }
    };
    if let Some(&y) = labels.iter().find(|&&y| y >= classes) {
        return Err(Error::invalid("labels", format!("label {y} is out of range for {classes} outputs")));
    }
    let grads = g.backward(cross_entropy(out, labels));
    Ok(grads.wrt(xv).cloned().unwrap_or_else(|| x.zeros_like()))
}

/// The fast gradient sign method (Goodfellow et al., 2015): one step of size
/// `eps` along the sign of the gradient of the cross-entropy loss,
/// `clamp(x + eps * sign(dL/dx), 0, 1)`, for a batch `x` `[N, D]` with its labels.
///
/// # Errors
/// When `x` is not 2-D, the label count differs from N, a label is not below
/// the number of outputs, or `eps` is negative or not finite.
///
/// # Panics
/// When `D` differs from the number of inputs the model takes.
pub fn fgsm<M: Module + ?Sized>(model: &M, x: &Tensor, labels: &[usize], eps: f32) -> Result<Tensor> {
    check(x, labels, eps)?;
    let grad = loss_gradient(model, x, labels)?;
    let data = x.data().iter().zip(grad.data()).map(|(&v, &g)| (v + eps * sign(g)).clamp(0.0, 1.0)).collect();
    Ok(Tensor::from_vec(data, x.shape()))
}

/// Projected gradient descent (Madry et al., 2018), started at `x`: `steps`
/// signed-gradient steps of `step_size`, each followed by projection onto the
/// L-inf ball of radius `eps` around `x` and onto [0, 1]. One step with
/// `step_size = eps` is [`fgsm`].
///
/// # Errors
/// As [`fgsm`], and when `steps` is 0 or `step_size` is not a positive finite number.
///
/// # Panics
/// When `D` differs from the number of inputs the model takes.
pub fn pgd<M: Module + ?Sized>(
    model: &M,
    x: &Tensor,
    labels: &[usize],
    eps: f32,
    steps: usize,
    step_size: f32,
) -> Result<Tensor> {
    check(x, labels, eps)?;
    if steps == 0 {
        return Err(Error::invalid("steps", "must be at least 1, got 0"));
    }
    if !(step_size.is_finite() && step_size > 0.0) {
        return Err(Error::invalid("step_size", format!("must be a positive number, got {step_size}")));
    }
    let mut adv = x.clone();
    for _ in 0..steps {
        let grad = loss_gradient(model, &adv, labels)?;
        let data = adv
            .data()
            .iter()
            .zip(grad.data())
            .zip(x.data())
            .map(|((&a, &g), &x0)| (a + step_size * sign(g)).clamp(x0 - eps, x0 + eps).clamp(0.0, 1.0))
            .collect();
        adv = Tensor::from_vec(data, x.shape());
    }
    Ok(adv)
}
