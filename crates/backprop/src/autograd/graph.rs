//! The tape: a define-by-run graph of values, and `Var`, a handle to one of them.
//!
//! Each operation on a [`Var`] computes its value at once and, when the graph
//! records and some input needs a gradient, appends a node holding the inputs
//! and the op's backward rule. [`Graph::backward`] walks the nodes once in
//! reverse, applying the chain rule.

use super::gradients::{Gradients, NonFiniteGrad};
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

/// How [`Graph::run_backward`] runs.
#[derive(Clone, Copy, Default)]
struct Pass {
    /// Keep every node's gradient, not only the leaves'.
    keep_all: bool,
    /// Stop at the first non-finite gradient.
    check: bool,
    /// Sum the squares of each parameter's gradient.
    sums: bool,
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
/// [`Graph::inputs_only`] differentiates with respect to inputs alone
/// (saliency, attacks), and [`Graph::freeze`] leaves chosen parameters out of
/// a training step (a GAN's generator step and the discriminator).
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
    /// Every parameter is a constant ([`Graph::inputs_only`]).
    params_constant: bool,
    /// Parameters that are constants when recorded ([`Graph::freeze`], [`Graph::set_frozen`]).
    frozen: RefCell<Vec<Param>>,
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
    fn with_mode(record: bool, training: bool, params_constant: bool) -> Graph {
        let frozen = RefCell::new(Vec::new());
        Graph { nodes: RefCell::new(Vec::with_capacity(64)), record, training, params_constant, frozen }
    }

    /// A graph that records for backpropagation (training mode).
    pub fn new() -> Graph {
        Self::with_mode(true, true, false)
    }

    /// A graph that records nothing: evaluation / inference.
    pub fn no_grad() -> Graph {
        Self::with_mode(false, false, false)
    }

    /// A graph for gradients with respect to inputs only, in evaluation
    /// behaviour (dropout off, as with [`Graph::no_grad`]): what saliency maps
    /// and adversarial attacks need. Every [`Graph::param`] is a constant
    /// here, so backward computes nothing for paths that reach only
    /// parameters and adds nothing to any [`Param`]'s gradient; read the
    /// inputs' gradients with [`Gradients::wrt`].
    ///
    /// ```
    /// use backprop::{autograd::{Graph, Param}, Tensor};
    /// let w = Param::new(Tensor::from_vec(vec![3.0], &[1]));
    /// let g = Graph::inputs_only();
    /// let x = g.leaf(Tensor::from_vec(vec![2.0], &[1]));
    /// let y = (x * g.param(&w)).sum(); // dy/dx = w = 3
    /// let grads = g.backward(y);
    /// assert_eq!(grads.wrt(x).unwrap().data(), &[3.0]);
    /// assert!(w.grad().is_none()); // the parameter is untouched
    /// ```
    pub fn inputs_only() -> Graph {
        Self::with_mode(true, false, true)
    }

    /// Switches layers to evaluation behaviour while still recording, as
    /// PyTorch's `model.eval()` with gradients enabled: dropout is off and
    /// batch norm normalises with (and does not update) its running
    /// statistics. What a gradient check of a trained model and fine-tuning
    /// with frozen statistics need.
    ///
    /// ```
    /// use backprop::{autograd::{Graph, Param}, Tensor};
    /// let g = Graph::new().eval();
    /// assert!(g.is_recording() && !g.is_training());
    /// let w = Param::new(Tensor::scalar(3.0));
    /// g.backward(g.param(&w) * 2.0);
    /// assert_eq!(w.grad().unwrap().item(), 2.0);
    /// ```
    pub fn eval(mut self) -> Graph {
        self.training = false;
        self
    }

