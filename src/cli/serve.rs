//! `backprop serve`: a digit playground in the browser, and a small JSON API.
//!
//! `GET /` is one self-contained page (no network access needed: HTML, CSS and
//! JS inline) where you draw a digit and see, after each stroke, the top-3
//! classes, the saliency map and every hidden layer's activations.
//! `POST /predict` with `{"pixels": [...]}` answers the same as JSON;
//! `GET /health` says the server is up and which model it serves.
//!
//! Requests are handled one at a time: this is a local playground, and one
//! prediction of an MNIST MLP takes about a millisecond.

use super::args::{ModelArg, RejectArg};
use backprop::autograd::Graph;
use backprop::explain::{normalized_magnitude, saliency};
use backprop::models::Model;
use backprop::nn::Mlp;
use backprop::{Error, Result, Tensor};
use clap::Args;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Instant;
use tiny_http::{Header, Method, Request, Response, Server};

/// The page, inlined in the binary.
const PAGE: &str = include_str!("../../assets/playground.html");
/// The largest request body accepted (larger ones get 413).
const MAX_BODY: usize = 1 << 20;
/// How much of an oversize body is read and thrown away before answering 413,
/// so the client sees the answer instead of a reset connection.
const MAX_DRAIN: u64 = 16 << 20;

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value = "8080")]
    port: u16,
    /// Address to listen on; the default only accepts connections from this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[command(flatten)]
    reject: RejectArg,
}

/// The model being served and what the page needs to know about it.
struct Playground {
    model: Mlp,
    name: String,
    rows: usize,
    cols: usize,
    reject_below: Option<f32>,
}

pub(crate) fn run(a: ServeArgs) -> Result<()> {
    let playground = load(&a)?;
    let server = Server::http((a.host.as_str(), a.port))
        .map_err(|e| Error::invalid("--host/--port", format!("cannot listen on {}:{}: {e}", a.host, a.port)))?;
    let addr = match server.server_addr().to_ip() {
        Some(addr) => addr.to_string(),
        None => format!("{}:{}", a.host, a.port),
    };
    println!("serving {} on http://{addr}", a.model.model.display());
    use std::io::Write;
    std::io::stdout().flush().ok();
    for request in server.incoming_requests() {
        playground.handle(request);
    }
    Ok(())
}

/// Loads the checkpoint; only grayscale image MLPs (`train mnist`) are served.
fn load(a: &ServeArgs) -> Result<Playground> {
    let loaded = a.model.load()?;
    let need = "a grayscale digit MLP of `train mnist`";
    let (shape, reject_below) = {
        let classifier = loaded.classifier("serve").map_err(|_| loaded.mismatch("serve", need))?;
        if classifier.mlp.is_none() || classifier.has_channels() {
            return Err(loaded.mismatch("serve", need));
        }
        let classifier = classifier.require_outputs()?;
        (classifier.image_shape()?, a.reject.threshold(&loaded)?)
    };
    // The playground shows the hidden layers' activations: it keeps the MLP itself.
    let Model::Mlp(model) = loaded.model else {
        return Err(Error::Checkpoint { path: a.model.model.clone(), message: format!("is not {need}") });
    };
    let name = a.model.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Playground { model, name, rows: shape.height, cols: shape.width, reject_below })
}

/// An answer: status and body; JSON unless it is the page.
struct Reply {
    status: u16,
    body: String,
    html: bool,
    allow: Option<&'static str>,
}

impl Reply {
    fn json(status: u16, value: Value) -> Reply {
        Reply { status, body: value.to_string(), html: false, allow: None }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }

    fn method_not_allowed(allow: &'static str) -> Reply {
        Reply { allow: Some(allow), ..Reply::error(405, format!("method not allowed; use {allow}")) }
    }
}

