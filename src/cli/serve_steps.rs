//! `backprop serve --expr "3*(a+b*c)" --set a=5,b=3,c=2` (or `--model
//! tiny.safetensors --steps --set x1=..,y=..`): backpropagation step by step
//! in the browser.
//!
//! `GET /` is one self-contained page (`assets/backprop_steps.html`: inline
//! JS and CSS, no network) that draws the computation graph, steps through
//! the forward pass node by node and then the backward pass node by node,
//! showing each op's local derivative, the gradient it receives and their
//! product; its "gradient descent step" button moves every variable by
//! `-lr × gradient` and the loss falls. `GET /graph` is the graph as JSON
//! ([`backprop::viz::Walkthrough`]: every number computed by the framework's
//! forward pass, backward pass and ops' backward rules); `POST /step` with
//! `{"values": {...}, "lr": 0.01}` takes one gradient descent step from those
//! values and answers the new values and graph.

use super::graph::{parse_expr, set_values, Assignments};
use super::http::{Request, Response};
use backprop::autograd::Graph;
use backprop::loss::Loss;
use backprop::models::Model;
use backprop::nn::Mlp;
use backprop::viz::{check_unrollable, unroll_mlp, walkthrough, Expr, UnrolledTarget, Walkthrough};
use backprop::{Error, Result, Tensor};
use clap::{ArgAction, Args};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The page, inlined in the binary.
const PAGE: &str = include_str!("../../assets/backprop_steps.html");
/// The largest learning rate a step accepts.
const MAX_LR: f32 = 100.0;

/// The flags of the step-by-step page.
#[derive(Args, Debug)]
pub(crate) struct StepsArgs {
    /// Serve backpropagation step by step for this scalar expression (numbers, variables,
    /// + - * / ^, parentheses, exp log sigmoid relu tanh) instead of the digit playground.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true, conflicts_with = "steps")]
    pub expr: Option<String>,
    /// With --model: serve backpropagation step by step through that tiny MLP (at most 128
    /// weights, e.g. 2-3-1 of `train csv --hidden 3`) on one example given with --set.
    #[arg(long)]
    pub steps: bool,
    /// Values: of the expression's variables (a=5,b=3,c=2), or with --steps the example's
    /// inputs and target by name (x1=0.5,x2=1,y=2; a classifier's target is `class`).
    #[arg(long, value_name = "NAME=VALUE,...", value_parser = super::graph::assignments, action = ArgAction::Append)]
    pub set: Vec<Assignments>,
    /// The learning rate of the page's gradient descent step (the page can change it).
    #[arg(long, default_value_t = 0.01, value_parser = super::args::positive_f32)]
    pub lr: f32,
}

impl StepsArgs {
    /// Whether the step-by-step page is asked for.
    pub fn wanted(&self) -> bool {
        self.expr.is_some() || self.steps
    }
}

/// What the page steps through.
enum Source {
    /// An expression and its variables' starting values.
    Expr { expr: Expr, start: Vec<(String, f32)> },
    /// An MLP unrolled on one example (inputs and target already standardised as in training).
    Mlp { mlp: Mlp, x: Vec<f32>, names: Vec<String>, target: UnrolledTarget, loss: Loss },
}

/// The step-by-step page's server side.
pub(crate) struct Steps {
    source: Source,
    title: String,
    lr: f32,
}

impl Steps {
    /// From the flags; `model` is `--model` (with `--steps`). The graph is
    /// built once here, so a bad expression or example fails before serving.
    pub fn new(a: &StepsArgs, model: &Path) -> Result<Steps> {
        let values = set_values(&a.set)?;
        let (source, title) = match &a.expr {
            Some(src) => {
                let expr = parse_expr(src)?;
                let start = values.iter().map(|(n, v)| (n.to_string(), *v)).collect();
                (Source::Expr { expr, start }, format!("J = {}", src.trim()))
            }
            None => load_mlp(model, &values)?,
        };
        let steps = Steps { source, title, lr: a.lr };
        steps.graph(&BTreeMap::new())?;
        Ok(steps)
    }

