//! ODIN (Liang et al., "Enhancing the reliability of out-of-distribution
//! image detection in neural networks", ICLR 2018): the maximum softmax
//! probability at temperature `T` of an input nudged by `epsilon` in the
//! direction that raises it, `x' = x - epsilon * sign(-grad_x log S_y(x; T))`.
//! In-distribution inputs gain more from the nudge than others.

use super::logits::msp;
use crate::autograd::Graph;
use crate::data::batch_indices;
use crate::models::Classifier;
use crate::{Error, Result, Tensor};

/// ODIN's two parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Odin {
    /// Softmax temperature `T` (1 = plain softmax; the paper uses 1000).
    pub temperature: f32,
    /// Input perturbation size `epsilon`, in the model's input units (pixels from 0 to 1).
    pub epsilon: f32,
}

/// The temperature ODIN uses unless told otherwise: the paper's 1000.
/// Choosing it needs out-of-distribution data (the paper tunes it on them);
/// its experiments show scores change little above ~100.
pub const DEFAULT_TEMPERATURE: f32 = 1000.0;

/// The perturbation sizes [`Odin::fit`] tries (the paper's grid from 0 to 0.004, and larger).
pub const EPSILONS: &[f32] = &[0.0, 0.0005, 0.001, 0.0014, 0.002, 0.003, 0.004, 0.006, 0.01, 0.02];

impl Odin {
    /// Checks the parameters: a temperature above 0 and a finite epsilon of at least 0.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the parameter.
    pub fn check(self) -> Result<Odin> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::invalid("temperature", format!("must be above 0, got {}", self.temperature)));
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(Error::invalid("epsilon", format!("must be at least 0, got {}", self.epsilon)));
        }
        Ok(self)
    }

    /// ODIN scores of every row of `inputs` (`[N, D]`), in batches of `batch_size`.
    ///
    /// With temperature 1 and epsilon 0 it is the maximum softmax probability.
    pub fn scores(self, model: &Classifier<'_>, inputs: &Tensor, batch_size: usize) -> Vec<f32> {
        let mut scores = Vec::with_capacity(inputs.dim(0));
        for ids in batch_indices(inputs.dim(0), batch_size.max(1), None) {
            let x = inputs.index_select(&ids);
            let x = if self.epsilon > 0.0 { self.perturb(model, x) } else { x };
            let g = Graph::no_grad();
            let logits = model.module.forward(&g, g.constant(x)).value();
            scores.extend(msp(&logits.map(|v| v / self.temperature)));
        }
        scores
    }

    /// `x + epsilon * sign(grad_x log S_y(x; T))`, `y` the predicted class.
    fn perturb(self, model: &Classifier<'_>, x: Tensor) -> Tensor {
        let g = Graph::inputs_only();
        let input = g.leaf(x.clone());
        let logits = model.module.forward(&g, input);
        let classes = logits.value().dim(1);
        let mut onehot = Tensor::zeros(&[x.dim(0), classes]);
        for (row, c) in logits.value().argmax_axis(1).into_iter().enumerate() {
            onehot.data_mut()[row * classes + c] = 1.0;
        }
        let log_p = (logits * (1.0 / self.temperature)).log_softmax();
        let objective = (log_p * g.constant(onehot)).sum();
        let grads = g.backward(objective);
        let grad = grads.wrt(input).expect("the input is a leaf of the graph");
        let mut out = x;
        for (v, &d) in out.data_mut().iter_mut().zip(grad.data()) {
            if d != 0.0 {
                *v += self.epsilon * d.signum();
            }
        }
        out
    }

    /// ODIN at `temperature` with the epsilon of [`EPSILONS`] that gives
    /// in-distribution validation inputs (`[N, D]`) the highest mean score
    /// (the in-distribution-only choice of Hsu et al., "Generalized ODIN",
    /// CVPR 2020): no out-of-distribution data are needed.
    ///
    /// # Errors
    /// As [`Odin::check`], and when `inputs` is empty.
    pub fn fit(model: &Classifier<'_>, inputs: &Tensor, temperature: f32, batch_size: usize) -> Result<Odin> {
        if inputs.dim(0) == 0 {
            return Err(Error::invalid("validation data", "no examples to choose ODIN's epsilon on"));
        }
        let mut best = (f64::NEG_INFINITY, Odin { temperature, epsilon: 0.0 }.check()?);
        for &epsilon in EPSILONS {
            let odin = Odin { temperature, epsilon };
            let s = odin.scores(model, inputs, batch_size);
            let mean = s.iter().map(|&v| f64::from(v)).sum::<f64>() / s.len() as f64;
            if mean > best.0 {
                best = (mean, odin);
            }
        }
        Ok(best.1)
    }
}
