//! `backprop serve`: a digit playground in the browser, and a small JSON API.
//!
//! `GET /` is one self-contained page (no network access needed: HTML, CSS and
//! JS inline) where you draw a digit and see, after each stroke, the top-3
//! classes, the saliency map, every hidden layer's activations and, for a
//! CNN, each convolution block's feature maps (see `serve_model.rs`).
//! `POST /predict` with `{"pixels": [...]}` answers the same as JSON;
//! `GET /health` says the server is up and which model it serves.
//!
//! Each connection has its own thread (one prediction of an MNIST MLP takes
//! about a millisecond); a client that stalls gets 408 after `--timeout`
//! seconds and never holds up the others (see `http.rs`).

use super::args::{ModelArg, RejectArg};
use super::http::{self, Limits, Request, Response};
use super::serve_model::ServedModel;
use backprop::tensor::cmp_nan_greatest;
use backprop::{Error, Result, Tensor};
use clap::Args;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The page, inlined in the binary.
const PAGE: &str = include_str!("../../assets/playground.html");
/// The largest request body accepted (larger ones get 413).
const MAX_BODY: usize = 1 << 20;
/// How much of an oversize body is read and thrown away before answering 413,
/// so the client sees the answer instead of a reset connection.
const MAX_DRAIN: usize = 16 << 20;
/// Connections open at once (more get 503).
const MAX_CONNECTIONS: usize = 512;
/// What `--model` holds when it is not given (with `--expr`).
const NO_MODEL: &str = "(no model)";
/// The longest `--timeout` accepted, in seconds.
const MAX_TIMEOUT: f64 = 3600.0;

#[derive(Args, Debug)]
// --model is the playground's checkpoint, or with --steps a tiny MLP's; --expr needs none
// (the field then holds NO_MODEL, which the group keeps from ever reaching a loader).
#[command(mut_arg("model", |a| a.required(false).default_value(NO_MODEL).hide_default_value(true)))]
#[command(group(clap::ArgGroup::new("source").required(true).args(["model", "expr"])))]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value = "8080")]
    port: u16,
    /// Address to listen on; the default only accepts connections from this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Seconds a client has to send a request (or to take an answer) before
    /// it gets 408 Request Timeout and is disconnected; also how long an idle
    /// connection stays open.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    timeout: f64,
    #[command(flatten)]
    reject: RejectArg,
    #[command(flatten)]
    steps: super::serve_steps::StepsArgs,
}

/// The model being served and what the page needs to know about it.
struct Playground {
    model: ServedModel,
    name: String,
    reject_below: super::reject::Rejector,
}

pub(crate) fn run(a: ServeArgs) -> Result<()> {
    if a.steps.wanted() {
        if a.steps.steps && a.model.model.as_os_str() == NO_MODEL {
            return Err(Error::invalid("--steps", "needs --model FILE (a tiny MLP), or give --expr instead"));
        }
        let steps = super::serve_steps::Steps::new(&a.steps, &a.model.model)?;
        return listen_and_serve(&a, &steps.describe(), |request| steps.handle(request));
    }
    let playground = load(&a)?;
    listen_and_serve(&a, &a.model.model.display().to_string(), |request| playground.handle(request))
}

/// Listens on `--host`/`--port`, prints `serving WHAT on http://ADDRESS` and
/// answers every request with `handle`, until the process ends.
fn listen_and_serve(a: &ServeArgs, what: &str, handle: impl Fn(&Request) -> Response + Sync) -> Result<()> {
    if !(a.timeout > 0.0 && a.timeout <= MAX_TIMEOUT) {
        return Err(Error::invalid(
            "--timeout",
            format!("{} is not a number of seconds above 0 and at most {MAX_TIMEOUT}", a.timeout),
        ));
    }
    let listener = http::listen(&a.host, a.port)?;
    let addr = listener.local_addr().map_or_else(|_| format!("{}:{}", a.host, a.port), |addr| addr.to_string());
    println!("serving {what} on http://{addr}");
    use std::io::Write;
    std::io::stdout().flush().ok();
    let limits = Limits {
        timeout: Duration::from_secs_f64(a.timeout),
        max_body: MAX_BODY,
        max_drain: MAX_DRAIN,
        max_connections: MAX_CONNECTIONS,
    };
    http::serve_forever(&listener, limits, handle);
    Ok(())
}

/// Loads the checkpoint; only grayscale image classifiers (`train mnist`, MLP or CNN) are served.
fn load(a: &ServeArgs) -> Result<Playground> {
    let model = ServedModel::new(a.model.load()?)?;
    let reject_below = super::reject::Rejector::new(a.reject, model.loaded())?;
    let name = a.model.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Playground { model, name, reject_below })
}

