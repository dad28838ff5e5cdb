//! Backpropagation step by step: a scalar computation graph, after forward
//! and backward, as the numbered steps of a course — each op's value from its
//! inputs in the order the tape recorded them, then, in reverse, each op's
//! local derivatives, the gradient it received and their products (the chain
//! rule). Every number comes from the graph: values from the forward pass,
//! gradients from [`Graph::backward_keep_all`](crate::Graph::backward_keep_all),
//! local derivatives from each op's own backward rule
//! ([`Graph::local_derivatives`](crate::Graph::local_derivatives)).

use super::render::{ancestors, format_number};
use crate::autograd::{Gradients, Var};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Names given to unnamed intermediate nodes, in order, as in the course's
/// `u = bc, v = a + u`; then `n1`, `n2`, ...
const AUTO_NAMES: [&str; 10] = ["u", "v", "w", "p", "q", "r", "s", "t", "k", "m"];

/// What a node is, for the drawing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    /// A leaf that gradient descent updates (a variable, a weight).
    Variable,
    /// A named leaf that stays fixed (an input, a target).
    Input,
    /// A number.
    Constant,
    /// An op.
    Op,
}

/// One node of a [`Walkthrough`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepNode {
    /// The node id in the graph.
    pub id: usize,
    /// Its name (`a`, `u`, `J`, `W1[0,1]`); a constant's is its value.
    pub name: String,
    /// What it is.
    pub role: StepRole,
    /// The op's name (`mul`, `relu`), for ops.
    pub op: Option<String>,
    /// The op in terms of its inputs' names: `b × c`, `relu(z1[0])`.
    pub formula: Option<String>,
    /// The same with the inputs' values: `3 × 2`.
    pub with_values: Option<String>,
    /// Its input node ids.
    pub inputs: Vec<usize>,
    /// Its value (forward pass).
    pub value: f32,
    /// dOutput/dNode (backward pass); `None` where no gradient flows.
    pub grad: Option<f32>,
    /// d(node)/d(input) for each input, from the op's backward rule; `None`
    /// for inputs no gradient flows into.
    pub local: Vec<Option<f32>>,
}

/// A scalar graph ready to be stepped through: the nodes the output depends
/// on, in the order they were recorded (the forward order; backward walks
/// the ops in reverse).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Walkthrough {
    /// The output's node id (the loss, `J`).
    pub output: usize,
    /// The nodes.
    pub nodes: Vec<StepNode>,
}

impl Walkthrough {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&StepNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The numbered steps, one line each: the forward pass (`u = b × c = 3 × 2 = 6`),
    /// then the backward pass, one line per op input
    /// (`dJ/db = dJ/du × du/db = 3 × 2 = 6`).
    ///
    /// ```
    /// use backprop::viz::{walkthrough, Expr};
    /// use backprop::Graph;
    /// let g = Graph::new();
    /// let e = Expr::parse("3*(a + b*c)")?.build(&g, &[("a", 5.0), ("b", 3.0), ("c", 2.0)])?;
    /// let grads = g.backward_keep_all(e.output);
    /// let names = e.leaves.iter().map(|(n, v)| (v.id(), n.clone())).collect();
    /// let steps = walkthrough(e.output, &grads, &names, None)?.steps();
    /// assert_eq!(
    ///     steps,
    ///     [
    ///         "u = b × c = 3 × 2 = 6",
    ///         "v = a + u = 5 + 6 = 11",
    ///         "J = 3 × v = 3 × 11 = 33",
    ///         "dJ/dv = dJ/dJ × dJ/dv = 1 × 3 = 3",
    ///         "dJ/da = dJ/dv × dv/da = 3 × 1 = 3",
    ///         "dJ/du = dJ/dv × dv/du = 3 × 1 = 3",
    ///         "dJ/db = dJ/du × du/db = 3 × 2 = 6",
    ///         "dJ/dc = dJ/du × du/dc = 3 × 3 = 9",
    ///     ]
    /// );
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn steps(&self) -> Vec<String> {
        let by_id: BTreeMap<usize, &StepNode> = self.nodes.iter().map(|n| (n.id, n)).collect();
        let out = &by_id[&self.output].name;
        let mut lines = Vec::new();
        for n in self.nodes.iter().filter(|n| n.role == StepRole::Op) {
            let (formula, with_values) = (n.formula.as_deref().unwrap_or("?"), n.with_values.as_deref().unwrap_or("?"));
            lines.push(format!("{} = {formula} = {with_values} = {}", n.name, format_number(n.value)));
        }
        for n in self.nodes.iter().rev().filter(|n| n.role == StepRole::Op) {
            let Some(g) = n.grad else { continue };
            for (input, local) in n.inputs.iter().zip(&n.local) {
                let Some(local) = local else { continue };
                let x = &by_id[input].name;
                lines.push(format!(
                    "d{out}/d{x} = d{out}/d{} × d{}/d{x} = {} × {} = {}",
                    n.name,
                    n.name,
                    format_number(g),
                    format_number(*local),
                    format_number(g * local)
                ));
            }
        }
        lines
    }
}

