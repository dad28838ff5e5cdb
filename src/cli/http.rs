//! The HTTP/1.1 plumbing of `backprop serve`: one thread per connection (up
//! to a cap), every request read against a deadline, bounded sizes.
//!
//! Requests are parsed by `httparse` (hyper's parser); the connection
//! handling is ours because tiny_http, used before, has no read timeout: one
//! client that declared a body and never sent it stopped the whole server.
//! Here a client that stalls gets 408 Request Timeout when `timeout` has
//! passed since its request began (however slowly it trickles bytes), and
//! the other connections are served meanwhile.

use backprop::{Error, Result};
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD: usize = 16 << 10;
/// The most headers in one request.
const MAX_HEADERS: usize = 64;
/// While an oversize body is dropped, the longest pause before answering 413.
const DRAIN_PAUSE: Duration = Duration::from_secs(1);

/// What the server accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// From a request's first byte to its last (and for writing an answer).
    pub timeout: Duration,
    /// The largest request body; larger ones get 413.
    pub max_body: usize,
    /// How much of an oversize body is read and dropped before answering 413,
    /// so the client sees the answer instead of a reset connection.
    pub max_drain: usize,
    /// Open connections at once; more get 503 and are closed.
    pub max_connections: usize,
}

/// A request whose body has been read whole.
#[derive(Debug)]
pub(crate) struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path, without query string or fragment.
    pub path: String,
    /// The body (empty without one).
    pub body: Vec<u8>,
}

/// An answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Headers besides Content-Type, Content-Length, Connection and Cache-Control.
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// `{"error": message}` with the status.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        let body = serde_json::json!({ "error": message.into() }).to_string();
        Response { status, content_type: "application/json", body, headers: Vec::new() }
    }
}

/// A socket listening on `host:port` (port 0 picks a free one).
///
/// # Errors
/// When the address does not resolve or cannot be bound (in use, not local).
pub(crate) fn listen(host: &str, port: u16) -> Result<TcpListener> {
    let cannot =
        |e: &dyn std::fmt::Display| Error::invalid("--host/--port", format!("cannot listen on {host}:{port}: {e}"));
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| cannot(&e))?
        .next()
        .ok_or_else(|| cannot(&"the host name has no address"))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| cannot(&e))?;
    socket.set_reuse_address(true).map_err(|e| cannot(&e))?;
    socket.bind(&addr.into()).map_err(|e| cannot(&e))?;
    socket.listen(1024).map_err(|e| cannot(&e))?;
    Ok(TcpListener::from(socket))
}

