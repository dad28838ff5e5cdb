//! Where a NaN came from: the first node of a step's graph whose value
//! (forward) or gradient (backward) is not finite, named with its op, the
//! layer it belongs to, its inputs' shapes and ranges, and a hint for that op
//! (exp overflow, log of 0, 0/0, sqrt of a negative, weights grown too large).
//!
//! The [`Trainer`](super::Trainer) calls these when a loss or a gradient turns
//! non-finite; [`first_non_finite`] and [`forward_origin`] work on any graph.

use crate::autograd::{Graph, NonFiniteGrad, Param, Var};
use crate::viz::format_number;
use crate::Tensor;
use std::collections::VecDeque;
use std::fmt;

/// The largest exp argument whose result is a finite f32: ln(f32::MAX).
const EXP_LIMIT: f32 = 88.72;
/// Inputs from this magnitude on can overflow f32 in a product or a sum
/// (about sqrt(f32::MAX) / 1e4): below it, a non-finite result is not an overflow.
const LARGE: f32 = 1e15;

/// What produced the first non-finite value of a graph ([`first_non_finite`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NonFiniteSource {
    /// An input given to the graph (a batch of data, a constant or a leaf).
    Input,
    /// A parameter's value.
    Parameter,
    /// An op, by name, from inputs that were all finite.
    Op(String),
}

/// The first node of a graph, in the order it was recorded, holding a NaN or
/// an infinity: the origin of every non-finite value after it.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    /// Its node id (as numbered by [`Graph::visit_nodes`](crate::Graph::visit_nodes); drawings call it `n<id>`).
    pub id: usize,
    /// What made it.
    pub source: NonFiniteSource,
    /// Its first non-finite element.
    pub value: f32,
    /// How many of its elements are not finite.
    pub count: usize,
    /// How many elements it has.
    pub len: usize,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.source {
            NonFiniteSource::Input => "the input".to_string(),
            NonFiniteSource::Parameter => "a parameter".to_string(),
            NonFiniteSource::Op(op) => format!("op '{op}'"),
        };
        let v = format_number(self.value);
        if self.len == 1 {
            write!(f, "{what} (node n{}) is {v}", self.id)
        } else {
            write!(f, "{what} (node n{}) holds {} non-finite of {} values (first {v})", self.id, self.count, self.len)
        }
    }
}

/// The first node that `output` may depend on (recorded at or before it)
/// whose value holds a NaN or an infinity, or `None` when all are finite.
///
/// ```
/// use backprop::train::{first_non_finite, NonFiniteSource};
/// use backprop::{Graph, Tensor};
/// let g = Graph::new();
/// let a = g.leaf(Tensor::scalar(1.0));
/// let b = g.constant(Tensor::scalar(0.0));
/// let j = (a / b).log(); // inf, then log(inf) = inf
/// let origin = first_non_finite(j).unwrap();
/// assert_eq!(origin.source, NonFiniteSource::Op("div".into()));
/// assert_eq!(origin.to_string(), "op 'div' (node n2) is inf");
/// ```
pub fn first_non_finite(output: Var<'_>) -> Option<NonFinite> {
    first_non_finite_upto(output.graph(), output.id())
}

/// [`first_non_finite`] among the nodes `0..=last` of `g`.
fn first_non_finite_upto(g: &Graph, last: usize) -> Option<NonFinite> {
    let mut found = None;
    g.visit_nodes(|n| {
        if found.is_some() || n.id > last {
            return;
        }
        let data = n.value.data();
        let Some(&value) = data.iter().find(|v| !v.is_finite()) else { return };
        let source = match (n.op, n.is_param) {
            (_, true) => NonFiniteSource::Parameter,
            (Some(op), false) => NonFiniteSource::Op(op.to_string()),
            (None, false) => NonFiniteSource::Input,
        };
        let count = data.iter().filter(|v| !v.is_finite()).count();
        found = Some(NonFinite { id: n.id, source, value, count, len: data.len() });
    });
    found
}

