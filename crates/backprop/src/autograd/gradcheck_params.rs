//! Checking the gradients autodiff gives a model's parameters against
//! central finite differences, on a sample of entries per tensor.

use super::graph::{Graph, Var};
use super::param::Param;
use crate::tensor::Rng;
use crate::{Error, Result, Tensor};

/// Settings of [`gradcheck_params`].
#[derive(Clone, Debug)]
pub struct ParamCheckOptions {
    /// Finite-difference step.
    pub eps: f32,
    /// Entries checked per tensor at most: half of them the entries with the
    /// largest gradients, the rest chosen at random (all when the tensor is smaller).
    pub samples: usize,
    /// Allowed absolute error.
    pub atol: f64,
    /// Allowed error relative to the larger of the two gradients.
    pub rtol: f64,
    /// Seed of the random choice of entries.
    pub seed: u64,
}

impl Default for ParamCheckOptions {
    /// A step of 1e-3, 20 entries per tensor, errors within 1e-4 + 1e-2 |gradient|
    /// (what `f32` forward passes allow).
    fn default() -> Self {
        ParamCheckOptions { eps: 1e-3, samples: 20, atol: 1e-4, rtol: 1e-2, seed: 0 }
    }
}

/// The check of one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamCheck {
    /// The parameter's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How many entries were compared.
    pub checked: usize,
    /// Largest |autodiff - numerical| / max(|autodiff|, |numerical|, atol).
    pub max_rel_error: f64,
    /// Largest |autodiff - numerical|.
    pub max_abs_error: f64,
    /// Whether every entry was within `atol + rtol * max(|autodiff|, |numerical|)`.
    pub passed: bool,
    /// The entry with the largest absolute error: (flat index, autodiff, numerical).
    pub worst: Option<(usize, f64, f64)>,
}

/// Compares the gradient of the scalar `loss` with respect to each of
/// `params` (computed by one backward pass) with central finite differences
/// `(L(w + eps) - L(w - eps)) / 2 eps` on a seeded sample of entries.
///
/// `loss` builds the loss on the graph it is given; it is called once on a
/// recording graph in evaluation mode ([`Graph::eval`]) and twice per checked
/// entry on [`Graph::no_grad`] graphs, so both see the same function: dropout
/// off, batch norm on its running statistics (which stay unchanged). The
/// step is taken as the difference of the two perturbed `f32` values, and the
/// difference quotient is computed in `f64`. The parameters end with their
/// original values and the gradient of `loss` accumulated in them.
///
/// Errors when the loss is not a single finite value.
///
/// ```
/// use backprop::autograd::{gradcheck_params, ParamCheckOptions};
/// use backprop::nn::{Activation, Mlp, MlpConfig, Module};
/// use backprop::{loss, tensor::Rng, Tensor};
/// let model = Mlp::new(MlpConfig::classifier(3, &[4], 2, Activation::Tanh), &mut Rng::new(0));
/// let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.1, 0.2, 0.3], &[2, 3]);
/// let checks = gradcheck_params(
///     &model.parameters(),
///     |g| loss::cross_entropy(model.forward(g, g.constant(x.clone())), &[0, 1]),
///     &ParamCheckOptions::default(),
/// )?;
/// assert_eq!(checks.len(), 4);
/// assert!(checks.iter().all(|c| c.passed), "{checks:?}");
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn gradcheck_params<F>(params: &[(String, Param)], loss: F, opts: &ParamCheckOptions) -> Result<Vec<ParamCheck>>
where
    F: for<'g> Fn(&'g Graph) -> Var<'g>,
{
    let eval = || {
        let g = Graph::no_grad();
        loss(&g).item() as f64
    };
    gradcheck_params_with(params, &loss, eval, opts)
}

