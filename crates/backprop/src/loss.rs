//! Loss functions: L1, MSE, the quadratic cost, binary cross-entropy with
//! logits and softmax cross-entropy.
//!
//! The two cross-entropies are fused ops: computing them from logits in one
//! step is numerically stable and their gradients are simple
//! (`softmax(z) - onehot(y)`, `sigmoid(z) - y`).

use crate::autograd::{Backward, BackwardCtx, Var};
use crate::data::Targets;
use crate::tensor;
use crate::Tensor;

/// Mean absolute error: mean(|pred - target|).
///
/// ```
/// use backprop::{loss, Graph, Tensor};
/// let g = Graph::new();
/// let p = g.constant(Tensor::from_vec(vec![1.0, 3.0], &[2]));
/// let t = g.constant(Tensor::from_vec(vec![2.0, 1.0], &[2]));
/// assert_eq!(loss::l1(p, t).item(), 1.5);
/// ```
pub fn l1<'g>(pred: Var<'g>, target: Var<'g>) -> Var<'g> {
    check_same_shape("l1", pred, target);
    (pred - target).abs().mean()
}

/// Mean squared error: mean((pred - target)^2).
///
/// ```
/// use backprop::{loss, Graph, Tensor};
/// let g = Graph::new();
/// let p = g.constant(Tensor::from_vec(vec![1.0, 3.0], &[2]));
/// let t = g.constant(Tensor::from_vec(vec![2.0, 1.0], &[2]));
/// assert_eq!(loss::mse(p, t).item(), 2.5);
/// ```
pub fn mse<'g>(pred: Var<'g>, target: Var<'g>) -> Var<'g> {
    check_same_shape("mse", pred, target);
    (pred - target).square().mean()
}

/// The quadratic cost of Nielsen's *Neural Networks and Deep Learning*:
/// C = 1/(2n) sum_x ||y(x) - a(x)||^2, i.e. half the squared error summed over
/// outputs and averaged over the `n` examples (rows) of the batch.
pub fn quadratic<'g>(pred: Var<'g>, target: Var<'g>) -> Var<'g> {
    check_same_shape("quadratic", pred, target);
    let rows = pred.shape().first().copied().unwrap_or(1).max(1);
    (pred - target).square().sum() * (0.5 / rows as f32)
}

fn check_same_shape(op: &str, a: Var<'_>, b: Var<'_>) {
    let (sa, sb) = (a.shape(), b.shape());
    assert_eq!(sa, sb, "{op}: prediction shape {sa:?} differs from target shape {sb:?}");
}

struct CrossEntropyOp {
    labels: Vec<usize>,
}

impl Backward for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    // dL/dz = (softmax(z) - onehot(y)) / N
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let scale = c.grad.item() / self.labels.len() as f32;
        vec![Some(tensor::cross_entropy_backward(c.inputs[0], &self.labels, scale))]
    }
}

/// Softmax cross-entropy of logits `[N, C]` against integer labels, averaged
/// over the batch: mean_i( -log softmax(z_i)[y_i] ).
///
/// # Panics
/// When logits are not 2-d, the label count differs from N, or a label is >= C.
///
/// ```
/// use backprop::{loss, Graph, Tensor};
/// let g = Graph::new();
/// let z = g.constant(Tensor::from_vec(vec![0.0, 0.0], &[1, 2]));
/// assert!((loss::cross_entropy(z, &[1]).item() - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn cross_entropy<'g>(logits: Var<'g>, labels: &[usize]) -> Var<'g> {
    let z = logits.value();
    assert_eq!(z.ndim(), 2, "cross_entropy: logits must be [batch, classes], got {:?}", z.shape());
    let n = z.dim(0);
    assert_eq!(labels.len(), n, "cross_entropy: {} labels for a batch of {n}", labels.len());
    let value = Tensor::scalar(tensor::cross_entropy(&z, labels));
    logits.derive(value, &[], CrossEntropyOp { labels: labels.to_vec() })
}

struct BceWithLogitsOp;

impl Backward for BceWithLogitsOp {
    fn name(&self) -> &'static str {
        "bce_with_logits"
    }
    // dL/dz = (sigmoid(z) - y) / N ; dL/dy = -z / N (rarely needed)
    fn backward(&self, c: &BackwardCtx<'_>) -> Vec<Option<Tensor>> {
        let (z, y) = (c.inputs[0], c.inputs[1]);
        let scale = c.grad.item() / z.numel().max(1) as f32;
        vec![
            c.needs[0].then(|| tensor::bce_with_logits_backward(z, y, scale)),
            c.needs[1].then(|| z.mul_scalar(-scale)),
        ]
    }
}