/// A tensor in a few figures: its shape, its smallest and largest finite
/// values and how many values are not finite.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The shape.
    pub shape: Vec<usize>,
    /// Smallest finite value (NaN when none is finite).
    pub min: f32,
    /// Largest finite value (NaN when none is finite).
    pub max: f32,
    /// How many values are NaN or infinite.
    pub non_finite: usize,
    /// The first of those.
    pub first_non_finite: Option<f32>,
}

impl Summary {
    /// Summarises `t`.
    ///
    /// ```
    /// use backprop::{train::Summary, Tensor};
    /// let s = Summary::of(&Tensor::from_vec(vec![0.5, f32::NAN, -2.0], &[3]));
    /// assert_eq!(s.to_string(), "[3] min -2 max 0.5, 1 of 3 non-finite (first NaN)");
    /// ```
    pub fn of(t: &Tensor) -> Summary {
        let (mut min, mut max, mut non_finite, mut first) = (f32::INFINITY, f32::NEG_INFINITY, 0, None);
        for &v in t.data() {
            if v.is_finite() {
                min = min.min(v);
                max = max.max(v);
            } else {
                non_finite += 1;
                first.get_or_insert(v);
            }
        }
        if min > max {
            (min, max) = (f32::NAN, f32::NAN);
        }
        Summary { shape: t.shape().to_vec(), min, max, non_finite, first_non_finite: first }
    }

    /// The largest finite magnitude.
    pub fn max_abs(&self) -> f32 {
        self.min.abs().max(self.max.abs())
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shape)?;
        if !self.min.is_nan() {
            write!(f, " min {} max {}", format_number(self.min), format_number(self.max))?;
        }
        if let Some(v) = self.first_non_finite {
            write!(f, ", {} of {} non-finite (first {})", self.non_finite, self.len(), format_number(v))?;
        }
        Ok(())
    }
}

/// Which pass of a step made a non-finite value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// A value of the forward pass.
    Forward,
    /// A gradient of the backward pass.
    Backward,
}

/// The origin of the first non-finite value of a training step: the node,
/// what made it, the layer it belongs to, its inputs and a hint.
///
/// Its `Display` is the details, one indented line each (op, inputs, result,
/// hint); [`Origin::headline`] is the one-line summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// Forward value or backward gradient.
    pub pass: Pass,
    /// The node id (as numbered by [`Graph::visit_nodes`]).
    pub node: usize,
    /// The data, a parameter, or an op from finite inputs.
    pub source: NonFiniteSource,
    /// The parameter's name (a [`NonFiniteSource::Parameter`]), or the layer an
    /// op belongs to: `in layers.2` when a parameter of that layer is one of
    /// its inputs, `after layers.2` when the nearest one upstream is.
    pub place: Option<String>,
    /// Each input: a label (`input 0`, or the parameter's name) and its summary.
    pub inputs: Vec<(String, Summary)>,
    /// Backward: the gradient the op received (finite).
    pub incoming: Option<Summary>,
    /// The non-finite value: the node's value (forward) or the gradient the op
    /// gave its input (backward).
    pub result: Summary,
    /// What usually causes it, for this op and these inputs.
    pub hint: String,
    /// Whether the value overflowed f32's range (values grown too large, as a
    /// learning rate too high makes them) rather than being undefined at the
    /// op's input (log 0, 0/0, sqrt of a negative) or coming from the data.
    pub overflow: bool,
}

