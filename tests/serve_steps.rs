//! `backprop serve --expr` / `--steps`: backpropagation step by step, over
//! HTTP and (where Chromium is installed) in a headless browser that reads the
//! course's values from the page after each step.

mod common;

use common::browser::{chromium, run_chromium};
use common::serve::Server;
use common::{assert_clean_failure, backprop, TempDir};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

const COURSE: [&str; 5] = ["--expr", "3*(a+b*c)", "--set", "a=5,b=3,c=2", "--lr"];

fn course_server() -> Server {
    Server::start_with(&[&COURSE[..], &["0.01"]].concat())
}

/// The node called `name` in a /graph answer.
fn node<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["graph"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {answer:#}"))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn the_graph_has_the_course_values() {
    let server = course_server();
    let page = server.request("GET", "/", b"");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(!page.body.contains("src=\"http") && !page.body.contains("href=\"http"), "no network resources");
    assert!(!page.body.contains("https://"), "no network resources");

    let g = server.request("GET", "/graph", b"").json();
    assert_eq!(g["title"], "J = 3*(a+b*c)");
    // The forward values and the gradients of the course, named as there.
    for (name, value, grad) in [("a", 5, 3), ("b", 3, 6), ("c", 2, 9), ("u", 6, 3), ("v", 11, 3), ("J", 33, 1)] {
        let n = node(&g, name);
        assert_eq!((num(&n["value"]), num(&n["grad"])), (value as f64, grad as f64), "{name}: {n}");
    }
    assert_eq!(node(&g, "u")["formula"], "b × c");
    assert_eq!(node(&g, "v")["formula"], "a + u");
    assert_eq!(node(&g, "J")["formula"], "3 × v");
    assert_eq!(node(&g, "a")["role"], "variable");
    assert_eq!(node(&g, "3")["role"], "constant");
    // Local derivatives from each op's backward rule: du/db = c, du/dc = b.
    assert_eq!(node(&g, "u")["local"], json!([2.0, 3.0]));
    assert_eq!(node(&g, "J")["local"], json!([null, 3.0]));
    let steps: Vec<&str> = g["steps"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(steps[..3], ["u = b × c = 3 × 2 = 6", "v = a + u = 5 + 6 = 11", "J = 3 × v = 3 × 11 = 33"]);
    assert_eq!(steps[7], "dJ/dc = dJ/du × du/dc = 3 × 3 = 9");

    // One gradient descent step: each variable moves by -lr × its gradient, and J falls.
    let body = json!({ "values": g["values"], "lr": 0.01 }).to_string();
    let after = server.request("POST", "/step", body.as_bytes()).json();
    assert_eq!(num(&after["loss_before"]), 33.0);
    for (name, want) in [("a", 5.0 - 0.03), ("b", 3.0 - 0.06), ("c", 2.0 - 0.09)] {
        assert!((num(&after["values"][name]) - want).abs() < 1e-5, "{name}: {after:#}");
    }
    let j = num(&node(&after, "J")["value"]);
    assert!((j - 3.0 * (4.97 + 2.94 * 1.91)).abs() < 1e-4 && j < 33.0, "J = {j}");
}

#[test]
fn bad_requests_get_json_errors() {
    let server = course_server();
    let step = |body: &str| server.request("POST", "/step", body.as_bytes());
    assert!(step(r#"{"values": {"a": 1}, "lr": -1}"#).assert_error(400).contains("learning rate"));
    assert!(step(r#"{"values": {"zz": 1}, "lr": 0.1}"#).assert_error(400).contains("'zz' is not a variable"));
    assert!(step(r#"{"values": {"a": 1e39}, "lr": 0.1}"#).assert_error(400).contains("finite"));
    assert!(step("{\"values\": ").assert_error(400).contains("expected"));
    assert_eq!(server.request("GET", "/step", b"").header("allow"), Some("POST"));
    server.request("POST", "/graph", b"").assert_error(405);
    assert!(server.request("GET", "/nope", b"").assert_error(404).contains("/nope"));
    assert_eq!(server.request("GET", "/health", b"").json()["page"], "steps");
}

#[test]
fn bad_flags_fail_with_one_line() {
    let serve = |args: &[&str]| backprop(&[&["serve", "--port", "0"][..], args].concat());
    assert_clean_failure(&serve(&["--expr", "3*(a+b*c)", "--set", "a=5,b=3"]), &["--expr", "'c'", "--set"]);
    assert_clean_failure(&serve(&["--expr", "3*(a+", "--set", "a=1"]), &["--expr", "column"]);
    assert_clean_failure(&serve(&["--expr", "a", "--set", "a=1", "--steps"]), &["--steps"]);
    assert_clean_failure(&serve(&[]), &["--model", "--expr"]);
}

/// `x1,x2,y` rows of y = x1 - 2 x2.
fn line_csv(rows: usize) -> String {
    let mut s = String::from("x1,x2,y\n");
    for i in 0..rows {
        let (x1, x2) = ((i % 7) as f32 / 3.0, (i % 5) as f32 / 2.0 - 1.0);
        writeln!(s, "{x1},{x2},{}", x1 - 2.0 * x2).unwrap();
    }
    s
}

/// A 2-3-1 MLP of `train csv`.
fn tiny_csv_model(dir: &TempDir) -> PathBuf {
    let csv = dir.write("line.csv", line_csv(60).as_bytes());
    let out = dir.arg("tiny");
    let args = ["train", "csv", "--file", csv.to_str().unwrap(), "--target", "y", "--hidden", "3", "--epochs", "20"];
    backprop(&[&args[..], &["--out", &out, "--activation", "sigmoid"]].concat()).expect_success("train csv");
    dir.join("tiny/model.safetensors")
}

#[test]
fn a_tiny_mlp_of_train_csv_steps_through_every_weight() {
    let dir = TempDir::new("steps-mlp");
    let model = tiny_csv_model(&dir);
    let m = model.to_str().unwrap();
    let server = Server::start_with(&["--model", m, "--steps", "--set", "x1=1,x2=0.5,y=0", "--lr", "0.05"]);
    let g = server.request("GET", "/graph", b"").json();
    let nodes = g["graph"]["nodes"].as_array().unwrap();
    let variables: Vec<&str> =
        nodes.iter().filter(|n| n["role"] == "variable").map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(variables.len(), 13, "2x3 + 3 + 3x1 + 1 weights: {variables:?}");
    assert!(variables.contains(&"W1[2,1]") && variables.contains(&"b2[0]"), "{variables:?}");
    for name in ["x1", "x2", "y", "z1[0]", "h1[2]", "ŷ", "L"] {
        node(&g, name);
    }
    assert_eq!(node(&g, "h1[0]")["formula"], "sigmoid(z1[0])");
    // The chain rule holds at every node: dL/dx is the sum over x's uses of dL/duse × duse/dx.
    for n in nodes.iter().filter(|n| n["grad"].is_number() && n["name"] != "L") {
        let id = n["id"].as_u64().unwrap();
        let mut sum = 0.0;
        for user in nodes {
            for (k, input) in user["inputs"].as_array().unwrap().iter().enumerate() {
                if input.as_u64() == Some(id) {
                    sum += num(&user["grad"]) * num(&user["local"][k]);
                }
            }
        }
        assert!((sum - num(&n["grad"])).abs() < 1e-5 * (1.0 + sum.abs()), "{}: {sum} vs {}", n["name"], n["grad"]);
    }
    // Gradient descent steps lower the loss of the example.
    let mut state = g;
    let mut losses = vec![num(&node(&state, "L")["value"])];
    for _ in 0..5 {
        let body = json!({ "values": state["values"], "lr": 0.05 }).to_string();
        state = server.request("POST", "/step", body.as_bytes()).json();
        losses.push(num(&node(&state, "L")["value"]));
    }
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "the loss falls at each step: {losses:?}");

    // What it cannot show: a missing input, a model too large to draw.
    let r = backprop(&["serve", "--port", "0", "--model", m, "--steps", "--set", "x1=1"]);
    assert_clean_failure(&r, &["--set", "missing: x2, y"]);
    let mnist = common::train_tiny_10x10(&dir);
    let r = backprop(&["serve", "--port", "0", "--model", mnist.to_str().unwrap(), "--steps"]);
    assert_clean_failure(&r, &["weights and biases", "at most 128"]);
}

/// The selftest log of the page: one `(kind, node, text)` per step.
fn selftest_log(dom: &str) -> Vec<(String, String, String)> {
    let start = dom.find("id=\"selftest-log\"").unwrap_or_else(|| panic!("no selftest log:\n{dom}"));
    let log = &dom[start..dom[start..].find("</ol>").map_or(dom.len(), |e| start + e)];
    let attr = |li: &str, name: &str| {
        li.split(&format!("data-{name}=\"")).nth(1).and_then(|s| s.split('"').next()).unwrap_or("").to_string()
    };
    log.split("<li ")
        .skip(1)
        .map(|li| {
            let text = li.split_once('>').map_or("", |(_, t)| t).split("</li>").next().unwrap_or("");
            let text = text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&");
            (attr(li, "kind"), attr(li, "node"), text)
        })
        .collect()
}

#[test]
fn the_page_steps_through_the_course_in_a_browser() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed; CI must install it (apt-get install -y chromium)");
        }
        println!("skipping browser test: chromium not installed");
        return;
    };
    let server = course_server();
    let profile = TempDir::new("steps-chromium");
    let url = server.url("/?selftest=1");
    let out = run_chromium(&browser, &profile.join("dom"), &["--dump-dom", "--virtual-time-budget=10000", &url]);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("data-selftest=\"done\""), "the selftest did not finish:\n{dom}");
    let log = selftest_log(&dom);
    let step = |k: usize| &log[k];
    let shows = |k: usize, parts: &[&str]| {
        for p in parts {
            assert!(step(k).2.contains(p), "step {k} does not show {p:?}: {:?}", step(k));
        }
    };
    let hides =
        |k: usize, part: &str| assert!(!step(k).2.contains(part), "step {k} shows {part:?} too early: {:?}", step(k));
    // Before any step: the variables, no computed value yet.
    shows(0, &["a = 5", "b = 3", "c = 2", "u = ?", "J = ?"]);
    // The forward pass, node by node.
    assert_eq!((step(1).0.as_str(), step(1).1.as_str()), ("forward", "u"));
    shows(1, &["u = b × c = 3 × 2 = 6", "u = 6", "v = ?"]);
    shows(2, &["v = a + u = 5 + 6 = 11", "v = 11", "J = ?"]);
    shows(3, &["J = 3 × v = 3 × 11 = 33", "J = 33"]);
    hides(3, "∂J/∂v");
    // The backward pass, node by node: local derivative × incoming gradient.
    shows(4, &["∂J/∂J = 1"]);
    assert_eq!((step(5).0.as_str(), step(5).1.as_str()), ("backward", "J"));
    shows(5, &["∂J/∂v = ∂J/∂J × ∂J/∂v = 1 × 3 = 3", "∂J/∂v = 3"]);
    hides(5, "∂J/∂a");
    shows(6, &["∂J/∂a = ∂J/∂v × ∂v/∂a = 3 × 1 = 3", "∂J/∂u = ∂J/∂v × ∂v/∂u = 3 × 1 = 3", "∂J/∂a = 3", "∂J/∂u = 3"]);
    hides(6, "∂J/∂b");
    shows(7, &["∂J/∂b = ∂J/∂u × ∂u/∂b = 3 × 2 = 6", "∂J/∂c = ∂J/∂u × ∂u/∂c = 3 × 3 = 9", "∂J/∂b = 6", "∂J/∂c = 9"]);
    assert_eq!(log.len(), 9, "7 steps, the start and the gradient descent step: {log:?}");
    // The gradient descent button: J falls from 33.
    let (kind, _, text) = &log[8];
    assert_eq!(kind, "gradient-descent");
    let (before, after) = text.split_once(" -> ").unwrap();
    assert_eq!(before, "33");
    assert!(after.parse::<f64>().unwrap() < 33.0, "{text}");

    // A screenshot of the backward pass at u (step 7), for the README.
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/backprop_steps.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    let url = server.url("/?step=7");
    let args = [shot.as_str(), "--window-size=1280,760", "--hide-scrollbars", "--virtual-time-budget=10000", &url];
    let out = run_chromium(&browser, &profile.join("shot"), &args);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let img = image::open(&png).unwrap_or_else(|e| panic!("{} is not a PNG: {e}", png.display()));
    assert_eq!((img.width(), img.height()), (1280, 760));
    println!("screenshot: {}", png.display());
}
