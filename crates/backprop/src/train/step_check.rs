//! The trainer's checks of each step, and the error that names where a NaN
//! came from.
//!
//! By default they are cheap: the loss is checked after the forward pass
//! (one number), and each gradient after the backward pass (one vectorised
//! sum of squares per parameter, which the gradient statistics reuse). Only
//! when one of them is not finite is the step's graph, still in memory,
//! searched: the first non-finite value of the forward pass, or
//! [`Graph::try_backward`] for the first op whose gradient is not. The
//! weights' norms before each update are kept, so a learning rate too high is
//! shown by the size of the last update. With anomaly detection
//! ([`Trainer::detect_anomaly`](super::Trainer::detect_anomaly)) every value,
//! gradient and parameter of every step is checked, as PyTorch's
//! `torch.autograd.detect_anomaly` does for the backward pass.

use super::nan_origin::{backward_origin, forward_origin, NonFiniteSource, Origin, ParamNames};
use crate::autograd::{Graph, Var};
use crate::viz::format_number;
use crate::{Error, Result};

/// How often (in steps) the weights' norms are kept for the update's size in
/// a divergence message: one pass over the weights every this many steps.
const NORM_EVERY: usize = 16;

/// Where in the run a step is, for messages (formatted only when one is needed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    /// The epoch (from 1) and the batch in it (from 1).
    pub epoch: usize,
    pub batch: usize,
    /// Optimizer steps done before this one (0 on the first).
    pub done: usize,
    /// Whether the run is counted in steps (messages then name the step only).
    pub counted_in_steps: bool,
    /// The phase's name when the step has several (`generator`).
    pub phase: Option<&'static str>,
}

impl At {
    /// `epoch 2, batch 17 (step 130)` or `step 130`.
    fn place(&self) -> String {
        match self.counted_in_steps {
            true => format!("step {}", self.done + 1),
            false => format!("epoch {}, batch {} (step {})", self.epoch, self.batch, self.done + 1),
        }
    }

    /// `the loss`, or `the generator loss` for a step with phases.
    fn loss_name(&self) -> String {
        match self.phase {
            Some(phase) => format!("the {phase} loss"),
            None => "the loss".into(),
        }
    }
}

/// The weights' norms just before an update, and what drove it.
struct LastUpdate {
    /// The update's step number (from 1).
    step: usize,
    lr: f32,
    /// L2 norm of each parameter before the update.
    weight_norms: Vec<f32>,
    /// L2 norm of each parameter's gradient in that update.
    grad_norms: Vec<f32>,
}

/// The checks of one optimizer's steps (one per phase of a [`TrainStep`](super::TrainStep)).
pub(crate) struct StepCheck {
    anomaly: bool,
    /// Squared norm of each parameter's gradient in the current step (NaN
    /// where it has none); what the gradient statistics read.
    pub grad_sq: Vec<f32>,
    last: Option<LastUpdate>,
}

impl StepCheck {
    pub fn new(anomaly: bool) -> StepCheck {
        StepCheck { anomaly, grad_sq: Vec::new(), last: None }
    }

    /// After the forward pass: the loss must be finite (with anomaly
    /// detection, every value of the graph).
    pub fn forward(&self, g: &Graph, loss: Var<'_>, params: ParamNames<'_>, lr: f32, at: &At) -> Result<()> {
        let value = loss.item();
        if value.is_finite() && !self.anomaly {
            return Ok(());
        }
        let last = if self.anomaly { g.len() - 1 } else { loss.id() };
        let Some(origin) = forward_origin(g, last, params) else {
            if value.is_finite() {
                return Ok(());
            }
            return Err(Error::Diverged(format!(
                "{} became {value} at {}: training diverged; try a lower learning rate (now {lr:e})",
                at.loss_name(),
                at.place()
            )));
        };
        let what = if value.is_finite() {
            "a value of the graph became non-finite (--detect-anomaly)".to_string()
        } else {
            format!("{} became {value}", at.loss_name())
        };
        Err(self.error(&what, origin, params, lr, at))
    }

    /// Backward, then the gradients' check: on a non-finite gradient the
    /// graph is walked again, checking each op, to name the first one whose
    /// gradient is not finite.
    pub fn backward(&mut self, g: &Graph, loss: Var<'_>, params: ParamNames<'_>, lr: f32, at: &At) -> Result<()> {
        let grads = if self.anomaly {
            match g.try_backward(loss) {
                Ok(grads) => grads,
                Err(bad) => return Err(self.backward_error(g, &bad, params, lr, at)),
            }
        } else {
            g.backward_summing(loss)
        };
        self.grad_sq.clear();
        let mut finite = true;
        for (_, p) in params {
            // NaN stands for "no gradient"; a sum of squares that is not finite
            // (a non-finite value, or an overflow) is checked exactly. The
            // backward pass summed most while they were in cache.
            let sq = match &p.lock().grad {
                Some(grad) => {
                    let sq = grads.param_sum_squares(p).unwrap_or_else(|| grad.sum_squares());
                    finite &= sq.is_finite() || grad.all_finite();
                    sq
                }
                None => f32::NAN,
            };
            self.grad_sq.push(sq);
        }
        if finite {
            return Ok(());
        }
        match g.try_backward(loss) {
            Err(bad) => Err(self.backward_error(g, &bad, params, lr, at)),
            Ok(_) => {
                let (name, _) = params
                    .iter()
                    .find(|(_, p)| p.lock().grad.as_ref().is_some_and(|grad| !grad.all_finite()))
                    .expect("a gradient is not finite");
                Err(Error::Diverged(format!(
                    "the gradient of '{name}' became non-finite at {}: every op's gradient was finite, but their \
                     sum for the parameter overflowed; try a lower learning rate (now {lr:e})",
                    at.place()
                )))
            }
        }
    }