impl Origin {
    /// One line: what made the first non-finite value and where.
    ///
    /// `op 'log' (node n4) in layers.0 made the first non-finite value of the forward pass`
    pub fn headline(&self) -> String {
        let n = self.node;
        let place = self.place.as_ref().map(|p| format!(" {p}")).unwrap_or_default();
        let counted = |s: &Summary| match s.len() {
            1 => format!("is {}", format_number(s.first_non_finite.unwrap_or(f32::NAN))),
            len => format!("holds {} non-finite of {len} values", s.non_finite),
        };
        match (&self.source, self.pass) {
            (NonFiniteSource::Input, _) => format!("the input (node n{n}) {}", counted(&self.result)),
            (NonFiniteSource::Parameter, _) => {
                let name = self.place.as_deref().unwrap_or("?");
                format!("parameter '{name}' (node n{n}) {}", counted(&self.result))
            }
            (NonFiniteSource::Op(op), Pass::Forward) => {
                format!("op '{op}' (node n{n}){place} made the first non-finite value of the forward pass")
            }
            (NonFiniteSource::Op(op), Pass::Backward) => {
                format!("op '{op}' (node n{n}){place} made the first non-finite gradient of the backward pass")
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place.as_ref().map(|p| format!(" {p}")).unwrap_or_default();
        match &self.source {
            NonFiniteSource::Op(op) => {
                let pass = if self.pass == Pass::Forward { "forward" } else { "backward" };
                writeln!(f, "  op:       {op} (node n{}, {pass}){place}", self.node)?;
            }
            NonFiniteSource::Input => writeln!(f, "  node:     n{}, an input of the graph (the data)", self.node)?,
            NonFiniteSource::Parameter => writeln!(f, "  node:     n{}, parameter{place}", self.node)?,
        }
        for (label, s) in &self.inputs {
            writeln!(f, "  {label}: {s}")?;
        }
        if let Some(s) = &self.incoming {
            writeln!(f, "  incoming gradient: {s}")?;
        }
        let what = if self.pass == Pass::Forward { "value:" } else { "gradient:" };
        writeln!(f, "  {what:<9} {}", self.result)?;
        write!(f, "  hint:     {}", self.hint)
    }
}

/// The names of parameters, matched by identity: what the trainer's optimizers hold.
pub type ParamNames<'a> = &'a [(String, Param)];

/// The origin of the first non-finite value among the nodes of `g` up to
/// `last` (the loss; every node with `g.len() - 1`), or `None` when all are
/// finite. `names` names the parameters (may be empty).
///
/// ```
/// use backprop::train::{forward_origin, NonFiniteSource};
/// use backprop::{Graph, Param, Tensor};
/// let w = Param::new(Tensor::from_vec(vec![1.0, 0.0], &[2]));
/// let g = Graph::new();
/// let loss = g.param(&w).log().sum(); // log 0 = -inf
/// let origin = forward_origin(&g, loss.id(), &[("layers.0.weight".into(), w.clone())]).unwrap();
/// assert_eq!(origin.source, NonFiniteSource::Op("log".into()));
/// assert_eq!(origin.place.as_deref(), Some("in layers.0"));
/// assert!(origin.hint.starts_with("log of 0 is -inf"), "{}", origin.hint);
/// ```
pub fn forward_origin(g: &Graph, last: usize, names: ParamNames<'_>) -> Option<Origin> {
    let found = first_non_finite_upto(g, last)?;
    let mut origin = None;
    g.visit_nodes(|n| {
        if n.id != found.id {
            return;
        }
        let inputs: Vec<Tensor> = n.inputs.iter().map(|&i| g.value_ref(i).clone()).collect();
        let (hint, overflow) = match &found.source {
            NonFiniteSource::Input => undefined(
                "the data holds NaN or infinite values (or values too large for f32), so no learning rate can \
                 help; check the data set",
            ),
            NonFiniteSource::Parameter => undefined("the parameter itself is not finite"),
            NonFiniteSource::Op(op) => forward_hint(op, &inputs, n.value),
        };
        let place = match found.source {
            NonFiniteSource::Parameter => n.param.and_then(|p| name_of(p, names)).map(str::to_string),
            _ => place_of(g, n.id, names),
        };
        origin = Some(Origin {
            pass: Pass::Forward,
            node: n.id,
            source: found.source.clone(),
            place,
            inputs: input_summaries(g, n.inputs, names),
            incoming: None,
            result: Summary::of(n.value),
            hint,
            overflow,
        });
    });
    origin
}

/// The origin of a non-finite gradient found by [`Graph::try_backward`].
pub fn backward_origin(g: &Graph, bad: &NonFiniteGrad, names: ParamNames<'_>) -> Origin {
    let mut ids = Vec::new();
    g.visit_nodes(|n| {
        if n.id == bad.node {
            ids = n.inputs.to_vec();
        }
    });
    let inputs: Vec<Tensor> = ids.iter().map(|&i| g.value_ref(i).clone()).collect();
    let (hint, overflow) = if bad.summed {
        overflowed(format!(
            "the op's gradient for input {} was finite, but its sum with the gradients from the input's \
             other uses overflowed ({})",
            bad.input,
            overflow_note()
        ))
    } else {
        backward_hint(bad.op, bad.input, &inputs, &bad.incoming)
    };
    Origin {
        pass: Pass::Backward,
        node: bad.node,
        source: NonFiniteSource::Op(bad.op.to_string()),
        place: place_of(g, bad.node, names),
        inputs: input_summaries(g, &ids, names),
        incoming: Some(Summary::of(&bad.incoming)),
        result: Summary::of(&bad.grad),
        hint,
        overflow,
    }
}

/// Each input of a node: its label (`input 0`, or a parameter's name) and summary.
fn input_summaries(g: &Graph, ids: &[usize], names: ParamNames<'_>) -> Vec<(String, Summary)> {
    let mut out: Vec<(String, Summary)> =
        ids.iter().enumerate().map(|(k, &i)| (format!("input {k}"), Summary::of(&g.value_ref(i)))).collect();
    g.visit_nodes(|n| {
        if let (Some(k), Some(p)) = (ids.iter().position(|&i| i == n.id), n.param)
            && let Some(name) = name_of(p, names)
        {
            out[k].0 = format!("input {k} = {name}");
        }
    });
    out
}

/// The name of `p` among `names`.
fn name_of<'a>(p: &Param, names: ParamNames<'a>) -> Option<&'a str> {
    names.iter().find(|(_, q)| q.same_as(p)).map(|(n, _)| n.as_str())
}