/// An op written with its operands: `a × b`, `relu(x)`, `x^2`; `label` is an
/// op label of [`Expr::build`](super::Expr::build) (`neg`, `^2`).
fn formula_of(op: &str, label: Option<&str>, args: &[&str]) -> Option<String> {
    let paren = |s: &str| if s.contains(' ') { format!("({s})") } else { s.to_string() };
    Some(match (op, label, args) {
        (_, Some("neg"), [x]) => format!("-{}", paren(x)),
        (_, Some(power), [x]) if power.starts_with('^') => format!("{}{power}", paren(x)),
        ("add", _, [a, b]) => format!("{a} + {b}"),
        ("sub", _, [a, b]) => format!("{a} - {}", paren(b)),
        ("mul", _, [a, b]) => format!("{} × {}", paren(a), paren(b)),
        ("div", _, [a, b]) => format!("{} / {}", paren(a), paren(b)),
        ("pow", _, [a, b]) => format!("{} ^ {}", paren(a), paren(b)),
        ("square", _, [x]) => format!("{}^2", paren(x)),
        ("abs", _, [x]) => format!("|{x}|"),
        (f, _, [x]) => format!("{f}({x})"),
        _ => return None,
    })
}

/// Builds the [`Walkthrough`] of `output` after
/// [`Graph::backward_keep_all`](crate::Graph::backward_keep_all) (`grads`).
/// `names` names leaves (and may name ops); `trainable` lists the leaves
/// gradient descent updates (`None`: every named leaf a gradient flows into);
/// unnamed ops are called `u`, `v`, `w`, ... and the output `J` unless named.
/// Op labels of [`Expr::build`](super::Expr::build) (`neg`, `^2`) may be in
/// `names` too: they set the op's formula, not its name.
///
/// # Errors
/// When a node holds more than one value (the view is of scalar graphs).
pub fn walkthrough(
    output: Var<'_>,
    grads: &Gradients,
    names: &BTreeMap<usize, String>,
    trainable: Option<&[usize]>,
) -> Result<Walkthrough> {
    let g = output.graph();
    let out = output.id();
    let mut raw = Vec::new();
    g.visit_nodes(|n| {
        if n.id <= out {
            let op = n.op.map(str::to_string);
            raw.push((op, n.inputs.to_vec(), n.value.numel(), n.value.data().first().copied(), n.requires_grad));
        }
    });
    if let Some((id, (_, _, len, _, _))) = raw.iter().enumerate().find(|(_, r)| r.2 != 1) {
        return Err(Error::invalid(
            "graph",
            format!("node n{id} holds {len} values; the step-by-step view shows scalar graphs only"),
        ));
    }
    let inputs: Vec<&[usize]> = raw.iter().map(|r| r.1.as_slice()).collect();
    let needed = ancestors(&inputs, out);
    let is_op_label = |s: &str| s == "neg" || s.starts_with('^');
    let taken: Vec<&str> = names.values().map(String::as_str).collect();
    let mut auto = AUTO_NAMES.iter().filter(|n| !taken.contains(n)).map(|n| n.to_string());
    let mut extra = 0;
    let mut nodes = Vec::new();
    let mut name_of: BTreeMap<usize, String> = BTreeMap::new();
    for (id, (op, ins, _, value, requires_grad)) in raw.iter().enumerate().filter(|(id, _)| needed[*id]) {
        let given = names.get(&id).filter(|n| !is_op_label(n)).cloned();
        let value = value.unwrap_or(f32::NAN);
        let role = match (op, &given) {
            (Some(_), _) => StepRole::Op,
            (None, Some(_)) if trainable.map_or(*requires_grad, |t| t.contains(&id)) => StepRole::Variable,
            (None, Some(_)) => StepRole::Input,
            (None, None) => StepRole::Constant,
        };
        let name = match (given, role) {
            (Some(n), _) => n,
            (None, StepRole::Constant) => format_number(value),
            (None, _) if id == out => "J".to_string(),
            (None, _) => auto.next().unwrap_or_else(|| {
                extra += 1;
                format!("n{extra}")
            }),
        };
        let label = names.get(&id).map(String::as_str).filter(|l| is_op_label(l));
        let formula = op.as_ref().and_then(|op| {
            let args: Vec<&str> = ins.iter().map(|i| name_of.get(i).map_or("?", String::as_str)).collect();
            formula_of(op, label, &args)
        });
        let with_values = op.as_ref().and_then(|op| {
            let number = |i: usize| match format_number(raw[i].3.unwrap_or(f32::NAN)) {
                v if v.starts_with('-') => format!("({v})"),
                v => v,
            };
            let args: Vec<String> = ins.iter().map(|&i| number(i)).collect();
            formula_of(op, label, &args.iter().map(String::as_str).collect::<Vec<_>>())
        });
        let local = if op.is_some() {
            g.local_derivatives(id).into_iter().map(|d| d.map(|t| t.item())).collect()
        } else {
            Vec::new()
        };
        name_of.insert(id, name.clone());
        nodes.push(StepNode {
            id,
            name,
            role,
            op: op.clone(),
            formula,
            with_values,
            inputs: ins.clone(),
            value,
            grad: grads.by_id(id).map(|t| t.item()),
            local,
        });
    }
    Ok(Walkthrough { output: out, nodes })
}