    /// What `serve` prints: `serving J = 3*(a+b*c) step by step on ...`.
    pub fn describe(&self) -> String {
        format!("{} step by step", self.title)
    }

    /// The graph at `values` (variables by name; missing ones keep their start).
    fn graph(&self, values: &BTreeMap<String, f32>) -> Result<Walkthrough> {
        let g = Graph::new();
        match &self.source {
            Source::Expr { expr, start } => {
                let all: Vec<(&str, f32)> =
                    start.iter().map(|(n, v)| (n.as_str(), values.get(n).copied().unwrap_or(*v))).collect();
                let built = expr.build(&g, &all).map_err(|e| match e {
                    Error::InvalidArgument { message, .. } => {
                        Error::invalid("--expr", format!("{message}; give it with --set"))
                    }
                    other => other,
                })?;
                let grads = g.backward_keep_all(built.output);
                walkthrough(built.output, &grads, &built.labels, None)
            }
            Source::Mlp { mlp, x, names, target, loss } => {
                let net = unroll_mlp(&g, mlp, x, names, target, *loss, values)?;
                let grads = g.backward_keep_all(net.loss);
                let ids: Vec<usize> = net.weights.iter().map(|(_, id)| *id).collect();
                walkthrough(net.loss, &grads, &net.names, Some(&ids))
            }
        }
    }

    /// The page's JSON for a graph.
    fn describe_graph(&self, w: &Walkthrough) -> Value {
        let values: BTreeMap<&str, f32> = w
            .nodes
            .iter()
            .filter(|n| n.role == backprop::viz::StepRole::Variable)
            .map(|n| (n.name.as_str(), n.value))
            .collect();
        json!({ "title": self.title, "lr": self.lr, "values": values, "graph": w, "steps": w.steps() })
    }

    pub fn handle(&self, request: &Request) -> Response {
        let (get, post) = (matches!(request.method.as_str(), "GET" | "HEAD"), request.method == "POST");
        let result = match request.path.as_str() {
            "/" | "/index.html" if get => {
                return Response {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: PAGE.to_string(),
                    headers: Vec::new(),
                }
            }
            "/graph" if get => self.graph(&BTreeMap::new()).map(|w| self.describe_graph(&w)),
            "/step" if post => self.step(&request.body),
            "/health" if get => Ok(json!({ "status": "ok", "page": "steps", "title": self.title })),
            "/" | "/index.html" | "/graph" | "/health" => return not_allowed("GET"),
            "/step" => return not_allowed("POST"),
            path => return Response::error(404, format!("no such page: {path}")),
        };
        match result {
            Ok(value) => {
                Response { status: 200, content_type: "application/json", body: value.to_string(), headers: Vec::new() }
            }
            Err(e) => Response::error(400, e.to_string()),
        }
    }

    /// One gradient descent step from the values in `body`: every variable
    /// moves by `-lr × dJ/dvariable`.
    fn step(&self, body: &[u8]) -> Result<Value> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            values: BTreeMap<String, f64>,
            lr: f64,
        }
        let body: Body = serde_json::from_slice(body).map_err(|e| {
            Error::invalid("body", format!("expected {{\"values\": {{NAME: NUMBER}}, \"lr\": NUMBER}}: {e}"))
        })?;
        let lr = body.lr as f32;
        if !(lr > 0.0 && lr <= MAX_LR) {
            return Err(Error::invalid(
                "lr",
                format!("{} is not a learning rate above 0 and at most {MAX_LR}", body.lr),
            ));
        }
        let before = self.graph(&BTreeMap::new())?;
        let known: Vec<&str> = before
            .nodes
            .iter()
            .filter(|n| n.role == backprop::viz::StepRole::Variable)
            .map(|n| n.name.as_str())
            .collect();
        let mut values = BTreeMap::new();
        for (name, v) in body.values {
            if !known.contains(&name.as_str()) {
                return Err(Error::invalid(
                    "values",
                    format!("'{name}' is not a variable of the graph ({})", known.join(", ")),
                ));
            }
            let v = v as f32;
            if !v.is_finite() {
                return Err(Error::invalid("values", format!("the value of {name} is not a finite number")));
            }
            values.insert(name, v);
        }
        let at = self.graph(&values)?;
        let loss_before = at.nodes.iter().find(|n| n.id == at.output).map_or(f32::NAN, |n| n.value);
        let moved: BTreeMap<String, f32> = at
            .nodes
            .iter()
            .filter(|n| n.role == backprop::viz::StepRole::Variable)
            .map(|n| (n.name.clone(), n.value - lr * n.grad.unwrap_or(0.0)))
            .collect();
        let after = self.graph(&moved)?;
        let mut answer = self.describe_graph(&after);
        answer["loss_before"] = json!(loss_before);
        answer["lr"] = json!(lr);
        Ok(answer)
    }
}

