//! Gradient flow, per layer and epoch: the gradient's norm, the size of the
//! updates against the weights, and the share of dead ReLUs or saturated
//! sigmoid/tanh units. What shows vanishing or exploding gradients and a
//! learning rate out of scale (the update/weight ratio is about 1e-3 in
//! healthy training, as in Karpathy's "A Recipe for Training Neural
//! Networks" and CS231n's notes on babysitting learning).
//!
//! [`Trainer::with_grad_stats`](super::Trainer::with_grad_stats) measures
//! them; a run folder keeps them in `grad_stats.jsonl`, one
//! [`GradStatsRecord`] per epoch, read back by [`read_grad_stats`].

use super::history::{read_json_lines, JsonLines};
use super::nan_origin::{layer_name, layer_of};
use crate::autograd::{Graph, Param};
use crate::{Result, Tensor};
use std::path::Path;

/// The file name of the gradient statistics in a run folder.
pub const GRAD_STATS_FILE: &str = "grad_stats.jsonl";

/// Updates measured per epoch for the update/weight ratio (each costs a copy of the weights).
const UPDATE_SAMPLES: usize = 10;

/// One layer's gradient flow over one epoch. A layer is the parameters
/// sharing a name but its last part (`layers.0.weight` and `layers.0.bias`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerStats {
    /// The layer's name (`layers.0`; `generator/layers.0` in a step with phases).
    pub layer: String,
    /// Its trainable scalars.
    pub params: usize,
    /// Mean over the epoch's steps of the L2 norm of the layer's gradient
    /// (all its parameters together), before clipping.
    pub grad_norm: f32,
    /// Mean over sampled steps of ||update|| / ||weights|| for the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_ratio: Option<f32>,
    /// The activation applied to the layer's output, if it is relu, sigmoid or tanh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// ReLU: the share of its units (one output per example; for a
    /// convolution, one channel at one position) that were 0 for every example of the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead: Option<f32>,
    /// Sigmoid or tanh: the share of its outputs over the epoch where the
    /// derivative is below 1% of its largest value (sigmoid outside about
    /// [0.01, 0.99], tanh beyond ±0.995).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<f32>,
}

/// The gradient flow of one epoch, layer by layer in the order of the parameters.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GradStatsRecord {
    /// The epoch (as in the history).
    pub epoch: usize,
    /// Optimizer steps done so far, in a run counted in steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// Each layer's figures.
    pub layers: Vec<LayerStats>,
}

/// Writes [`GradStatsRecord`]s to a JSONL file as training goes (atomically,
/// as [`HistoryWriter`](super::HistoryWriter)).
pub struct GradStatsWriter(JsonLines);

impl GradStatsWriter {
    /// A writer for `path`; nothing is written until the first epoch ends.
    ///
    /// # Errors
    /// When `path` is an existing folder.
    pub fn create(path: &Path) -> Result<GradStatsWriter> {
        JsonLines::create(path, "grad stats").map(GradStatsWriter)
    }

    /// Adds one record and rewrites the file.
    pub fn append(&mut self, record: &GradStatsRecord) -> Result<()> {
        self.0.append(record)
    }
}

/// Reads `grad_stats.jsonl`; errors name the line that is not a record.
pub fn read_grad_stats(path: &Path) -> Result<Vec<GradStatsRecord>> {
    read_json_lines(path, "a gradient statistics record")
}

/// One layer's sums over an epoch.
struct LayerSums {
    name: String,
    /// Indices of its parameters in the optimizer's list.
    members: Vec<usize>,
    params: usize,
    grad_norm: f64,
    steps: usize,
    ratio: f64,
    ratios: usize,
}

/// One activation node's sums over an epoch (the k-th relu/sigmoid/tanh of the graph).
struct ActivationSums {
    layer: String,
    kind: &'static str,
    /// Per unit: whether it was ever above 0 (ReLU).
    active: Vec<bool>,
    saturated: u64,
    seen: u64,
}

/// One phase's (one optimizer's) sums.
#[derive(Default)]
struct PhaseSums {
    layers: Vec<LayerSums>,
    activations: Vec<ActivationSums>,
    /// Weights before this step's update, on sampled steps.
    before: Option<Vec<Tensor>>,
}

/// Gathers [`GradStatsRecord`]s during training (the trainer's side).
pub(crate) struct GradStats {
    prefixes: Vec<String>,
    phases: Vec<PhaseSums>,
    writer: Option<GradStatsWriter>,
    /// Every record so far.
    pub records: Vec<GradStatsRecord>,
}

impl GradStats {
    pub fn new(writer: Option<GradStatsWriter>) -> GradStats {
        GradStats { prefixes: Vec::new(), phases: Vec::new(), writer, records: Vec::new() }
    }

    /// Before a run: `phase_names` of the step (layer names get a `name/` prefix when there are several).
    pub fn start(&mut self, phase_names: Vec<&str>) {
        let several = phase_names.len() > 1;
        self.prefixes = phase_names.iter().map(|n| if several { format!("{n}/") } else { String::new() }).collect();
        self.phases = phase_names.iter().map(|_| PhaseSums::default()).collect();
    }

    /// After backward: the gradients' norms (`grad_sq`, from the step's check),
    /// the activations in `g`, and on sampled steps (`s` of `steps`) the weights before the update.
    pub fn observe(
        &mut self,
        phase: usize,
        g: &Graph,
        params: &[(String, Param)],
        grad_sq: &[f32],
        s: usize,
        steps: usize,
    ) {
        let sums = &mut self.phases[phase];
        if sums.layers.is_empty() {
            sums.layers = group_layers(params, &self.prefixes[phase]);
        }
        for layer in &mut sums.layers {
            let sq: f64 = layer.members.iter().map(|&i| grad_sq[i]).filter(|v| !v.is_nan()).map(f64::from).sum();
            layer.grad_norm += sq.sqrt();
            layer.steps += 1;
        }
        observe_activations(sums, g, params, &self.prefixes[phase]);
        let every = (steps / UPDATE_SAMPLES).max(1);
        sums.before = s.is_multiple_of(every).then(|| params.iter().map(|(_, p)| p.value()).collect());
    }

