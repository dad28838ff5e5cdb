//! `backprop serve`: a digit playground in the browser, and a small JSON API.
//!
//! `GET /` is one self-contained page (no network access needed: HTML, CSS and
//! JS inline) where you draw a digit and see, after each stroke, the top-3
//! classes, the saliency map, every hidden layer's activations and, for a
//! CNN, each convolution block's feature maps (see `serve_model.rs`).
//! `POST /predict` with `{"pixels": [...]}` answers the same as JSON;
//! `GET /health` says the server is up and which model it serves.
//!
//! Requests are handled one at a time: this is a local playground, and one
//! prediction of an MNIST MLP takes about a millisecond.

use super::args::{ModelArg, RejectArg};
use super::serve_model::ServedModel;
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
    model: ServedModel,
    name: String,
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

/// Loads the checkpoint; only grayscale image classifiers (`train mnist`, MLP or CNN) are served.
fn load(a: &ServeArgs) -> Result<Playground> {
    let model = ServedModel::new(a.model.load()?)?;
    let reject_below = a.reject.threshold(model.loaded())?;
    let name = a.model.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Playground { model, name, reject_below })
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
        let mut health = json!({
            "status": "ok",
            "model": self.name,
            "input": [self.model.rows, self.model.cols],
            "threshold": self.reject_below,
        });
        if let (Some(h), Value::Object(network)) = (health.as_object_mut(), self.model.describe()) {
            h.extend(network);
        }
        health
    }

    fn predict_body(&self, body: &[u8]) -> Reply {
        match parse_pixels(body, self.model.rows * self.model.cols) {
            Ok(pixels) => Reply::json(200, self.predict(pixels)),
            Err(message) => Reply::error(400, message),
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
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best = order[0];
        let unknown = self.reject_below.is_some_and(|t| best.1 < t);
        let heat = self.model.saliency(&x, best.0);
        let top: Vec<Value> =
            order.iter().take(3).map(|&(class, p)| json!({ "class": class, "probability": p })).collect();
        json!({
            "top": top,
            "unknown": unknown,
            "threshold": self.reject_below,
            "probabilities": probs.data(),
            "saliency": heat,
            "activations": shown.activations,
            "feature_maps": shown.feature_maps,
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