    /// Makes the given parameters constants in this graph: backward computes
    /// and stores no gradient for them (nor for paths that reach only them),
    /// while the other parameters get the same gradients as without freezing.
    /// Takes what [`Module::parameters`](crate::nn::Module::parameters)
    /// returns (`Vec<(String, Param)>`, by value or by reference) or a list of
    /// [`Param`]s; parameters are matched by identity ([`Param::same_as`]).
    ///
    /// ```
    /// use backprop::{autograd::{Graph, Param}, Tensor};
    /// let (generator, disc) = (Param::new(Tensor::scalar(2.0)), Param::new(Tensor::scalar(5.0)));
    /// // A generator step: the loss goes through the discriminator, whose
    /// // parameter stays out of the step.
    /// let g = Graph::new().freeze([&disc]);
    /// let loss = g.param(&generator) * g.param(&disc);
    /// g.backward(loss);
    /// assert_eq!(generator.grad().unwrap().item(), 5.0);
    /// assert!(disc.grad().is_none());
    /// ```
    pub fn freeze<I>(mut self, params: I) -> Graph
    where
        I: IntoIterator,
        I::Item: AsParam,
    {
        for p in params {
            let p = p.as_param();
            if !self.is_frozen(p) {
                self.frozen.get_mut().push(p.clone());
            }
        }
        self
    }

    /// Replaces the frozen parameters (see [`Graph::freeze`]) for what is
    /// recorded from now on; nodes already recorded keep theirs. One graph
    /// can so serve several optimizer steps that share values: a GAN's
    /// generator output, recorded once, trains the discriminator (detached)
    /// and then, with the discriminator frozen, the generator.
    pub fn set_frozen<I>(&self, params: I)
    where
        I: IntoIterator,
        I::Item: AsParam,
    {
        *self.frozen.borrow_mut() = params.into_iter().map(|p| p.as_param().clone()).collect();
    }

    /// Whether `p` is a constant in this graph (frozen, or every parameter is
    /// with [`Graph::inputs_only`]).
    pub fn is_frozen(&self, p: &Param) -> bool {
        self.params_constant || self.frozen.borrow().iter().any(|f| f.same_as(p))
    }

    /// Whether layers should behave as in training (dropout active, batch
    /// norm on batch statistics): true for [`Graph::new`] unless
    /// [`Graph::eval`] was called.
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
    /// In an [`Graph::inputs_only`] graph, or when `p` is frozen
    /// ([`Graph::freeze`]), a constant: no gradient flows into it.
    pub fn param(&self, p: &Param) -> Var<'_> {
        let value = p.value();
        self.push(Node {
            value,
            op: None,
            inputs: vec![],
            requires_grad: self.record && !self.is_frozen(p),
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
            // A recording graph keeps the op's name and inputs (for drawings and
            // for naming the op of a non-finite value), not its backward rule.
            let (label, inputs) = match self.record {
                true => (Some(op.name().to_string()), inputs.iter().map(|v| v.id).collect()),
                false => (None, Vec::new()),
            };
            return self.push(Node { value, op: None, inputs, requires_grad: false, param: None, label });
        }
        let ids = inputs.iter().map(|v| v.id).collect();
        self.push(Node { value, op: Some(Box::new(op)), inputs: ids, requires_grad: true, param: None, label: None })
    }