/// `in layers.2` when a parameter of layer `layers.2` is an input of node
/// `id`, `after layers.2` when the nearest parameter upstream (breadth first)
/// is, `None` when no named parameter is upstream.
fn place_of(g: &Graph, id: usize, names: ParamNames<'_>) -> Option<String> {
    let (layer, direct) = layer_of(g, id, names)?;
    Some(format!("{} {layer}", if direct { "in" } else { "after" }))
}

/// The layer of node `id`: that of the nearest named parameter upstream
/// (breadth first; a parameter's name less its last part, `layers.2` for
/// `layers.2.weight`), and whether that parameter is a direct input.
pub(crate) fn layer_of(g: &Graph, id: usize, names: ParamNames<'_>) -> Option<(String, bool)> {
    let mut inputs: Vec<Vec<usize>> = Vec::new();
    let mut params: Vec<Option<String>> = Vec::new();
    g.visit_nodes(|n| {
        if n.id <= id {
            inputs.push(n.inputs.to_vec());
            params.push(n.param.and_then(|p| name_of(p, names)).map(str::to_string));
        }
    });
    let mut queue: VecDeque<(usize, usize)> = inputs[id].iter().map(|&i| (i, 1)).collect();
    let mut seen = vec![false; inputs.len()];
    while let Some((node, depth)) = queue.pop_front() {
        if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        if let Some(name) = &params[node] {
            return Some((layer_name(name).to_string(), depth == 1));
        }
        queue.extend(inputs[node].iter().map(|&i| (i, depth + 1)));
    }
    None
}

/// The layer of a parameter: its name less the last part (`layers.2` for
/// `layers.2.weight`; a name without a dot is its own layer).
pub(crate) fn layer_name(param: &str) -> &str {
    param.rsplit_once('.').map_or(param, |(layer, _)| layer)
}

fn overflow_note() -> String {
    format!("f32 ends at {}", format_number(f32::MAX))
}