    /// After the optimizer step: the update/weight ratio on sampled steps.
    pub fn after_update(&mut self, phase: usize, params: &[(String, Param)]) {
        let sums = &mut self.phases[phase];
        let Some(before) = sums.before.take() else { return };
        for layer in &mut sums.layers {
            let (mut delta, mut weight) = (0.0f64, 0.0f64);
            for &i in &layer.members {
                delta += f64::from(params[i].1.value().squared_distance(&before[i]));
                weight += f64::from(before[i].sum_squares());
            }
            if weight > 0.0 {
                layer.ratio += (delta / weight).sqrt();
                layer.ratios += 1;
            }
        }
    }

    /// At the end of an epoch: the record (also written to the file), and sums from zero.
    pub fn end_epoch(&mut self, epoch: usize, step: Option<usize>) -> Result<()> {
        let mut layers = Vec::new();
        for sums in &mut self.phases {
            for l in &mut sums.layers {
                let mut stats = LayerStats {
                    layer: l.name.clone(),
                    params: l.params,
                    grad_norm: (l.grad_norm / l.steps.max(1) as f64) as f32,
                    update_ratio: (l.ratios > 0).then(|| (l.ratio / l.ratios as f64) as f32),
                    ..Default::default()
                };
                if let Some(a) = sums.activations.iter().find(|a| a.layer == l.name) {
                    stats.activation = Some(a.kind.to_string());
                    if a.kind == "relu" {
                        let dead = a.active.iter().filter(|&&on| !on).count();
                        stats.dead = Some(dead as f32 / a.active.len().max(1) as f32);
                    } else {
                        stats.saturated = Some(a.saturated as f32 / a.seen.max(1) as f32);
                    }
                }
                layers.push(stats);
                (l.grad_norm, l.steps, l.ratio, l.ratios) = (0.0, 0, 0.0, 0);
            }
            for a in &mut sums.activations {
                a.active.iter_mut().for_each(|on| *on = false);
                (a.saturated, a.seen) = (0, 0);
            }
        }
        let record = GradStatsRecord { epoch, step, layers };
        if let Some(w) = &mut self.writer {
            w.append(&record)?;
        }
        self.records.push(record);
        Ok(())
    }
}

/// The optimizer's parameters grouped by layer, in order of first appearance.
fn group_layers(params: &[(String, Param)], prefix: &str) -> Vec<LayerSums> {
    let mut layers: Vec<LayerSums> = Vec::new();
    for (i, (name, p)) in params.iter().enumerate() {
        let layer = format!("{prefix}{}", layer_name(name));
        let n = p.numel();
        match layers.iter_mut().find(|l| l.name == layer) {
            Some(l) => {
                l.members.push(i);
                l.params += n;
            }
            None => layers.push(LayerSums {
                name: layer,
                members: vec![i],
                params: n,
                grad_norm: 0.0,
                steps: 0,
                ratio: 0.0,
                ratios: 0,
            }),
        }
    }
    layers
}

/// Counts dead and saturated units of each relu, sigmoid and tanh node of `g`.
fn observe_activations(sums: &mut PhaseSums, g: &Graph, params: &[(String, Param)], prefix: &str) {
    let mut k = 0;
    let mut fresh = Vec::new();
    g.visit_nodes(|n| {
        let kind = match n.op {
            Some("relu") => "relu",
            Some("sigmoid") => "sigmoid",
            Some("tanh") => "tanh",
            _ => return,
        };
        let data = n.value.data();
        let examples = if n.value.ndim() > 1 { n.value.dim(0).max(1) } else { 1 };
        let units = data.len() / examples;
        if k >= sums.activations.len() || sums.activations[k].active.len() != units {
            fresh.push((k, n.id, kind, units));
        }
        if let Some(a) = sums.activations.get_mut(k).filter(|a| a.active.len() == units) {
            count_units(a, data, units);
        }
        k += 1;
    });
    for (k, id, kind, units) in fresh {
        let layer = layer_of(g, id, params).map(|(l, _)| format!("{prefix}{l}")).unwrap_or_default();
        let mut a = ActivationSums { layer, kind, active: vec![false; units], saturated: 0, seen: 0 };
        count_units(&mut a, g.value_ref(id).data(), units);
        if k < sums.activations.len() {
            sums.activations[k] = a;
        } else {
            sums.activations.push(a);
        }
    }
}

/// Adds one batch of an activation's outputs (`units` per example) to its sums.
fn count_units(a: &mut ActivationSums, data: &[f32], units: usize) {
    match a.kind {
        "relu" => {
            for row in data.chunks_exact(units.max(1)) {
                for (on, &v) in a.active.iter_mut().zip(row) {
                    *on |= v > 0.0;
                }
            }
        }
        kind => {
            // Derivative below 1% of its largest: sigmoid y(1 - y) < 0.0025, tanh 1 - y^2 < 0.01.
            let flat = |&y: &f32| if kind == "sigmoid" { y * (1.0 - y) < 0.0025 } else { 1.0 - y * y < 0.01 };
            a.saturated += data.iter().filter(|y| flat(y)).count() as u64;
        }
    }
    a.seen += data.len() as u64;
}