    /// Borrow of the value of node `id`.
    pub(crate) fn value_ref(&self, id: usize) -> Ref<'_, Tensor> {
        Ref::map(self.nodes.borrow(), |n| &n[id].value)
    }

    /// Reverse-mode differentiation of a scalar `loss`: gradients of every
    /// parameter are added to the parameters (except frozen ones, see
    /// [`Graph::freeze`] and [`Graph::inputs_only`]); gradients of leaves are
    /// returned.
    ///
    /// Backward rules of broadcasting ops return gradients in the broadcast
    /// (output) shape; they are summed back to the input's shape here, once.
    ///
    /// # Panics
    /// When `loss` is not a one-element tensor or the graph does not record.
    pub fn backward(&self, loss: Var<'_>) -> Gradients {
        self.run_backward(loss, Pass::default()).unwrap_or_else(|_| unreachable!("an unchecked backward never fails"))
    }

    /// Like [`Graph::backward`] but keeps the gradient of every node, for
    /// drawing a graph with its gradients.
    pub fn backward_keep_all(&self, loss: Var<'_>) -> Gradients {
        let pass = Pass { keep_all: true, ..Pass::default() };
        self.run_backward(loss, pass).unwrap_or_else(|_| unreachable!("an unchecked backward never fails"))
    }

    /// [`Graph::backward`] that also sums the squares of each parameter's
    /// gradient as it is finished, while it is still in cache (the trainer's
    /// check of every step reads them; [`Gradients::param_sum_squares`]).
    pub(crate) fn backward_summing(&self, loss: Var<'_>) -> Gradients {
        let pass = Pass { sums: true, ..Pass::default() };
        self.run_backward(loss, pass).unwrap_or_else(|_| unreachable!("an unchecked backward never fails"))
    }

    /// [`Graph::backward`] that checks every gradient as it is computed (the
    /// backward half of PyTorch's anomaly mode, `torch.autograd.detect_anomaly`):
    /// at the first op whose backward rule gives an input a NaN or infinite
    /// gradient from a finite incoming one, it stops and says where, leaving
    /// every parameter's gradient as it was. One pass over each gradient
    /// more than `backward`.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let x = g.leaf(Tensor::from_vec(vec![4.0, 0.0], &[2]));
    /// let y = x.sqrt().sum(); // finite: sqrt(0) = 0, but d sqrt(x)/dx = 1/(2 sqrt(x)) is inf at 0
    /// let Err(bad) = g.try_backward(y) else { panic!("sqrt's gradient at 0 is infinite") };
    /// assert_eq!((bad.op, bad.node, bad.input_id), ("sqrt", 1, 0));
    /// assert_eq!(bad.grad.data(), &[0.25, f32::INFINITY]);
    /// ```
    ///
    /// # Errors
    /// The first non-finite gradient, as a [`NonFiniteGrad`].
    ///
    /// # Panics
    /// As [`Graph::backward`].
    pub fn try_backward(&self, loss: Var<'_>) -> Result<Gradients, NonFiniteGrad> {
        self.run_backward(loss, Pass { check: true, ..Pass::default() })
    }

    fn run_backward(&self, loss: Var<'_>, pass: Pass) -> Result<Gradients, NonFiniteGrad> {
        let Pass { keep_all, check, sums } = pass;
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
        // A leaf's gradient is final when the loop reaches it (its consumers
        // come after it): summed then, right after its last op made it.
        let mut leaf_sums = vec![f32::NAN; if sums { nodes.len() } else { 0 }];
        for id in (0..=loss.id).rev() {
            let node = &nodes[id];
            let Some(op) = &node.op else {
                if let (true, Some(_), Some(g)) = (sums, &node.param, &grads[id]) {
                    leaf_sums[id] = g.sum_squares();
                }
                continue;
            };
            let Some(grad) = (if keep_all { grads[id].clone() } else { grads[id].take() }) else { continue };
            let ctx = BackwardCtx {
                inputs: node.inputs.iter().map(|&i| &nodes[i].value).collect(),
                output: &node.value,
                grad: &grad,
                needs: node.inputs.iter().map(|&i| nodes[i].requires_grad).collect(),
            };
            let input_grads = op.backward(&ctx);
            debug_assert_eq!(input_grads.len(), node.inputs.len(), "{}: wrong number of gradients", op.name());
            for (position, (&input, g)) in node.inputs.iter().zip(input_grads).enumerate() {
                let Some(g) = g else { continue };
                if !nodes[input].requires_grad {
                    continue;
                }
                let shape = nodes[input].value.shape();
                // Undo broadcasting: the adjoint of broadcasting is a sum.
                let g = if g.shape() == shape { g } else { g.sum_to_shape(shape) };
                if check && !g.all_finite() {
                    let (op, node, input_id, incoming) = (op.name(), id, input, grad.clone());
                    return Err(NonFiniteGrad {
                        op,
                        node,
                        input: position,
                        input_id,
                        incoming,
                        grad: g,
                        summed: false,
                    });
                }
                match &mut grads[input] {
                    Some(acc) => {
                        acc.add_scaled_inplace(&g, 1.0);
                        if check && !acc.all_finite() {
                            let (op, node, input_id, incoming, grad) =
                                (op.name(), id, input, grad.clone(), acc.clone());
                            return Err(NonFiniteGrad {
                                op,
                                node,
                                input: position,
                                input_id,
                                incoming,
                                grad,
                                summed: true,
                            });
                        }
                    }
                    slot @ None => *slot = Some(g),
                }
            }
        }
        let mut param_sums: Vec<(Param, Option<f32>)> = Vec::new();
        for (id, (node, grad)) in nodes.iter().zip(&grads).enumerate() {
            if let (Some(p), Some(g), true) = (&node.param, grad, node.requires_grad) {
                let fresh = p.accumulate_grad(g);
                if sums {
                    // Exact only for a gradient made by one node from none.
                    match param_sums.iter_mut().find(|(q, _)| q.same_as(p)) {
                        Some((_, sum)) => *sum = None,
                        None => param_sums.push((p.clone(), fresh.then_some(leaf_sums[id]))),
                    }
                }
            }
        }
        Ok(Gradients { grads, param_sums })
    }

    /// The backward rule of op node `id` applied to a gradient of ones: for a
    /// one-element node, the local derivative d(node)/d(input) of each input
    /// (`None` for inputs no gradient flows into, and for leaves and nodes
    /// without a backward rule). What a step-by-step view of the chain rule shows.
    ///
    /// ```
    /// use backprop::{Graph, Tensor};
    /// let g = Graph::new();
    /// let (b, c) = (g.leaf(Tensor::scalar(3.0)), g.leaf(Tensor::scalar(2.0)));
    /// let u = b * c;
    /// let local = g.local_derivatives(u.id());
    /// assert_eq!((local[0].as_ref().unwrap().item(), local[1].as_ref().unwrap().item()), (2.0, 3.0)); // du/db = c, du/dc = b
    /// ```
    ///
    /// # Panics
    /// When `id` is not a node of this graph.
    pub fn local_derivatives(&self, id: usize) -> Vec<Option<Tensor>> {
        let nodes = self.nodes.borrow();
        let node = &nodes[id];
        let Some(op) = &node.op else { return vec![None; node.inputs.len()] };
        let ones = Tensor::ones(node.value.shape());
        let ctx = BackwardCtx {
            inputs: node.inputs.iter().map(|&i| &nodes[i].value).collect(),
            output: &node.value,
            grad: &ones,
            needs: node.inputs.iter().map(|&i| nodes[i].requires_grad).collect(),
        };
        let grads = op.backward(&ctx);
        grads
            .into_iter()
            .zip(&node.inputs)
            .map(|(g, &i)| {
                let shape = nodes[i].value.shape();
                g.filter(|_| nodes[i].requires_grad).map(|g| if g.shape() == shape { g } else { g.sum_to_shape(shape) })
            })
            .collect()
    }

    /// Visits every node in creation order: (id, op name, input ids, value, is a parameter).
    /// Used to draw graphs.
    pub fn visit_nodes(&self, mut f: impl FnMut(NodeInfo<'_>)) {
        for (id, n) in self.nodes.borrow().iter().enumerate() {
            let op = n.op.as_ref().map(|o| o.name()).or(n.label.as_deref());
            f(NodeInfo {
                id,
                op,
                inputs: &n.inputs,
                value: &n.value,
                param: n.param.as_ref(),
                is_param: n.param.is_some(),
                has_backward: n.op.is_some(),
                requires_grad: n.requires_grad,
            });
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
    /// The parameter it holds, for a [`Graph::param`] node (to find its name
    /// among a model's [`parameters`](crate::nn::Module::parameters) with [`Param::same_as`]).
    pub param: Option<&'a Param>,
    /// Whether it is a trainable parameter (frozen or not).
    pub is_param: bool,
    /// Whether the node keeps a backward rule (an op some gradient flows through).
    pub has_backward: bool,
    /// Whether a gradient flows into it (false for constants, frozen
    /// parameters and values computed only from those).
    pub requires_grad: bool,
}

/// Anything that names a [`Param`]: a `Param`, or a `(name, Param)` pair as
/// [`Module::parameters`](crate::nn::Module::parameters) returns; by value or
/// by reference. What [`Graph::freeze`] takes.
pub trait AsParam {
    /// The parameter.
    fn as_param(&self) -> &Param;
}

impl AsParam for Param {
    fn as_param(&self) -> &Param {
        self
    }
}

impl AsParam for (String, Param) {
    fn as_param(&self) -> &Param {
        &self.1
    }
}

impl<T: AsParam + ?Sized> AsParam for &T {
    fn as_param(&self) -> &Param {
        (**self).as_param()
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
