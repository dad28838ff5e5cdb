//! The tape: a define-by-run graph of values, and `Var`, a handle to one of them.
//!
//! Each operation on a [`Var`] computes its value at once and, when the graph
//! records and some input needs a gradient, appends a node holding the inputs
//! and the op's backward rule. [`Graph::backward`] walks the nodes once in
//! reverse, applying the chain rule.

use super::param::Param;
use crate::Tensor;
use std::cell::{Ref, RefCell};

/// The backward rule of one op: given the gradient of the output, the
/// gradients of the inputs. Each op defines it next to its forward.
pub(crate) trait Backward {
    /// The op's name, as shown in graph drawings.
    fn name(&self) -> &'static str;
    /// Gradients for each input (`None` where `ctx.needs[i]` is false).
    fn backward(&self, ctx: &BackwardCtx<'_>) -> Vec<Option<Tensor>>;
}

/// What a backward rule can see.
pub(crate) struct BackwardCtx<'a> {
    /// Values of the inputs, in order.
    pub inputs: Vec<&'a Tensor>,
    /// The op's output value.
    pub output: &'a Tensor,
    /// dLoss/dOutput.
    pub grad: &'a Tensor,
    /// Which inputs need a gradient.
    pub needs: Vec<bool>,
}

pub(crate) struct Node {
    pub value: Tensor,
    pub op: Option<Box<dyn Backward>>,
    pub inputs: Vec<usize>,
    pub requires_grad: bool,
    pub param: Option<Param>,
    pub label: Option<String>,
}

/// A computation graph (tape). Create one per forward pass.
///
/// [`Graph::new`] records for backpropagation; [`Graph::no_grad`] only
/// evaluates (the evaluation and inference path: no backward rules are kept,
/// and layers such as dropout switch to evaluation behaviour).
///
/// ```
/// use backprop::{autograd::Graph, Tensor};
/// // J = 3 (a + b c) at a = 5, b = 3, c = 2
/// let g = Graph::new();
/// let a = g.leaf(Tensor::scalar(5.0));
/// let b = g.leaf(Tensor::scalar(3.0));
/// let c = g.leaf(Tensor::scalar(2.0));
/// let j = (a + b * c) * 3.0;
/// let grads = g.backward(j);
/// assert_eq!(j.item(), 33.0);
/// assert_eq!(grads.wrt(a).unwrap().item(), 3.0);
/// assert_eq!(grads.wrt(b).unwrap().item(), 6.0);
/// assert_eq!(grads.wrt(c).unwrap().item(), 9.0);
/// ```
pub struct Graph {
    nodes: RefCell<Vec<Node>>,
    record: bool,
    training: bool,
}