/// `{"error": ...}` with 405 and the method allowed.
fn not_allowed(allow: &'static str) -> Response {
    Response {
        headers: vec![("Allow", allow.to_string())],
        ..Response::error(405, format!("method not allowed; use {allow}"))
    }
}

/// A tiny MLP of `train csv` (regression) or `train mnist`/`images`
/// (classifier) and the example of `--set`, standardised as in training.
fn load_mlp(path: &Path, values: &[(&str, f32)]) -> Result<(Source, String)> {
    let loaded = backprop::models::load(path)?;
    let loss = loaded.loss();
    let Model::Mlp(mlp) = &loaded.model else {
        return Err(loaded.mismatch("serve --steps", "a tiny MLP"));
    };
    check_unrollable(mlp).map_err(|e| match e {
        Error::InvalidArgument { message, .. } => Error::invalid("--model", message),
        other => other,
    })?;
    let config = mlp.config().clone();
    let inputs = config.inputs;
    let (names, target_names, scale) = match loaded.regressor("serve --steps") {
        Ok(regressor) => {
            let meta = regressor.meta()?;
            let names = match meta.window {
                Some(w) => (1..=w).map(|i| format!("x{i}")).collect(),
                None => meta.features.clone(),
            };
            (names, meta.targets.clone(), Some(meta.scalers))
        }
        Err(_) => ((1..=inputs).map(|i| format!("x{i}")).collect::<Vec<_>>(), vec!["class".to_string()], None),
    };
    let needed: Vec<&str> = names.iter().chain(&target_names).map(String::as_str).collect();
    let get = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    if let Some((unknown, _)) = values.iter().find(|(n, _)| !needed.contains(n)) {
        return Err(Error::invalid(
            "--set",
            format!("'{unknown}' is not one of the model's inputs or targets ({})", needed.join(", ")),
        ));
    }
    let missing: Vec<&str> = needed.iter().copied().filter(|n| get(n).is_none()).collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "--set",
            format!("give the example, e.g. --set {}=1 (missing: {})", needed.join("=1,"), missing.join(", ")),
        ));
    }
    let raw: Vec<f32> = names.iter().map(|n| get(n).unwrap_or(0.0)).collect();
    let raw_targets: Vec<f32> = target_names.iter().map(|n| get(n).unwrap_or(0.0)).collect();
    let (x, target) = match &scale {
        Some(s) => {
            let x = s.inputs.apply(&Tensor::from_vec(raw, &[1, inputs])).into_vec();
            let t = s.targets.apply(&Tensor::from_vec(raw_targets.clone(), &[1, raw_targets.len()])).into_vec();
            (x, UnrolledTarget::Values(t))
        }
        None => {
            let class = raw_targets[0];
            let classes = config.outputs.max(2);
            if class < 0.0 || class.fract() != 0.0 || class as usize >= classes {
                return Err(Error::invalid(
                    "--set",
                    format!("class must be a whole number from 0 to {}, got {class}", classes - 1),
                ));
            }
            (raw, UnrolledTarget::Class(class as usize))
        }
    };
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let sizes: Vec<String> = config.sizes().iter().map(|s| s.to_string()).collect();
    let standardised = if scale.is_some() { ", inputs and target standardised as in training" } else { "" };
    let title = format!("L of MLP {} ({file}, {loss} loss{standardised})", sizes.join("-"));
    let Model::Mlp(mlp) = loaded.model else { unreachable!("checked above") };
    Ok((Source::Mlp { mlp, x, names, target, loss }, title))
}
