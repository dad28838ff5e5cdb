//! Drawing computation graphs (`backprop graph`) and checking a model's
//! gradients (`backprop gradcheck`): the drawings carry the right values and
//! gradients and are valid Mermaid / Graphviz; bad expressions fail in one line.

mod common;

use backprop::viz::{render, Expr, Format};
use backprop::Graph;
use common::{assert_clean_failure, backprop, mnist_arg, write_band_dataset, TempDir};
use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// A small checker for the Mermaid flowcharts `backprop graph` writes: a
/// `flowchart DIR` / `graph DIR` header, then node definitions `id["label"]`
/// and edges `id --> id`, ids of `[A-Za-z0-9_]`, no raw quote inside a label,
/// every node defined once and every edge between defined nodes.
fn check_mermaid(text: &str) -> Result<(), String> {
    let is_id = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or("empty output")?;
    let words: Vec<&str> = header.split_whitespace().collect();
    let directions = ["TB", "TD", "BT", "RL", "LR"];
    let header_ok = matches!(words.as_slice(), [kind] | [kind, _] if *kind == "flowchart" || *kind == "graph")
        && words.get(1).is_none_or(|d| directions.contains(d));
    if !header_ok {
        return Err(format!("line 1 is not a flowchart header: {header:?}"));
    }
    let mut defined = HashSet::new();
    let mut edges = Vec::new();
    for (no, line) in lines {
        let line = line.trim();
        let at = |what: &str| format!("line {}: {what}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(open) = line.find("[\"") {
            let id = &line[..open];
            let label = line[open + 2..].strip_suffix("\"]").ok_or_else(|| at("node label not closed by \"]"))?;
            if !is_id(id) {
                return Err(at("bad node id"));
            }
            if label.contains('"') {
                return Err(at("unescaped quote in a label"));
            }
            if !defined.insert(id.to_string()) {
                return Err(at("node defined twice"));
            }
        } else if let Some((from, to)) = line.split_once("-->") {
            let (from, to) = (from.trim(), to.trim());
            if !is_id(from) || !is_id(to) {
                return Err(at("bad edge"));
            }
            edges.push((from.to_string(), to.to_string(), no + 1));
        } else {
            return Err(at("neither a node nor an edge"));
        }
    }
    for (from, to, no) in edges {
        for end in [from, to] {
            if !defined.contains(&end) {
                return Err(format!("line {no}: edge to undefined node {end}"));
            }
        }
    }
    if defined.is_empty() {
        return Err("no nodes".into());
    }
    Ok(())
}

/// Feeds `dot` text to Graphviz (`dot -Tsvg`) and asserts it is accepted without
/// warnings. Without Graphviz: a failure when `CI` is set, else a skip.
fn check_dot(text: &str) {
    let available = Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    if !available {
        assert!(std::env::var_os("CI").is_none(), "Graphviz `dot` is not installed but CI is set");
        println!("skipping: dot not installed");
        return;
    }
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dot starts");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "dot rejected:\n{text}\n{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "dot wrote no SVG");
}

#[test]
fn the_course_example_as_mermaid_has_values_and_gradients() {
    let run = backprop(&["graph", "--expr", "3*(a+b*c)", "--set", "a=5,b=3,c=2"]).expect_success("graph --expr");
    let text = &run.stdout;
    for want in ["J = 33", "a = 5<br/>dJ/da = 3", "b = 3<br/>dJ/db = 6", "c = 2<br/>dJ/dc = 9", "u1 = 6", "u2 = 11"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    check_mermaid(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(text.matches("-->").count(), 6, "{text}");
    // The checker does reject what is not Mermaid.
    assert!(check_mermaid("flowchart LR\n    n0[\"a\"]\n    n0 --> n1\n").is_err());
    assert!(check_mermaid("flowchart LR\n    n0[\"a \"b\"\"]\n").is_err());
    assert!(check_mermaid("digraph {\n}\n").is_err());
}

#[test]
fn the_dot_output_is_accepted_by_graphviz() {
    let run = backprop(&["graph", "--expr", "3*(a+b*c)", "--set", "a=5,b=3,c=2", "--format", "dot"])
        .expect_success("graph --format dot");
    assert!(run.stdout.starts_with("digraph"), "{}", run.stdout);
    assert!(run.stdout.contains("J = 33") && run.stdout.contains("dJ/dc = 9"), "{}", run.stdout);
    check_dot(&run.stdout);
}

/// An expression at some values of its variables, with J and each dJ/dvariable worked out by hand.
struct Case {
    expr: &'static str,
    values: Vec<(&'static str, f32)>,
    j: f64,
    grads: Vec<f64>,
}

fn hand_computed() -> Vec<Case> {
    let case = |expr, values, j, grads| Case { expr, values, j, grads };
    let (ln2, e) = (2f64.ln(), 1f64.exp());
    let t = 0.5f64.tanh();
    vec![
        case("-a*b", vec![("a", 2.0), ("b", 3.0)], -6.0, vec![-3.0, -2.0]),
        case("-a^2", vec![("a", 3.0)], -9.0, vec![-6.0]),
        case("a^3", vec![("a", 2.0)], 8.0, vec![12.0]),
        case("2^a", vec![("a", 3.0)], 8.0, vec![8.0 * ln2]),
        case("a^b", vec![("a", 2.0), ("b", 3.0)], 8.0, vec![12.0, 8.0 * ln2]),
        case("a^2^-1", vec![("a", 4.0)], 2.0, vec![0.25]), // right-associative: a^(2^-1) = sqrt(a)
        case("a/b", vec![("a", 1.0), ("b", 4.0)], 0.25, vec![0.25, -1.0 / 16.0]),
        case("a*a", vec![("a", 3.0)], 9.0, vec![6.0]),
        case("(a+b)*(a-b)", vec![("a", 3.0), ("b", 2.0)], 5.0, vec![6.0, -4.0]),
        case("exp(a) + log(b)", vec![("a", 1.0), ("b", 2.0)], e + ln2, vec![e, 0.5]),
        case("sigmoid(a)", vec![("a", 0.0)], 0.5, vec![0.25]),
        case("relu(a - b)", vec![("a", 3.0), ("b", 1.0)], 2.0, vec![1.0, -1.0]),
        case("relu(a - b)", vec![("a", 1.0), ("b", 3.0)], 0.0, vec![0.0, 0.0]),
        case("tanh(a) * a", vec![("a", 0.5)], t * 0.5, vec![(1.0 - t * t) * 0.5 + t]),
        case("2 * 3 + a", vec![("a", 1.0)], 7.0, vec![1.0]),
        case("-(-a)", vec![("a", 1.5)], 1.5, vec![1.0]),
    ]
}

#[test]
fn expressions_differentiate_as_by_hand() {
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-5 * (1.0 + want.abs());
    for Case { expr: src, values, j: want_j, grads: want_grads } in hand_computed() {
        let g = Graph::new();
        let built = Expr::parse(src).unwrap().build(&g, &values).unwrap();
        let grads = g.backward_keep_all(built.output);
        let j = built.output.item() as f64;
        assert!(close(j, want_j), "{src}: J = {j}, by hand {want_j}");
        assert_eq!(built.leaves.len(), want_grads.len(), "{src}: leaves");
        for ((name, leaf), want) in built.leaves.iter().zip(&want_grads) {
            let got = grads.wrt(*leaf).map_or(f64::NAN, |t| t.item() as f64);
            assert!(close(got, *want), "{src}: dJ/d{name} = {got}, by hand {want}");
        }
        let mermaid = render(built.output, &grads, &built.labels, Format::Mermaid);
        check_mermaid(&mermaid).unwrap_or_else(|e| panic!("{src}: {e}\n{mermaid}"));
        assert!(mermaid.contains("J = "), "{src}:\n{mermaid}");
    }
}

#[test]
fn drawings_of_every_kind_of_node_are_valid_dot() {
    let g = Graph::new();
    let built = Expr::parse("2^a * -b^2 + exp(a)/(1 + sigmoid(a*b))").unwrap().build(&g, &[("a", 0.5), ("b", 1.5)]);
    let built = built.unwrap();
    let grads = g.backward_keep_all(built.output);
    let text = render(built.output, &grads, &built.labels, Format::Dot);
    for want in ["pow", "neg", "^2", "dJ/da", "dJ/db", "sigmoid", "peripheries=2"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    check_dot(&text);
    let mermaid = render(built.output, &grads, &built.labels, Format::Mermaid);
    check_mermaid(&mermaid).unwrap_or_else(|e| panic!("{e}\n{mermaid}"));
}

#[test]
fn bad_expressions_and_values_fail_in_one_line() {
    let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("3*(a+)", "a=1", vec!["--expr", "unexpected ')' at column 6"]),
        ("3*(a+b", "a=1,b=2", vec!["--expr", "column 7", "')' to close the '(' at column 3"]),
        ("a+b)", "a=1,b=2", vec!["unexpected ')' at column 4"]),
        ("foo(a)", "a=1", vec!["unknown function 'foo' at column 1"]),
        ("a+d", "a=1", vec!["unknown variable 'd' at column 3", "--set"]),
        ("", "a=1", vec!["empty"]),
        ("2^^3", "a=1", vec!["unexpected '^' at column 3"]),
        ("a $ b", "a=1,b=2", vec!["unexpected character '$' at column 3"]),
        ("exp + 1", "a=1", vec!["'(' after the function 'exp'"]),
        ("3(a)", "a=1", vec!["unexpected '(' at column 2", "operator"]),
        ("1e999*a", "a=1", vec!["out of range"]),
        (&deep, "a=1", vec!["nests more than"]),
        ("a", "a=x", vec!["--set", "'x' is not a number"]),
        ("a", "a", vec!["--set", "no value"]),
        ("a", "=3", vec!["--set", "not a variable name"]),
        ("a", "a=1,a=2", vec!["--set", "'a' is given twice"]),
        ("a", "a=1,,b=2", vec!["--set", "empty entry"]),
    ];
    for (expr, set, words) in cases {
        let run = backprop(&["graph", "--expr", expr, "--set", set]);
        assert_clean_failure(&run, &words);
    }
    assert_clean_failure(&backprop(&["graph"]), &["--expr", "--model"]);
    assert_clean_failure(&backprop(&["graph", "--expr", "a", "--set", "a=1", "--format", "svg"]), &["mermaid or dot"]);
    assert_clean_failure(&backprop(&["graph", "--model", "/nonexistent/m.safetensors"]), &["m.safetensors"]);
    assert_clean_failure(&backprop(&["graph", "--model", "m.safetensors", "--batch", "100000"]), &["--batch", "1024"]);
    assert_clean_failure(&backprop(&["graph", "--expr", "a", "--batch", "2"]), &["--batch", "--expr"]);
    assert_clean_failure(&backprop(&["graph", "--model", "m.safetensors", "--set", "a=1"]), &["--set", "--model"]);
}

#[test]
fn a_trained_model_is_drawn_and_passes_the_gradient_check() {
    let dir = TempDir::new("graph-model");
    let out = dir.arg("run");
    backprop(&[
        "train",
        "mnist",
        "--data",
        &mnist_arg(),
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--out",
        &out,
        "--threads",
        "2",
    ])
    .expect_success("training a tiny model");
    let model = dir.arg("run/model.safetensors");

    let mermaid = backprop(&["graph", "--model", &model]).expect_success("graph --model").stdout;
    check_mermaid(&mermaid).unwrap_or_else(|e| panic!("{e}\n{mermaid}"));
    for want in [
        "x [2, 784]",
        "layers.0.weight [16, 784]",
        "layers.2.bias [10]",
        "linear",
        "relu",
        "cross_entropy",
        "J = ",
        "grad norm",
    ] {
        assert!(mermaid.contains(want), "no {want:?} in:\n{mermaid}");
    }
    let dot = backprop(&["graph", "--model", &model, "--format", "dot", "--batch", "3"]).expect_success("graph dot");
    assert!(dot.stdout.contains("x [3, 784]"), "{}", dot.stdout);
    check_dot(&dot.stdout);

    let check = backprop(&["gradcheck", "--model", &model, "--data", &mnist_arg(), "--batch", "8", "--threads", "2"])
        .expect_success("gradcheck");
    let rows: Vec<&str> = check.stdout.lines().filter(|l| l.starts_with("layers.")).collect();
    assert_eq!(rows.len(), 4, "{}", check.stdout);
    for (row, name) in rows.iter().zip(["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]) {
        assert!(row.starts_with(name) && row.ends_with("PASS"), "{row}\n{}", check.stdout);
    }
    assert!(check.stdout.contains("all 4 parameter tensors PASS"), "{}", check.stdout);

    // Impossible tolerances make the check fail, with a table and one error line.
    let strict = backprop(&["gradcheck", "--model", &model, "--data", &mnist_arg(), "--atol", "0", "--rtol", "1e-12"]);
    assert_clean_failure(&strict, &["gradient check failed", "layers.0.weight"]);
    assert!(strict.stdout.contains("FAIL"), "{}", strict.stdout);
    // A step f32 cannot resolve is refused, not reported as an autodiff failure.
    let tiny = backprop(&["gradcheck", "--model", &model, "--data", &mnist_arg(), "--eps", "1e-30"]);
    assert_clean_failure(&tiny, &["--eps", "1e-30", "1e-6"]);

    // Data of another size: a clear error naming both sizes.
    write_band_dataset(&dir.join("data10"), 10, 20, 20);
    let other = backprop(&["gradcheck", "--model", &model, "--data", &dir.arg("data10")]);
    assert_clean_failure(&other, &["784 inputs", "100 values"]);
}
