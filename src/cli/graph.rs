//! `backprop graph`: draws a computation graph with its values and gradients,
//! of a scalar expression (`--expr "3*(a+b*c)" --set a=5,b=3,c=2`) or of one
//! training step of a saved classifier, MLP or CNN (`--model FILE`), as Mermaid or Graphviz DOT.

use backprop::autograd::{Gradients, Graph, Var};
use backprop::data::Targets;
use backprop::tensor::Rng;
use backprop::train::first_non_finite;
use backprop::viz::{render, Expr, Format};
use backprop::{Error, Result, Tensor};
use clap::{ArgAction, ArgGroup, Args};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["expr", "model"])))]
pub(crate) struct GraphArgs {
    /// A scalar expression: numbers, variables, + - * / ^, parentheses, exp log sigmoid relu tanh.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    expr: Option<String>,
    /// Values of the expression's variables, e.g. a=5,b=3,c=2 (may be repeated).
    #[arg(long, value_name = "NAME=VALUE,...", value_parser = assignments, action = ArgAction::Append)]
    #[arg(conflicts_with = "model")]
    set: Vec<Assignments>,
    /// Draw one training step of this classifier checkpoint instead.
    // Optional here (it is one of two sources), so not args::ModelArg; it is
    // read by the same loader.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Examples in the drawn training step (--model; default 2).
    #[arg(long, value_parser = super::args::positive_usize, conflicts_with = "expr")]
    batch: Option<usize>,
    /// Output format: mermaid or dot (Graphviz).
    #[arg(long, default_value = "mermaid")]
    format: Format,
}

/// `NAME=VALUE` pairs from one `--set` value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Assignments(pub Vec<(String, f32)>);

/// Parses `a=5,b=3,c=2`.
pub(crate) fn assignments(s: &str) -> std::result::Result<Assignments, String> {
    s.split(',')
        .map(|part| {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("empty entry in '{s}' (expected NAME=VALUE,NAME=VALUE,...)"));
            }
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!("'{part}' has no value (expected NAME=VALUE, e.g. a=5)"));
            };
            let (name, value) = (name.trim(), value.trim());
            let mut chars = name.chars();
            let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("'{name}' is not a variable name (in '{part}')"));
            }
            match value.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok((name.to_string(), v)),
                Ok(_) => Err(format!("the value of {name} must be a finite number, got {value}")),
                Err(_) => Err(format!("'{value}' is not a number (in '{part}')")),
            }
        })
        .collect::<std::result::Result<Vec<_>, String>>()
        .map(Assignments)
}

pub(crate) fn run(a: GraphArgs) -> Result<()> {
    let text = match (&a.expr, &a.model) {
        (Some(expr), _) => draw_expression(expr, &a.set, a.format)?,
        (None, Some(model)) => draw_training_step(model, a.batch.unwrap_or(2), a.format)?,
        (None, None) => return Err(Error::invalid("graph", "give --expr or --model")),
    };
    print!("{text}");
    Ok(())
}

fn draw_expression(src: &str, set: &[Assignments], format: Format) -> Result<String> {
    let expr = parse_expr(src)?;
    let values = set_values(set)?;
    let g = Graph::new();
    let built = expr.build(&g, &values).map_err(|e| match e {
        Error::InvalidArgument { message, .. } => Error::invalid("--expr", format!("{message}; give it with --set")),
        other => other,
    })?;
    let grads = g.backward_keep_all(built.output);
    warn_non_finite(built.output, &grads, &built.labels);
    Ok(render(built.output, &grads, &built.labels, format))
}

/// The `NAME=VALUE` pairs of every `--set`, each name once.
pub(crate) fn set_values(set: &[Assignments]) -> Result<Vec<(&str, f32)>> {
    let mut values: Vec<(&str, f32)> = Vec::new();
    for (name, v) in set.iter().flat_map(|s| &s.0) {
        if values.iter().any(|(n, _)| n == name) {
            return Err(Error::invalid("--set", format!("'{name}' is given twice")));
        }
        values.push((name, *v));
    }
    Ok(values)
}

