//! Renders a recorded graph with its forward values and gradients as Mermaid
//! flowchart text or Graphviz DOT.
//!
//! Each node shows its name and value: variables and parameters by name,
//! constants by their number, ops by op name with a short name `u1`, `u2`,
//! ... for their value, and the output as `J`. Scalars show their value and
//! `dJ/dnode`; tensors show their shape and the norm of their gradient.

use crate::autograd::{Gradients, Var};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The text format of a drawing.
///
/// ```
/// use backprop::viz::Format;
/// assert_eq!("dot".parse::<Format>(), Ok(Format::Dot));
/// assert_eq!(Format::default().to_string(), "mermaid");
/// assert!("svg".parse::<Format>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid flowchart (renders in GitHub Markdown).
    #[default]
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mermaid" => Ok(Format::Mermaid),
            "dot" | "graphviz" => Ok(Format::Dot),
            _ => Err(format!("unknown format '{s}' (expected mermaid or dot)")),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Mermaid => "mermaid",
            Format::Dot => "dot",
        })
    }
}

/// A number with up to 6 significant digits and no trailing zeros.
///
/// ```
/// use backprop::viz::format_number;
/// assert_eq!(format_number(33.0), "33");
/// assert_eq!(format_number(1.0 / 3.0), "0.333333");
/// assert_eq!(format_number(-2.5e-7), "-2.5e-7");
/// ```
pub fn format_number(v: f32) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let v = v as f64;
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (1e-4..1e7).contains(&v.abs()) {
        let decimals = (5 - v.abs().log10().floor() as i32).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.5e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exponent}", trim(mantissa))
    }
}

