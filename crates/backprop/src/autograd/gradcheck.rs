//! Checking autodiff against central finite differences.

use super::graph::{Graph, Var};
use crate::tensor::Rng;
use crate::Tensor;

/// Tolerances and step for [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f32,
    /// Allowed absolute error.
    pub atol: f32,
    /// Allowed error relative to the numerical gradient.
    pub rtol: f32,
    /// Seed of the random weights that reduce a non-scalar output to a scalar.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    /// Tolerances suited to `f32`: a step of 1e-3 with errors within
    /// 1e-2 + 1e-2 |numerical| (single precision cannot do much better with
    /// central differences).
    fn default() -> Self {
        GradcheckOptions { eps: 1e-3, atol: 1e-2, rtol: 1e-2, seed: 0 }
    }
}

/// The result of a [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// Largest |analytic - numerical| per input.
    pub max_abs_error: Vec<f32>,
    /// Largest |analytic - numerical| / max(|numerical|, 1e-3) per input.
    pub max_rel_error: Vec<f32>,
    /// Whether every element of every input was within tolerance.
    pub passed: bool,
    /// The first element outside tolerance: (input, flat index, analytic, numerical).
    pub first_failure: Option<(usize, usize, f32, f32)>,
}

/// Compares the gradients autodiff computes for `f` at `inputs` with central
/// finite differences `(L(x + eps) - L(x - eps)) / 2 eps`, element by element.
///
/// A non-scalar output is reduced to `L = sum(out * R)` with fixed random
/// weights `R`, so every output element is checked.
///
/// ```
/// use backprop::{autograd::{gradcheck, GradcheckOptions}, Tensor};
/// let x = Tensor::from_vec(vec![0.3, -0.7, 1.2], &[3]);
/// let report = gradcheck(&[x], |_, v| v[0].tanh() * v[0], &GradcheckOptions::default());
/// assert!(report.passed, "{report:?}");
/// ```
pub fn gradcheck<F>(inputs: &[Tensor], f: F, opts: &GradcheckOptions) -> GradcheckReport
where
    F: for<'g> Fn(&'g Graph, &[Var<'g>]) -> Var<'g>,
{
    // Analytic gradients.
    let g = Graph::new();
    let vars: Vec<Var<'_>> = inputs.iter().map(|t| g.leaf(t.clone())).collect();
    let out = f(&g, &vars);
    let weights = Tensor::randn(&out.shape(), 0.0, 1.0, &mut Rng::new(opts.seed));
    let loss = (out * g.constant(weights.clone())).sum();
    let grads = g.backward(loss);
    let analytic: Vec<Tensor> =
        vars.iter().zip(inputs).map(|(v, t)| grads.wrt(*v).cloned().unwrap_or_else(|| t.zeros_like())).collect();

    let eval = |xs: &[Tensor]| -> f64 {
        let g = Graph::no_grad();
        let vars: Vec<Var<'_>> = xs.iter().map(|t| g.constant(t.clone())).collect();
        let out = f(&g, &vars).value();
        out.data().iter().zip(weights.data()).map(|(&o, &w)| o as f64 * w as f64).sum()
    };

    let mut report = GradcheckReport {
        max_abs_error: vec![0.0; inputs.len()],
        max_rel_error: vec![0.0; inputs.len()],
        passed: true,
        first_failure: None,
    };
    let mut xs: Vec<Tensor> = inputs.to_vec();
    for i in 0..inputs.len() {
        for j in 0..inputs[i].numel() {
            let orig = inputs[i].data()[j];
            xs[i].data_mut()[j] = orig + opts.eps;
            let plus = eval(&xs);
            xs[i].data_mut()[j] = orig - opts.eps;
            let minus = eval(&xs);
            xs[i].data_mut()[j] = orig;
            let numerical = ((plus - minus) / (2.0 * opts.eps as f64)) as f32;
            let a = analytic[i].data()[j];
            let abs = (a - numerical).abs();
            let rel = abs / numerical.abs().max(1e-3);
            report.max_abs_error[i] = report.max_abs_error[i].max(abs);
            report.max_rel_error[i] = report.max_rel_error[i].max(rel);
            if abs > opts.atol + opts.rtol * numerical.abs() || !a.is_finite() {
                report.passed = false;
                report.first_failure.get_or_insert((i, j, a, numerical));
            }
        }
    }
    report
}