/// `{"error": ...}` with 405 and the methods allowed.
fn method_not_allowed(allow: &'static str) -> Response {
    Response {
        headers: vec![("Allow", allow.to_string())],
        ..Response::error(405, format!("method not allowed; use {allow}"))
    }
}

/// A JSON answer.
fn json_response(status: u16, value: Value) -> Response {
    Response { status, content_type: "application/json", body: value.to_string(), headers: Vec::new() }
}

impl Playground {
    fn handle(&self, request: &Request) -> Response {
        let (get, post) = (matches!(request.method.as_str(), "GET" | "HEAD"), request.method == "POST");
        match request.path.as_str() {
            "/" | "/index.html" if get => Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: PAGE.to_string(),
                headers: Vec::new(),
            },
            "/" | "/index.html" => method_not_allowed("GET"),
            "/health" if get => json_response(200, self.health()),
            "/health" => method_not_allowed("GET"),
            "/predict" if post => self.predict_body(&request.body),
            "/predict" => method_not_allowed("POST"),
            path => Response::error(404, format!("no such page: {path}")),
        }
    }

    fn health(&self) -> Value {
        let mut health = json!({
            "status": "ok",
            "model": self.name,
            "input": [self.model.rows, self.model.cols],
            "threshold": self.reject_below.describe().1,
            "ood_method": self.reject_below.describe().0,
        });
        if let (Some(h), Value::Object(network)) = (health.as_object_mut(), self.model.describe()) {
            h.extend(network);
        }
        health
    }

    fn predict_body(&self, body: &[u8]) -> Response {
        match parse_pixels(body, self.model.rows * self.model.cols) {
            Ok(pixels) => json_response(200, self.predict(pixels)),
            Err(message) => Response::error(400, message),
        }
    }

    /// Top-3 classes, rejection, saliency of the top class, every hidden layer's
    /// activations and (CNN) the feature maps.
    fn predict(&self, pixels: Vec<f32>) -> Value {
        let start = Instant::now();
        let x = Tensor::from_vec(pixels, &[1, self.model.rows * self.model.cols]);
        let shown = self.model.show(&x);
        let probs = shown.probabilities;
        let mut order: Vec<(usize, f32)> = probs.data().iter().copied().enumerate().collect();
        order.sort_by(|a, b| cmp_nan_greatest(b.1, a.1));
        let best = order[0];
        let verdict = self.model.loaded().classifier("serve").and_then(|c| self.reject_below.judge(&c, &x, best.1));
        let (unknown, score) = match &verdict {
            Ok(Some(u)) => (true, Some(u.score)),
            _ => (false, None),
        };
        let heat = self.model.saliency(&x, best.0);
        let top: Vec<Value> =
            order.iter().take(3).map(|&(class, p)| json!({ "class": class, "probability": p })).collect();
        json!({
            "top": top,
            "unknown": unknown,
            "threshold": self.reject_below.describe().1,
            "ood_method": self.reject_below.describe().0,
            "ood_score": score,
            "probabilities": probs.data(),
            "saliency": heat,
            "activations": shown.activations,
            "feature_maps": shown.feature_maps,
            "ms": start.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

/// `{"pixels": [expected numbers, each finite, from 0 to 1]}`.
fn parse_pixels(body: &[u8], expected: usize) -> std::result::Result<Vec<f32>, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        pixels: Vec<f64>,
    }
    let parsed: Body = serde_json::from_slice(body)
        .map_err(|e| format!("expected JSON {{\"pixels\": [{expected} numbers from 0 to 1]}}: {e}"))?;
    if parsed.pixels.len() != expected {
        return Err(format!("expected {expected} pixels, got {}", parsed.pixels.len()));
    }
    parsed
        .pixels
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = v as f32;
            if !f.is_finite() {
                Err(format!("pixel {i} is not a finite number"))
            } else if !(0.0..=1.0).contains(&f) {
                Err(format!("pixel {i} is {v}; pixels must be from 0 to 1"))
            } else {
                Ok(f)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_pixels;

    #[test]
    fn pixels_are_checked() {
        assert_eq!(parse_pixels(br#"{"pixels":[0,0.5,1]}"#, 3).unwrap(), vec![0.0, 0.5, 1.0]);
        assert!(parse_pixels(br#"{"pixels":[0,0.5]}"#, 3).unwrap_err().contains("expected 3 pixels, got 2"));
        assert!(parse_pixels(br#"{"pixels":[0,0.5,1e300]}"#, 3).unwrap_err().contains("not a finite"));
        assert!(parse_pixels(br#"{"pixels":[0,0.5,2]}"#, 3).unwrap_err().contains("from 0 to 1"));
        assert!(parse_pixels(b"{pixels", 3).is_err());
    }
}