/// Draws the part of `output`'s graph that `output` depends on, one node per
/// graph node, edges from inputs to ops. `grads` come from
/// [`Graph::backward_keep_all`](crate::Graph::backward_keep_all) on `output`;
/// `labels` name nodes by id (leaves, parameters, inputs) and override op names.
///
/// ```
/// use backprop::viz::{render, Format};
/// use backprop::{Graph, Tensor};
/// let g = Graph::new();
/// let x = g.leaf(Tensor::scalar(2.0));
/// let j = x * x;
/// let grads = g.backward_keep_all(j);
/// let labels = [(x.id(), "x".to_string())].into();
/// let dot = render(j, &grads, &labels, Format::Dot);
/// assert!(dot.contains("x = 2\\ndJ/dx = 4"), "{dot}");
/// assert_eq!(dot.matches(" -> ").count(), 2); // x feeds the product twice
/// ```
pub fn render(output: Var<'_>, grads: &Gradients, labels: &BTreeMap<usize, String>, format: Format) -> String {
    let nodes = describe(output, grads, labels);
    match format {
        Format::Mermaid => mermaid(&nodes),
        Format::Dot => dot(&nodes),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Leaf,
    Constant,
    Op,
    Output,
}

struct DrawNode {
    id: usize,
    role: Role,
    lines: Vec<String>,
    inputs: Vec<usize>,
}

/// What is kept of a graph node: op name, inputs, scalar value or shape, parameter flag.
struct Seen {
    op: Option<String>,
    inputs: Vec<usize>,
    scalar: Option<f32>,
    shape: Vec<usize>,
    is_param: bool,
}

/// Which nodes `out` depends on (itself included), from each node's input ids
/// (inputs are recorded before the nodes that use them).
pub(crate) fn ancestors(inputs: &[&[usize]], out: usize) -> Vec<bool> {
    let mut needed = vec![false; inputs.len()];
    if let Some(flag) = needed.get_mut(out) {
        *flag = true;
    }
    for id in (0..inputs.len()).rev() {
        if needed[id] {
            for &i in inputs[id] {
                needed[i] = true;
            }
        }
    }
    needed
}

fn describe(output: Var<'_>, grads: &Gradients, labels: &BTreeMap<usize, String>) -> Vec<DrawNode> {
    let out = output.id();
    let mut seen = Vec::new();
    output.graph().visit_nodes(|n| {
        if n.id <= out {
            seen.push(Seen {
                op: n.op.map(str::to_string),
                inputs: n.inputs.to_vec(),
                scalar: (n.value.ndim() == 0).then(|| n.value.item()),
                shape: n.value.shape().to_vec(),
                is_param: n.is_param,
            });
        }
    });
    let inputs: Vec<&[usize]> = seen.iter().map(|s| s.inputs.as_slice()).collect();
    let needed = ancestors(&inputs, out);
    let mut ops = 0;
    let mut nodes = Vec::new();
    for (id, s) in seen.iter().enumerate().filter(|(id, _)| needed[*id]) {
        let grad = grads.by_id(id);
        let label = labels.get(&id).cloned();
        let role = if id == out {
            Role::Output
        } else if s.op.is_some() {
            Role::Op
        } else if s.is_param || grad.is_some() {
            Role::Leaf
        } else {
            Role::Constant
        };
        let shape = format!("{:?}", s.shape);
        let (name, mut lines) = match role {
            Role::Output | Role::Op => {
                let name = if role == Role::Output {
                    "J".to_string()
                } else {
                    ops += 1;
                    format!("u{ops}")
                };
                let title = label.or_else(|| s.op.clone()).unwrap_or_else(|| "op".to_string());
                let value = match s.scalar {
                    Some(v) => format!("{name} = {}", format_number(v)),
                    None => format!("{name} {shape}"),
                };
                (name, vec![title, value])
            }
            Role::Leaf | Role::Constant => {
                let fallback = if s.is_param { "param" } else { "leaf" };
                let line = match (&label, s.scalar, role) {
                    (None, Some(v), Role::Constant) => format_number(v),
                    (None, None, Role::Constant) => format!("const {shape}"),
                    (_, Some(v), _) => format!("{} = {}", label.as_deref().unwrap_or(fallback), format_number(v)),
                    (_, None, _) => format!("{} {shape}", label.as_deref().unwrap_or(fallback)),
                };
                (label.unwrap_or_else(|| fallback.to_string()), vec![line])
            }
        };
        if let (Some(g), true) = (grad, role != Role::Constant) {
            lines.push(match s.scalar {
                Some(_) => format!("dJ/d{name} = {}", format_number(g.data().first().copied().unwrap_or(0.0))),
                None => {
                    let norm = g.data().iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
                    format!("grad norm {}", format_number(norm as f32))
                }
            });
        }
        nodes.push(DrawNode { id, role, lines, inputs: s.inputs.clone() });
    }
    nodes
}

fn mermaid(nodes: &[DrawNode]) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in nodes {
        let label: Vec<String> = n.lines.iter().map(|l| mermaid_escape(l)).collect();
        let _ = writeln!(s, "    n{}[\"{}\"]", n.id, label.join("<br/>"));
    }
    for n in nodes {
        for i in &n.inputs {
            let _ = writeln!(s, "    n{i} --> n{}", n.id);
        }
    }
    s
}

/// Text for inside a quoted Mermaid label: quotes and markup characters as
/// Mermaid entity codes (`#quot;`, ...).
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot(nodes: &[DrawNode]) -> String {
    let mut s = String::from("digraph backprop {\n    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n");
    for n in nodes {
        let label: Vec<String> = n.lines.iter().map(|l| dot_escape(l)).collect();
        let style = match n.role {
            Role::Leaf => ", shape=ellipse",
            Role::Constant => ", shape=plaintext",
            Role::Op => "",
            Role::Output => ", peripheries=2",
        };
        let _ = writeln!(s, "    n{} [label=\"{}\"{style}];", n.id, label.join("\\n"));
    }
    for n in nodes {
        for i in &n.inputs {
            let _ = writeln!(s, "    n{i} -> n{};", n.id);
        }
    }
    s.push_str("}\n");
    s
}

/// Text for inside a quoted DOT string: backslashes and quotes escaped.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_for_each_format() {
        assert_eq!(mermaid_escape("a \"b\" <c> #1 & d"), "a #quot;b#quot; #lt;c#gt; #35;1 #amp; d");
        assert_eq!(dot_escape("a \"b\" \\n"), "a \\\"b\\\" \\\\n");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(format_number(6.0), "6");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(123456.7), "123457");
        assert_eq!(format_number(1.5e9), "1.5e9");
        assert_eq!(format_number(f32::NAN), "NaN");
        assert_eq!(format_number(-0.0), "0");
    }
}
