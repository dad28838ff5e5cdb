//! A running `backprop serve` for the tests, and raw HTTP requests to it.

use super::{backprop, mnist_arg};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A digit MLP (hidden sizes 32, 16) trained once per test binary.
pub fn model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-model");
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.to_str().unwrap().to_string();
        let args = ["train", "mnist", "--data", &mnist_arg(), "--epochs", "2", "--hidden", "32,16"];
        backprop(&[&args[..], &["--out", &out, "--threads", "2"]].concat()).expect_success("train mnist");
        dir.join("model.safetensors")
    })
}

/// A running `backprop serve`; killed when dropped.
pub struct Server {
    child: Child,
    port: u16,
}

impl Server {
    pub fn start(model: &Path, extra: &[&str]) -> Server {
        Server::start_with(&[&["--model", model.to_str().unwrap()][..], extra].concat())
    }

    /// `backprop serve --port 0 ARGS...`.
    pub fn start_with(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backprop"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the backprop binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let mut server = Server { child, port: 0 };
        let Some(addr) = line.trim().strip_prefix("serving ").and_then(|s| s.split(" on http://").nth(1)) else {
            let mut err = String::new();
            let _ = server.child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("unexpected first line {line:?}; stderr: {err}");
        };
        assert!(addr.starts_with("127.0.0.1:"), "binds 127.0.0.1 by default: {line}");
        server.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        assert_ne!(server.port, 0, "--port 0 prints the real port: {line}");
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A new connection to the server (30 s read timeout).
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// One request on a fresh connection; returns status, headers (lower-case names) and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        let mut s = self.connect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) before it has read everything: a failed write is fine.
        let _ = s.write_all(body);
        read_reply(&mut s).unwrap_or_else(|| panic!("no answer to {method} {path}"))
    }

    pub fn predict(&self, pixels: &[f32]) -> serde_json::Value {
        let body = serde_json::json!({ "pixels": pixels }).to_string();
        let r = self.request("POST", "/predict", body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// An error answer: the status, JSON, and an `error` message.
    pub fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.header("content-type").unwrap_or("").contains("application/json"));
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error message: {}", self.body)).to_string()
    }
}

/// Reads one answer (head, then Content-Length bytes of body); None if the
/// connection closes before a whole head arrives.
pub fn read_reply(s: &mut impl Read) -> Option<Reply> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some(Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}