/// A value in a [`Graph`]: a cheap, copyable handle. Arithmetic on `Var`s
/// builds the graph.
#[derive(Clone, Copy)]
pub struct Var<'g> {
    pub(crate) graph: &'g Graph,
    pub(crate) id: usize,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// A graph that records for backpropagation (training mode).
    pub fn new() -> Graph {
        Graph { nodes: RefCell::new(Vec::with_capacity(64)), record: true, training: true }
    }

    /// A graph that records nothing: evaluation / inference.
    pub fn no_grad() -> Graph {
        Graph { nodes: RefCell::new(Vec::with_capacity(64)), record: false, training: false }
    }

    /// Whether layers should behave as in training (dropout active).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Whether the graph keeps backward rules.
    pub fn is_recording(&self) -> bool {
        self.record
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether no node has been added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, node: Node) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(node);
        Var { graph: self, id: nodes.len() - 1 }
    }

    /// A constant input: no gradient flows into it.
    pub fn constant(&self, value: Tensor) -> Var<'_> {
        self.push(Node { value, op: None, inputs: vec![], requires_grad: false, param: None, label: None })
    }

    /// An input whose gradient is wanted (read it with [`Gradients::wrt`]):
    /// the leaves of a hand-built expression, or an image for a saliency map.
    pub fn leaf(&self, value: Tensor) -> Var<'_> {
        self.push(Node { value, op: None, inputs: vec![], requires_grad: self.record, param: None, label: None })
    }

    /// A trainable parameter: backward adds its gradient to the parameter.
    pub fn param(&self, p: &Param) -> Var<'_> {
        let value = p.value();
        self.push(Node {
            value,
            op: None,
            inputs: vec![],
            requires_grad: self.record,
            param: Some(p.clone()),
            label: None,
        })
    }

    /// Records the result of an op. Inputs that need no gradient and
    /// non-recording graphs keep no backward rule.
    pub(crate) fn record(&self, value: Tensor, inputs: &[Var<'_>], op: impl Backward + 'static) -> Var<'_> {
        let requires_grad = self.record && {
            let nodes = self.nodes.borrow();
            inputs.iter().any(|v| nodes[v.id].requires_grad)
        };
        if !requires_grad {
            let label = self.record.then(|| op.name().to_string());
            return self.push(Node { value, op: None, inputs: vec![], requires_grad: false, param: None, label });
        }
        let ids = inputs.iter().map(|v| v.id).collect();
        self.push(Node { value, op: Some(Box::new(op)), inputs: ids, requires_grad: true, param: None, label: None })
    }

    /// Borrow of the value of node `id`.
    pub(crate) fn value_ref(&self, id: usize) -> Ref<'_, Tensor> {
        Ref::map(self.nodes.borrow(), |n| &n[id].value)
    }

    /// Reverse-mode differentiation of a scalar `loss`: gradients of every
    /// parameter are added to the parameters; gradients of leaves are returned.
    ///
    /// # Panics
    /// When `loss` is not a one-element tensor or the graph does not record.
    pub fn backward(&self, loss: Var<'_>) -> Gradients {
        self.run_backward(loss, false)
    }

    /// Like [`Graph::backward`] but keeps the gradient of every node, for
    /// drawing a graph with its gradients.
    pub fn backward_keep_all(&self, loss: Var<'_>) -> Gradients {
        self.run_backward(loss, true)
    }

    fn run_backward(&self, loss: Var<'_>, keep_all: bool) -> Gradients {
        assert!(self.record, "backward: this graph was built with Graph::no_grad() and recorded nothing");
        let nodes = self.nodes.borrow();
        let root = &nodes[loss.id];
        assert_eq!(
            root.value.numel(),
            1,
            "backward: the loss must be a single value, got shape {:?} (reduce it with .sum() or .mean())",
            root.value.shape()
        );
        let mut grads: Vec<Option<Tensor>> = vec![None; nodes.len()];
        grads[loss.id] = Some(Tensor::ones(root.value.shape()));
        for id in (0..=loss.id).rev() {
            let node = &nodes[id];
            let Some(op) = &node.op else { continue };
            let Some(grad) = (if keep_all { grads[id].clone() } else { grads[id].take() }) else { continue };
            let ctx = BackwardCtx {
                inputs: node.inputs.iter().map(|&i| &nodes[i].value).collect(),
                output: &node.value,
                grad: &grad,
                needs: node.inputs.iter().map(|&i| nodes[i].requires_grad).collect(),
            };
            let input_grads = op.backward(&ctx);
            debug_assert_eq!(input_grads.len(), node.inputs.len(), "{}: wrong number of gradients", op.name());
            for (&input, g) in node.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !nodes[input].requires_grad {
                    continue;
                }
                debug_assert_eq!(
                    g.shape(),
                    nodes[input].value.shape(),
                    "{}: gradient shape differs from input",
                    op.name()
                );
                match &mut grads[input] {
                    Some(acc) => acc.add_scaled_inplace(&g, 1.0),
                    slot @ None => *slot = Some(g),
                }
            }
        }
        for (node, grad) in nodes.iter().zip(&grads) {
            if let (Some(p), Some(g)) = (&node.param, grad) {
                p.accumulate_grad(g);
            }
        }
        Gradients { grads }
    }

    /// Visits every node in creation order: (id, op name, input ids, value, is a parameter).
    /// Used to draw graphs.
    pub fn visit_nodes(&self, mut f: impl FnMut(NodeInfo<'_>)) {
        for (id, n) in self.nodes.borrow().iter().enumerate() {
            let op = n.op.as_ref().map(|o| o.name()).or(n.label.as_deref());
            f(NodeInfo { id, op, inputs: &n.inputs, value: &n.value, is_param: n.param.is_some() });
        }
    }
}

/// A read-only view of one graph node, for drawing graphs.
pub struct NodeInfo<'a> {
    /// Position in the graph.
    pub id: usize,
    /// The op that made it (`None` for leaves and constants).
    pub op: Option<&'a str>,
    /// Ids of its inputs.
    pub inputs: &'a [usize],
    /// Its forward value.
    pub value: &'a Tensor,
    /// Whether it is a trainable parameter.
    pub is_param: bool,
}

/// Gradients from one backward pass.
pub struct Gradients {
    grads: Vec<Option<Tensor>>,
}

impl Gradients {
    /// dLoss/dv for a leaf (or any node after [`Graph::backward_keep_all`]);
    /// `None` where no gradient reached it.
    pub fn wrt(&self, v: Var<'_>) -> Option<&Tensor> {
        self.grads.get(v.id).and_then(|g| g.as_ref())
    }

    /// The gradient of node `id`, as numbered by [`Graph::visit_nodes`].
    pub fn by_id(&self, id: usize) -> Option<&Tensor> {
        self.grads.get(id).and_then(|g| g.as_ref())
    }
}

impl<'g> Var<'g> {
    /// The node's value (shares the buffer).
    pub fn value(&self) -> Tensor {
        self.graph.value_ref(self.id).clone()
    }

    /// The node's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.graph.value_ref(self.id).shape().to_vec()
    }

    /// The single value of a one-element node.
    pub fn item(&self) -> f32 {
        self.graph.value_ref(self.id).item()
    }

    /// The graph this value lives in.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Its position in the graph.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Records a new node computed from `self` (and `others`) with backward rule `op`.
    pub(crate) fn derive(&self, value: Tensor, others: &[Var<'g>], op: impl Backward + 'static) -> Var<'g> {
        let mut inputs = Vec::with_capacity(1 + others.len());
        inputs.push(*self);
        inputs.extend_from_slice(others);
        self.graph.record(value, &inputs, op)
    }
}

impl std::fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var#{} {:?}", self.id, self.graph.value_ref(self.id))
    }
}