impl Playground {
    fn handle(&self, mut request: Request) {
        let path = request.url().split(['?', '#']).next().unwrap_or("/").to_string();
        let method = request.method().clone();
        let reply = match (path.as_str(), &method) {
            ("/" | "/index.html", Method::Get | Method::Head) => {
                Reply { status: 200, body: PAGE.to_string(), html: true, allow: None }
            }
            ("/" | "/index.html", _) => Reply::method_not_allowed("GET"),
            ("/health", Method::Get | Method::Head) => Reply::json(200, self.health()),
            ("/health", _) => Reply::method_not_allowed("GET"),
            ("/predict", Method::Post) => match read_body(&mut request) {
                Ok(body) => self.predict_body(&body),
                Err(reply) => reply,
            },
            ("/predict", _) => Reply::method_not_allowed("POST"),
            _ => Reply::error(404, format!("no such page: {path}")),
        };
        let content_type = if reply.html { "text/html; charset=utf-8" } else { "application/json" };
        let mut response = Response::from_string(reply.body)
            .with_status_code(reply.status)
            .with_header(header("Content-Type", content_type))
            .with_header(header("Cache-Control", "no-store"));
        if let Some(allow) = reply.allow {
            response = response.with_header(header("Allow", allow));
        }
        // A client that went away is no reason to stop serving the others.
        let _ = request.respond(response);
    }

    fn health(&self) -> Value {
        json!({
            "status": "ok",
            "model": self.name,
            "input": [self.rows, self.cols],
            "hidden": self.model.config().hidden,
            "classes": self.model.config().outputs,
            "activation": self.model.config().activation,
            "threshold": self.reject_below,
        })
    }

    fn predict_body(&self, body: &[u8]) -> Reply {
        match parse_pixels(body, self.rows * self.cols) {
            Ok(pixels) => Reply::json(200, self.predict(pixels)),
            Err(message) => Reply::error(400, message),
        }
    }

    /// Top-3 classes, rejection, saliency of the top class and every hidden layer's activations.
    fn predict(&self, pixels: Vec<f32>) -> Value {
        let start = Instant::now();
        let config = self.model.config();
        let x = Tensor::from_vec(pixels, &[1, config.inputs]);
        let g = Graph::no_grad();
        let outputs = self.model.forward_all(&g, g.constant(x.clone()));
        // forward_all: the input, then each Linear and its activation; the
        // hidden activations are at 2, 4, ...
        let activations: Vec<Vec<f32>> =
            (0..config.hidden.len()).map(|i| outputs[2 + 2 * i].value().data().to_vec()).collect();
        let probs = outputs.last().expect("forward_all returns the input at least").value().softmax();
        let mut order: Vec<(usize, f32)> = probs.data().iter().copied().enumerate().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best = order[0];
        let unknown = self.reject_below.is_some_and(|t| best.1 < t);
        let heat = match saliency(&self.model, &x, best.0) {
            Ok(s) => normalized_magnitude(&s).data().to_vec(),
            Err(_) => vec![0.0; config.inputs],
        };
        let top: Vec<Value> =
            order.iter().take(3).map(|&(class, p)| json!({ "class": class, "probability": p })).collect();
        json!({
            "top": top,
            "unknown": unknown,
            "threshold": self.reject_below,
            "probabilities": probs.data(),
            "saliency": heat,
            "activations": activations,
            "ms": start.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names and values are valid")
}

/// Reads at most [`MAX_BODY`] bytes, whatever Content-Length claims.
fn read_body(request: &mut Request) -> std::result::Result<Vec<u8>, Reply> {
    let too_large = || Reply::error(413, format!("request body is over {} bytes", MAX_BODY));
    let declared = request.body_length();
    let mut body = Vec::new();
    let reader = request.as_reader();
    if declared.is_some_and(|n| n > MAX_BODY) {
        let _ = std::io::copy(&mut reader.take(MAX_DRAIN), &mut std::io::sink());
        return Err(too_large());
    }
    reader
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Reply::error(400, format!("cannot read the request body: {e}")))?;
    if body.len() > MAX_BODY {
        let _ = std::io::copy(&mut reader.take(MAX_DRAIN), &mut std::io::sink());
        return Err(too_large());
    }
    Ok(body)
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