/// Why op `op` made a non-finite `out` from finite `inputs`.
fn forward_hint(op: &str, inputs: &[Tensor], out: &Tensor) -> (String, bool) {
    let s: Vec<Summary> = inputs.iter().map(Summary::of).collect();
    let nan_out = out.data().iter().any(|v| v.is_nan());
    let has_zero = |t: &Tensor| t.data().contains(&0.0);
    match (op, s.as_slice()) {
        ("exp", [x]) if x.max > EXP_LIMIT => overflowed(format!(
            "exp overflows f32 for inputs above {EXP_LIMIT} (e^{EXP_LIMIT} is about {}), and the largest input is {}; \
             compute through log-sum-exp or a fused loss (cross_entropy, bce_with_logits)",
            format_number(f32::MAX),
            format_number(x.max)
        )),
        ("log", [x]) if x.min < 0.0 => {
            undefined(format!("log of a negative number is NaN, and the smallest input is {}", format_number(x.min)))
        }
        ("log", [x]) if x.min == 0.0 => undefined(
            "log of 0 is -inf, and the input reaches 0; add a small epsilon, or compute the log from logits \
             (log_softmax, bce_with_logits)",
        ),
        ("sqrt", [x]) if x.min < 0.0 => {
            undefined(format!("sqrt of a negative number is NaN, and the smallest input is {}", format_number(x.min)))
        }
        ("div", [a, b]) if has_zero(&inputs[1]) => {
            if nan_out && (a.min <= 0.0 && a.max >= 0.0) {
                undefined(
                    "0/0 is NaN: the divisor is 0 where the dividend is 0 too; add a small epsilon to the divisor",
                )
            } else {
                undefined(format!("division by 0 (the divisor {b} reaches 0); add a small epsilon to the divisor"))
            }
        }
        ("rdiv_scalar", [x]) if has_zero(&inputs[0]) => {
            undefined(format!("division by 0 (the divisor {x} reaches 0); add a small epsilon to the divisor"))
        }
        ("pow", [x, ..]) if x.min < 0.0 && nan_out => undefined(format!(
            "a negative number to a fractional power is NaN; the base goes down to {}",
            format_number(x.min)
        )),
        ("pow", _) if has_zero(&inputs[0]) => undefined("0 to a negative power is inf, and the base reaches 0"),
        ("add_scalar" | "mul_scalar" | "rsub_scalar" | "rdiv_scalar", [x]) if x.max_abs() < LARGE => {
            let what = if nan_out { "NaN" } else { "infinite (or too large)" };
            undefined(format!(
                "the op's scalar operand is {what}: its input is finite and moderate (up to {} in magnitude)",
                format_number(x.max_abs())
            ))
        }
        _ => {
            let largest = s.iter().map(Summary::max_abs).fold(0.0f32, f32::max);
            if largest >= LARGE {
                overflowed(format!(
                    "the result overflowed ({}) from inputs up to {} in magnitude: values in the network have \
                     grown too large",
                    overflow_note(),
                    format_number(largest)
                ))
            } else {
                undefined(format!(
                    "a non-finite result from finite inputs of moderate size (up to {} in magnitude)",
                    format_number(largest)
                ))
            }
        }
    }
}

/// Why op `op`'s backward rule made a non-finite gradient for input `input`
/// from a finite `incoming` one.
fn backward_hint(op: &str, input: usize, inputs: &[Tensor], incoming: &Tensor) -> (String, bool) {
    let x = inputs.get(input).map(Summary::of);
    let zero = inputs.get(input).is_some_and(|t| t.data().contains(&0.0));
    match (op, input) {
        ("sqrt", 0) if zero => undefined(
            "the derivative of sqrt x is 1/(2 sqrt x), infinite at x = 0, and the input reaches 0; add a small \
             epsilon under the root",
        ),
        ("log", 0) if zero => undefined("the derivative of log x is 1/x, infinite at x = 0, and the input reaches 0"),
        ("div", 1) if zero => undefined(
            "the derivative of a/b with respect to b is -a/b^2, infinite where b = 0, and the divisor reaches 0",
        ),
        ("pow", 0) if zero => {
            undefined("the derivative of x^p is p x^(p-1), infinite at x = 0 for p < 1, and the base reaches 0")
        }
        _ => {
            let largest = x.map_or(0.0, |s| s.max_abs());
            overflowed(format!(
                "the gradient overflowed ({}): the incoming gradient reaches {} in magnitude and the input {}; \
                 values in the network have grown too large",
                overflow_note(),
                format_number(Summary::of(incoming).max_abs()),
                format_number(largest)
            ))
        }
    }
}

/// A hint for an op undefined at its input (log 0, 0/0, sqrt of a negative).
fn undefined(text: impl Into<String>) -> (String, bool) {
    (text.into(), false)
}

/// A hint for a value beyond f32's range.
fn overflowed(text: String) -> (String, bool) {
    (text, true)
}