/// The expression of `--expr`, its errors naming the flag.
pub(crate) fn parse_expr(src: &str) -> Result<Expr> {
    Expr::parse(src).map_err(|e| match e {
        Error::InvalidArgument { message, .. } => Error::invalid("--expr", message),
        other => other,
    })
}

/// Prints a warning line on stderr for the first node whose value is NaN or
/// infinite (the op that made it, e.g. a division by 0) and for each leaf or
/// parameter whose gradient is: the drawing shows the same numbers PyTorch
/// gives (1/0 = inf, d(x^y)/dy = NaN for x < 0), but they should not pass unnoticed.
fn warn_non_finite(output: Var<'_>, grads: &Gradients, labels: &BTreeMap<usize, String>) {
    if let Some(origin) = first_non_finite(output) {
        let name = labels.get(&origin.id).map(|l| format!(" '{l}'")).unwrap_or_default();
        eprintln!("warning: {origin}{name}: the first value in the graph that is not finite");
    }
    output.graph().visit_nodes(|n| {
        let Some(grad) = grads.by_id(n.id).filter(|_| n.op.is_none() && n.requires_grad) else { return };
        if let Some(v) = grad.data().iter().find(|v| !v.is_finite()) {
            let name = labels.get(&n.id).cloned().unwrap_or_else(|| format!("n{}", n.id));
            let v = backprop::viz::format_number(*v);
            eprintln!("warning: dJ/d{name} is {v} (node n{}), not a usable gradient", n.id);
        }
    });
}

/// Most examples in a drawn training step.
const MAX_BATCH: usize = 1024;

/// One training step of a saved classifier on `batch` seeded pixel-like inputs in
/// [0, 1), all labelled 0: forward, loss, backward.
fn draw_training_step(path: &std::path::Path, batch: usize, format: Format) -> Result<String> {
    if batch > MAX_BATCH {
        return Err(Error::invalid("--batch", format!("a drawing takes at most {MAX_BATCH} examples, got {batch}")));
    }
    let loaded = backprop::models::load(path)?;
    let classifier = loaded.classifier("graph --model")?;
    let (model, loss, inputs) = (classifier.module, loaded.loss(), classifier.inputs);
    let x = Tensor::rand_uniform(&[batch, inputs], 0.0, 1.0, &mut Rng::new(0));
    let g = Graph::new();
    let input = g.constant(x);
    let out = model.forward(&g, input);
    let j = loss.compute(out, &Targets::Classes(vec![0; batch]));
    let grads = g.backward_keep_all(j);

    // Parameters enter the graph in the order of `parameters()`.
    let mut names = model.parameters().into_iter().map(|(n, _)| n);
    let mut labels = BTreeMap::from([(input.id(), "x".to_string())]);
    g.visit_nodes(|n| {
        if n.is_param {
            labels.insert(n.id, names.next().unwrap_or_else(|| "param".to_string()));
        } else if n.op.is_none() && n.id > out.id() {
            labels.insert(n.id, "target".to_string());
        }
    });
    warn_non_finite(j, &grads, &labels);
    Ok(render(j, &grads, &labels, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_parse_or_explain() {
        assert_eq!(
            assignments("a=5, b=-3,c=2e-1"),
            Ok(Assignments(vec![("a".into(), 5.0), ("b".into(), -3.0), ("c".into(), 0.2)]))
        );
        assert!(assignments("a").unwrap_err().contains("has no value"));
        assert!(assignments("a=x").unwrap_err().contains("'x' is not a number"));
        assert!(assignments("=1").unwrap_err().contains("not a variable name"));
        assert!(assignments("1a=1").unwrap_err().contains("not a variable name"));
        assert!(assignments("a=1,").unwrap_err().contains("empty entry"));
        assert!(assignments("a=inf").unwrap_err().contains("finite"));
    }
}