    /// Just before the optimizer step: every [`NORM_EVERY`] steps (and on the
    /// first), keeps the weights' norms, so that a later divergence can show
    /// the size of the updates since.
    pub fn before_update(&mut self, params: ParamNames<'_>, lr: f32, at: &At) {
        if !at.done.is_multiple_of(NORM_EVERY) {
            return;
        }
        let weight_norms = params.iter().map(|(_, p)| norm(&p.lock().value)).collect();
        let grad_norms = self.grad_sq.iter().map(|s| s.sqrt()).collect();
        self.last = Some(LastUpdate { step: at.done + 1, lr, weight_norms, grad_norms });
    }

    /// After the optimizer step, with anomaly detection: every parameter must be finite.
    pub fn after_update(&self, params: ParamNames<'_>, lr: f32, at: &At) -> Result<()> {
        if !self.anomaly {
            return Ok(());
        }
        let Some((name, _)) = params.iter().find(|(_, p)| !p.lock().value.all_finite()) else { return Ok(()) };
        let mut message = format!(
            "parameter '{name}' became non-finite in the update of {} (--detect-anomaly), from a finite gradient",
            at.place()
        );
        if let Some(note) = self.update_note(params, lr, at.done + 1) {
            message += &format!("\n  update:   {note}");
        }
        message += &format!("\n  try:      a lower learning rate (now {lr:e})");
        Err(Error::Diverged(message))
    }

    fn backward_error(
        &self,
        g: &Graph,
        bad: &crate::autograd::NonFiniteGrad,
        params: ParamNames<'_>,
        lr: f32,
        at: &At,
    ) -> Error {
        let origin = backward_origin(g, bad, params);
        let name = match params.iter().find(|(_, p)| p.lock().grad.as_ref().is_some_and(|g| !g.all_finite())) {
            Some((name, _)) => format!("the gradient of '{name}'"),
            None => "a gradient".to_string(),
        };
        self.error(&format!("{name} became non-finite"), origin, params, lr, at)
    }

    /// `what at place: headline`, then the origin's details; when values grew
    /// too large after an update, the size of that update and the advice.
    fn error(&self, what: &str, mut origin: Origin, params: ParamNames<'_>, lr: f32, at: &At) -> Error {
        let first_step = at.done == 0;
        let diverged = match &origin.source {
            NonFiniteSource::Input => false,
            NonFiniteSource::Parameter if first_step => {
                origin.hint = "the model starts from non-finite weights, before the first step; check the \
                               checkpoint or the initialisation"
                    .into();
                false
            }
            NonFiniteSource::Parameter => {
                origin.hint = "the weights became non-finite in the last update although every gradient was \
                               finite: the update overflowed, the learning rate is too high"
                    .into();
                true
            }
            NonFiniteSource::Op(_) => origin.overflow && !first_step,
        };
        let lead = if diverged { "training diverged: " } else { "" };
        let mut message = format!("{what} at {}: {lead}{}\n{origin}", at.place(), origin.headline());
        if diverged {
            if let Some(note) = self.update_note(params, lr, at.done) {
                message += &format!("\n  update:   {note}");
            }
            message += &format!("\n  try:      a lower learning rate (now {lr:e})");
        }
        Error::Diverged(message)
    }

    /// The size of the updates since the weights' norms were last kept, for
    /// the parameter whose norm they grew most: `the last update (step 41,
    /// learning rate 0.5) took the norm of layers.0.weight from 12.3 to 4.1e20
    /// (its gradient's norm was 8.1e19)`, or `the 3 updates of steps 33 to 35 took ...`;
    /// `latest` is the number of the last update done.
    fn update_note(&self, params: ParamNames<'_>, lr: f32, latest: usize) -> Option<String> {
        let last = self.last.as_ref()?;
        let now: Vec<f32> = params.iter().map(|(_, p)| norm(&p.lock().value)).collect();
        let growth = |i: usize| if now[i].is_nan() { f32::INFINITY } else { now[i] - last.weight_norms[i] };
        let i = (0..params.len().min(last.weight_norms.len())).max_by(|&a, &b| growth(a).total_cmp(&growth(b)))?;
        let after = match now[i] {
            _ if !params[i].1.lock().value.all_finite() => "a non-finite value".to_string(),
            v if v.is_infinite() => "beyond f32's range".to_string(),
            v => format_number(v),
        };
        let lr_note = if last.lr == lr { String::new() } else { format!(", learning rate {}", format_number(last.lr)) };
        let updates = match (latest + 1).saturating_sub(last.step) {
            0 | 1 => format!("the last update (step {}{lr_note})", last.step),
            n => format!("the {n} updates of steps {} to {latest}", last.step),
        };
        Some(format!(
            "{updates} took the norm of {} from {} to {after} (its gradient's norm was {} in step {})",
            params[i].0,
            format_number(last.weight_norms[i]),
            format_number(last.grad_norms.get(i).copied().unwrap_or(f32::NAN)),
            last.step
        ))
    }
}

/// The L2 norm of `t`: the vectorised f32 sum of squares, or an f64 sum when
/// that overflows (NaN when a value is not finite).
fn norm(t: &crate::Tensor) -> f32 {
    let sq = t.sum_squares();
    if sq.is_finite() {
        return sq.sqrt();
    }
    t.data().iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt() as f32
}
