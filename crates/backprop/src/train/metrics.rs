//! Accuracy, precision/recall and regression errors, over batches or a whole data set.

use crate::autograd::Graph;
use crate::data::{batch_indices, Supervised, Targets};
use crate::dist::{Collective, Shard};
use crate::loss::Loss;
use crate::nn::Module;
use crate::Tensor;

/// Fraction of rows of `outputs` `[N, C]` whose argmax equals the label.
///
/// ```
/// use backprop::{train::accuracy, Tensor};
/// let out = Tensor::from_vec(vec![0.9, 0.1, 0.2, 0.8], &[2, 2]);
/// assert_eq!(accuracy(&out, &[0, 0]), 0.5);
/// ```
pub fn accuracy(outputs: &Tensor, labels: &[usize]) -> f32 {
    let hits = predicted_classes(outputs).iter().zip(labels).filter(|(p, y)| p == y).count();
    hits as f32 / labels.len().max(1) as f32
}

/// The predicted class of each row: the argmax, or for a single logit column `logit > 0`.
pub fn predicted_classes(outputs: &Tensor) -> Vec<usize> {
    let last = outputs.ndim() - 1;
    if outputs.dim(last) == 1 {
        outputs.data().iter().map(|&z| usize::from(z > 0.0)).collect()
    } else {
        outputs.argmax_axis(last)
    }
}

/// What an evaluation measured. Fields that do not apply are `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per example (in the units the model was trained in).
    pub loss: f32,
    /// Fraction classified correctly (classification).
    pub accuracy: Option<f32>,
    /// Precision of class 1 (binary classification).
    pub precision: Option<f32>,
    /// Recall of class 1 (binary classification).
    pub recall: Option<f32>,
    /// RMSE (MSE/quadratic loss) or MAE (L1 loss) in the target's own units (regression).
    pub error: Option<f32>,
}

/// Running sums from which an [`Evaluation`] is made.
#[derive(Default)]
pub(crate) struct MetricSum {
    loss: f64,
    examples: usize,
    correct: usize,
    classified: bool,
    binary: bool,
    counts: [usize; 3], // true positives, false positives, false negatives
    error: f64,
    regression: Option<Loss>,
}

impl MetricSum {
    /// Adds one batch: its outputs, targets and mean loss.
    pub fn add(&mut self, loss_kind: Loss, outputs: &Tensor, targets: &Targets, loss: f32, scale: Option<&[f32]>) {
        let n = targets.len();
        self.loss += loss as f64 * n as f64;
        self.examples += n;
        let labels: Option<Vec<usize>> = match targets {
            Targets::Classes(c) => Some(c.clone()),
            Targets::Values(v) if loss_kind == Loss::Bce => {
                Some(v.data().iter().map(|&y| usize::from(y > 0.5)).collect())
            }
            Targets::Values(_) => None,
        };
        if let Some(labels) = labels {
            let predicted = predicted_classes(outputs);
            self.classified = true;
            self.binary |= outputs.dim(outputs.ndim() - 1) <= 2;
            for (&p, &y) in predicted.iter().zip(&labels) {
                self.correct += usize::from(p == y);
                self.counts[0] += usize::from(p == 1 && y == 1);
                self.counts[1] += usize::from(p == 1 && y != 1);
                self.counts[2] += usize::from(p != 1 && y == 1);
            }
        } else if let Targets::Values(v) = targets {
            self.regression = Some(loss_kind);
            let cols = v.shape().last().copied().unwrap_or(1).max(1);
            for (i, (&p, &y)) in outputs.data().iter().zip(v.data()).enumerate() {
                let s = scale.map_or(1.0, |s| s[i % cols]) as f64;
                let d = (p - y) as f64 * s;
                self.error += if loss_kind == Loss::L1 { d.abs() } else { d * d } / cols as f64;
            }
        }
    }

    /// Sums these sums over the ranks of `comm`, for data-parallel training
    /// (`loss_kind`: the loss of a rank whose shard held no regression targets).
    pub fn all_reduce(&mut self, comm: &dyn Collective, loss_kind: Loss) {
        let [tp, fp, fneg] = self.counts.map(|c| c as f64);
        let flags = [self.classified, self.binary, self.regression.is_some()].map(|f| f64::from(u8::from(f)));
        let mut v = [self.loss, self.examples as f64, self.correct as f64, tp, fp, fneg, self.error];
        let mut all = v.to_vec();
        all.extend(flags);
        comm.all_reduce_sum_f64(&mut all);
        v.copy_from_slice(&all[..7]);
        self.loss = v[0];
        self.error = v[6];
        [self.examples, self.correct, self.counts[0], self.counts[1], self.counts[2]] =
            [v[1], v[2], v[3], v[4], v[5]].map(|c| c.round() as usize);
        self.classified = all[7] > 0.0;
        self.binary = all[8] > 0.0;
        if all[9] > 0.0 && self.regression.is_none() {
            self.regression = Some(loss_kind);
        }
    }

    pub fn finish(&self) -> Evaluation {
        let n = self.examples.max(1) as f64;
        let [tp, fp, fneg] = self.counts.map(|c| c as f32);
        let binary = self.classified && self.binary;
        Evaluation {
            loss: (self.loss / n) as f32,
            accuracy: self.classified.then(|| (self.correct as f64 / n) as f32),
            precision: binary.then(|| if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 }),
            recall: binary.then(|| if tp + fneg > 0.0 { tp / (tp + fneg) } else { 0.0 }),
            error: self.regression.map(|l| {
                let mean = self.error / n;
                (if l == Loss::L1 { mean } else { mean.sqrt() }) as f32
            }),
        }
    }
}

/// Evaluates `model` on `data` in batches, without recording a graph.
pub fn evaluate<M: Module + ?Sized, D: Supervised + ?Sized>(
    model: &M,
    data: &D,
    loss: Loss,
    batch_size: usize,
) -> Evaluation {
    evaluate_part(model, data, loss, batch_size, 0..data.len()).finish()
}

/// [`evaluate`] split across the ranks of `comm`: each evaluates its
/// [`Shard`] of `data`, and the sums are added over the ranks, so every rank
/// gets the evaluation of the whole set.
pub fn evaluate_distributed<M: Module + ?Sized, D: Supervised + ?Sized>(
    model: &M,
    data: &D,
    loss: Loss,
    batch_size: usize,
    comm: &dyn Collective,
) -> Evaluation {
    let mut sum = evaluate_part(model, data, loss, batch_size, Shard::of(comm).range(data.len()));
    sum.all_reduce(comm, loss);
    sum.finish()
}

/// The sums of evaluating `model` on the examples `part` of `data`.
fn evaluate_part<M: Module + ?Sized, D: Supervised + ?Sized>(
    model: &M,
    data: &D,
    loss: Loss,
    batch_size: usize,
    part: std::ops::Range<usize>,
) -> MetricSum {
    let mut sum = MetricSum::default();
    for chunk in batch_indices(part.len(), batch_size.max(1), None) {
        let ids: Vec<usize> = chunk.iter().map(|i| part.start + i).collect();
        let (x, t) = data.batch(&ids);
        let g = Graph::no_grad();
        let out = model.forward(&g, g.constant(x));
        let value = loss.compute(out, &t).item();
        sum.add(loss, &out.value(), &t, value, data.target_scale());
    }
    sum
}