/// Answers every connection on `listener` with `handle`, each on its own
/// thread; returns only if accepting fails for good.
pub(crate) fn serve_forever(listener: &TcpListener, limits: Limits, handle: impl Fn(&Request) -> Response + Sync) {
    let open = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for stream in listener.incoming() {
            // Accept errors (a client that reset before accept, too many open
            // files) concern one connection, not the server.
            let Ok(mut stream) = stream else { continue };
            if stream.set_write_timeout(Some(limits.timeout)).is_err() {
                continue;
            }
            if open.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
                open.fetch_sub(1, Ordering::SeqCst);
                let busy = Response::error(503, "too many connections; try again");
                let _ = write_response(&mut stream, &busy, false, false);
                continue;
            }
            let (open, handle) = (&open, &handle);
            scope.spawn(move || {
                serve_connection(stream, limits, handle);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

/// Requests on one connection, until the client closes it, asks to, stalls
/// or sends something malformed.
fn serve_connection(mut stream: TcpStream, limits: Limits, handle: &(impl Fn(&Request) -> Response + Sync)) {
    let mut buffered = Vec::new();
    loop {
        let (answer, keep_alive, head_only) = match read_request(&mut stream, &mut buffered, limits) {
            Ok(None) => return,
            Ok(Some((request, keep_alive))) => {
                let head_only = request.method == "HEAD";
                (handle(&request), keep_alive, head_only)
            }
            Err(answer) => (answer, false, false),
        };
        if write_response(&mut stream, &answer, keep_alive, head_only).is_err() || !keep_alive {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Reads one request. `Ok(None)`: the client closed the connection, or went
/// quiet between requests. `Err`: the answer to send before closing.
fn read_request(
    stream: &mut TcpStream,
    buffered: &mut Vec<u8>,
    limits: Limits,
) -> std::result::Result<Option<(Request, bool)>, Response> {
    // Between requests a connection may idle for `timeout`; a request then has
    // `timeout` from its first byte.
    let mut deadline = Instant::now() + limits.timeout;
    let mut started = !buffered.is_empty();
    let timed_out = |got: &str| Response::error(408, format!("timed out after {:?} waiting for {got}", limits.timeout));
    // The head: up to the blank line.
    let head_len = loop {
        let end = buffered.windows(4).position(|w| w == b"\r\n\r\n").map(|end| end + 4);
        if end.unwrap_or(buffered.len()) > MAX_HEAD {
            return Err(Response::error(431, format!("request head is over {MAX_HEAD} bytes")));
        }
        if let Some(end) = end {
            break end;
        }
        match read_some(stream, buffered, deadline) {
            Ok(0) if buffered.is_empty() => return Ok(None),
            Ok(0) => return Err(Response::error(400, "connection closed in the middle of the request head")),
            Ok(_) if !started => {
                started = true;
                deadline = Instant::now() + limits.timeout;
            }
            Ok(_) => {}
            Err(Stall::TimedOut) if buffered.is_empty() => return Ok(None),
            Err(Stall::TimedOut) => return Err(timed_out("the request head")),
            Err(Stall::Failed) => return Ok(None),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buffered[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Response::error(400, "incomplete request head")),
        Err(e) => return Err(Response::error(400, format!("malformed request: {e}"))),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let http10 = parsed.version == Some(0);
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let connection = header("connection").unwrap_or_default();
    let keep_alive = if http10 { connection == "keep-alive" } else { connection != "close" };
    if header("transfer-encoding").is_some_and(|te| te != "identity") {
        return Err(Response::error(411, "chunked bodies are not accepted; send Content-Length"));
    }
    // Two different lengths would let the rest of one body pass as a second
    // request (request smuggling, RFC 9112 section 6.3): refuse the request.
    let mut lengths = parsed.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("content-length"));
    if let (Some(first), Some(_)) = (lengths.next(), lengths.clone().next()) {
        if lengths.any(|h| h.value.trim_ascii() != first.value.trim_ascii()) {
            return Err(Response::error(400, "conflicting Content-Length headers"));
        }
    }
    let length = match header("content-length") {
        None => 0,
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Err(Response::error(400, format!("Content-Length {text:?} is not a number of bytes"))),
        },
    };
    let expect_continue = header("expect").is_some_and(|e| e == "100-continue");
    buffered.drain(..head_len);
    if length > limits.max_body {
        // Drop what fits in the drain budget while the client keeps sending
        // (a pause of a second ends it), so that the client reads the answer.
        let mut dropped = std::mem::take(buffered).len();
        let mut sink = Vec::new();
        while dropped < length.min(limits.max_drain) {
            let pause = Instant::now() + limits.timeout.min(DRAIN_PAUSE);
            match read_some(stream, &mut sink, pause.min(deadline)) {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
            sink.clear();
        }
        return Err(Response::error(413, format!("request body is {length} bytes, over {} bytes", limits.max_body)));
    }
    if length > buffered.len() && expect_continue {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while buffered.len() < length {
        match read_some(stream, buffered, deadline) {
            Ok(0) | Err(Stall::Failed) => return Ok(None),
            Ok(_) => {}
            Err(Stall::TimedOut) => {
                return Err(timed_out(&format!("the request body ({} of {length} bytes arrived)", buffered.len())));
            }
        }
    }
    let body: Vec<u8> = buffered.drain(..length).collect();
    Ok(Some((Request { method, path, body }, keep_alive)))
}

/// Why a read gave nothing.
enum Stall {
    /// The deadline passed.
    TimedOut,
    /// The connection failed (reset).
    Failed,
}

/// Appends what arrives before `deadline` to `buf`; the count, 0 at end of stream.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> std::result::Result<usize, Stall> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Stall::TimedOut);
    }
    stream.set_read_timeout(Some(left)).map_err(|_| Stall::Failed)?;
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Err(Stall::TimedOut),
            Err(_) => return Err(Stall::Failed),
        }
    }
}

/// Writes the status line, headers and (unless `head_only`) the body.
fn write_response(stream: &mut TcpStream, r: &Response, keep_alive: bool, head_only: bool) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (name, value) in &r.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&r.body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// The reason phrase of the statuses this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