/// Like [`gradcheck_params`], but the finite differences evaluate `eval`:
/// the same loss at the current parameter values, computed more precisely
/// (say, the model's `f32` outputs fed to a loss computed in `f64`). Rounding
/// the loss to `f32` costs about 1e-7 |L| per evaluation, an error of
/// 1e-7 |L| / eps in every numerical gradient; `eval` removes it.
///
/// ```
/// use backprop::autograd::{gradcheck_params_with, ParamCheckOptions};
/// use backprop::{Param, Tensor};
/// let w = Param::new(Tensor::from_vec(vec![0.5, -1.5], &[2]));
/// let params = [("w".to_string(), w.clone())];
/// let eval = || w.value().data().iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
/// let opts = ParamCheckOptions { atol: 1e-7, rtol: 1e-5, ..Default::default() };
/// let checks = gradcheck_params_with(&params, |g| g.param(&w).square().sum(), eval, &opts)?;
/// assert!(checks[0].passed, "{checks:?}");
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn gradcheck_params_with<F, E>(
    params: &[(String, Param)],
    loss: F,
    eval: E,
    opts: &ParamCheckOptions,
) -> Result<Vec<ParamCheck>>
where
    F: for<'g> Fn(&'g Graph) -> Var<'g>,
    E: Fn() -> f64,
{
    let fail = |message: String| Error::invalid("gradient check", message);
    for (_, p) in params {
        p.zero_grad();
    }
    let g = Graph::new().eval();
    let l = loss(&g);
    let shape = l.shape();
    if shape.iter().product::<usize>() != 1 {
        return Err(fail(format!("the loss must be a single value, got shape {shape:?}")));
    }
    let value = l.item();
    if !value.is_finite() {
        return Err(fail(format!("the loss is {value} at the current parameters")));
    }
    g.backward(l);
    drop(g);

    let mut checks = Vec::with_capacity(params.len());
    for (t, (name, p)) in params.iter().enumerate() {
        let original = p.value();
        let analytic = p.grad().unwrap_or_else(|| original.zeros_like());
        let mut rng = Rng::new(opts.seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let entries = sample_entries(&analytic, opts.samples, &mut rng);
        let mut check = ParamCheck {
            name: name.clone(),
            shape: original.shape().to_vec(),
            checked: entries.len(),
            max_rel_error: 0.0,
            max_abs_error: 0.0,
            passed: true,
            worst: None,
        };
        let mut w: Tensor = original.clone();
        for &i in &entries {
            let x = original.data()[i];
            let (up, down) = (x + opts.eps, x - opts.eps);
            w.data_mut()[i] = up;
            p.set_value(w.clone());
            let plus = eval();
            w.data_mut()[i] = down;
            p.set_value(w.clone());
            let minus = eval();
            w.data_mut()[i] = x;
            let numerical = (plus - minus) / (up as f64 - down as f64);
            let a = analytic.data()[i] as f64;
            let abs = (a - numerical).abs();
            let scale = a.abs().max(numerical.abs());
            check.max_rel_error = check.max_rel_error.max(abs / scale.max(opts.atol));
            if abs >= check.max_abs_error {
                check.max_abs_error = abs;
                check.worst = Some((i, a, numerical));
            }
            if abs.is_nan() || abs > opts.atol + opts.rtol * scale {
                check.passed = false;
            }
        }
        p.set_value(original);
        checks.push(check);
    }
    Ok(checks)
}

/// Up to `samples` distinct flat indices of `grad`: the larger half by
/// |gradient|, the rest at random; sorted.
fn sample_entries(grad: &Tensor, samples: usize, rng: &mut Rng) -> Vec<usize> {
    let n = grad.numel();
    if n <= samples {
        return (0..n).collect();
    }
    let g = grad.data();
    let mut order: Vec<usize> = (0..n).collect();
    let top = samples / 2;
    if top > 0 {
        order.select_nth_unstable_by(top - 1, |&a, &b| g[b].abs().total_cmp(&g[a].abs()));
    }
    let (chosen, rest) = order.split_at_mut(top);
    let mut picked = chosen.to_vec();
    // A partial Fisher-Yates shuffle of the rest picks the random ones.
    for k in 0..samples - top {
        let j = k + rng.below(rest.len() - k);
        rest.swap(k, j);
        picked.push(rest[k]);
    }
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_and_include_the_largest() {
        let g = Tensor::from_vec((0..100).map(|i| if i == 37 { 9.0 } else { 0.01 * i as f32 }).collect(), &[100]);
        let picked = sample_entries(&g, 10, &mut Rng::new(3));
        assert_eq!(picked.len(), 10);
        assert!(picked.contains(&37) && picked.contains(&99));
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_entries(&g, 200, &mut Rng::new(3)).len(), 100);
    }

    #[test]
    fn a_wrong_gradient_fails() {
        let w = Param::new(Tensor::from_vec(vec![1.0, -2.0], &[2]));
        // L = w . w, but the second factor enters as a constant: autodiff sees dL/dw = w,
        // finite differences 2w.
        let checks = gradcheck_params(
            &[("w".into(), w.clone())],
            |g| {
                let v = g.param(&w);
                (v * g.constant(w.value())).sum()
            },
            &ParamCheckOptions::default(),
        )
        .unwrap();
        assert!(!checks[0].passed, "{checks:?}");
        assert_eq!(w.value().data(), &[1.0, -2.0]);
    }
}