/// Binary cross-entropy on logits, averaged over all elements:
/// mean( max(z, 0) - z y + log(1 + e^-|z|) ), the stable form of
/// -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))].
///
/// ```
/// use backprop::{loss, Graph, Tensor};
/// let g = Graph::new();
/// let z = g.constant(Tensor::from_vec(vec![0.0], &[1]));
/// let y = g.constant(Tensor::from_vec(vec![1.0], &[1]));
/// assert!((loss::bce_with_logits(z, y).item() - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn bce_with_logits<'g>(logits: Var<'g>, targets: Var<'g>) -> Var<'g> {
    check_same_shape("bce_with_logits", logits, targets);
    let (z, y) = (logits.value(), targets.value());
    let value = Tensor::scalar(tensor::bce_with_logits(&z, &y));
    logits.derive(value, &[targets], BceWithLogitsOp)
}

pub use crate::tensor::one_hot;

/// A loss chosen by name.
///
/// ```
/// use backprop::loss::Loss;
/// assert_eq!("cross-entropy".parse::<Loss>().unwrap(), Loss::CrossEntropy);
/// assert_eq!("bce".parse::<Loss>().unwrap(), Loss::Bce);
/// assert!("hinge".parse::<Loss>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Softmax cross-entropy on logits against class labels.
    CrossEntropy,
    /// Mean squared error (against one-hot targets for class labels).
    Mse,
    /// Nielsen's quadratic cost (against one-hot targets for class labels).
    Quadratic,
    /// Mean absolute error (against one-hot targets for class labels).
    L1,
    /// Binary cross-entropy on logits: logistic regression's loss, with 0/1 targets.
    Bce,
}

impl Loss {
    const NAMES: [(&'static str, Loss); 5] = [
        ("cross-entropy", Loss::CrossEntropy),
        ("mse", Loss::Mse),
        ("quadratic", Loss::Quadratic),
        ("l1", Loss::L1),
        ("bce", Loss::Bce),
    ];

    /// The loss of network outputs `[N, C]` against the batch's targets.
    ///
    /// # Panics
    /// When cross-entropy is given real-valued targets, or shapes do not fit.
    pub fn compute<'g>(self, outputs: Var<'g>, targets: &Targets) -> Var<'g> {
        let g = outputs.graph();
        let classes = outputs.shape().last().copied().unwrap_or(1);
        let target = match (self, targets) {
            (Loss::CrossEntropy, Targets::Classes(labels)) => return cross_entropy(outputs, labels),
            (Loss::CrossEntropy, Targets::Values(_)) => {
                panic!("cross_entropy: needs class labels, got real-valued targets")
            }
            (Loss::Bce, Targets::Classes(labels)) if classes == 1 => {
                let t: Vec<f32> = labels.iter().map(|&y| y as f32).collect();
                g.constant(Tensor::from_vec(t, &[labels.len(), 1]))
            }
            (_, Targets::Classes(labels)) => g.constant(one_hot(labels, classes)),
            (_, Targets::Values(v)) => g.constant(v.clone()),
        };
        match self {
            Loss::Mse => mse(outputs, target),
            Loss::Quadratic => quadratic(outputs, target),
            Loss::L1 => l1(outputs, target),
            Loss::Bce => bce_with_logits(outputs, target),
            Loss::CrossEntropy => unreachable!("handled above"),
        }
    }

    /// Whether the network should end in logits: cross-entropy and BCE apply
    /// softmax / sigmoid themselves. With class labels, the regression-style
    /// losses compare sigmoid outputs to one-hot targets.
    pub fn wants_logits(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Bce)
    }

    /// Whether the loss is for classification (so accuracy is meaningful).
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Bce)
    }
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let key = s.to_ascii_lowercase().replace('_', "-");
        let key = if key == "ce" || key == "crossentropy" { "cross-entropy".to_string() } else { key };
        Self::NAMES.iter().find(|(n, _)| *n == key).map(|(_, l)| *l).ok_or_else(|| {
            let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown loss '{s}' (expected one of: {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::NAMES.iter().find(|(_, l)| l == self).map(|(n, _)| *n).unwrap_or("?");
        f.write_str(name)
    }
}
