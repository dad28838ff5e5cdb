//! `backprop serve` under load and faults: stalled clients, malformed and
//! oversized requests, keep-alive, and 200 concurrent clients.

mod common;

use common::serve::{model, read_reply, Server};
use common::{assert_clean_failure, backprop};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends raw bytes on a new connection and reads one answer.
fn raw(server: &Server, bytes: &[u8]) -> common::serve::Reply {
    let mut s = server.connect();
    let _ = s.write_all(bytes);
    read_reply(&mut s)
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(80)])))
}

/// Milliseconds for one GET /health on a new connection.
fn health_ms(server: &Server) -> f64 {
    let start = Instant::now();
    assert_eq!(server.request("GET", "/health", b"").status, 200);
    start.elapsed().as_secs_f64() * 1000.0
}

#[test]
fn stalled_clients_get_408_and_never_block_the_others() {
    let server = Server::start(model(), &["--timeout", "2"]);
    // Declares 5000 bytes of body and sends 5 (the report).
    let mut body_stall = server.connect();
    body_stall.write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"pix").unwrap();
    // Stops in the middle of its headers (slowloris).
    let mut head_stall = server.connect();
    head_stall.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    // Connects and says nothing.
    let mut silent = server.connect();
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    for _ in 0..5 {
        let ms = health_ms(&server);
        assert!(ms < 1000.0, "GET /health took {ms:.0} ms with stalled clients connected");
    }
    let body_answer = read_reply(&mut body_stall).expect("the stalled upload gets an answer");
    let waited = started.elapsed();
    assert!(body_answer.assert_error(408).contains("5 of 5000 bytes"), "{}", body_answer.body);
    assert_eq!(body_answer.header("connection"), Some("close"));
    assert!(waited < Duration::from_secs(4), "408 came after {waited:?} with --timeout 2");
    read_reply(&mut head_stall).expect("the stalled head gets an answer").assert_error(408);
    // The silent connection is closed: end of stream, no answer.
    let mut rest = Vec::new();
    assert_eq!(silent.read_to_end(&mut rest).unwrap(), 0, "{:?}", String::from_utf8_lossy(&rest));
    // A client trickling one byte at a time cannot stretch its request past the timeout.
    let mut trickle = server.connect();
    let start = Instant::now();
    let head =
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for b in head {
        if trickle.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let answer = read_reply(&mut trickle).expect("the trickling client gets an answer");
    answer.assert_error(408);
    assert!(start.elapsed() < Duration::from_secs(5), "trickling lasted {:?}", start.elapsed());
    assert!(health_ms(&server) < 1000.0);
}

#[test]
fn malformed_and_oversized_requests_get_errors_naming_the_fault() {
    let server = Server::start(model(), &[]);
    assert!(raw(&server, b"HELLO\r\n\r\n").assert_error(400).contains("malformed"));
    assert!(raw(&server, b"GET / HTTP/9.9\r\n\r\n").assert_error(400).contains("malformed"));
    let long_head = format!("GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert!(raw(&server, long_head.as_bytes()).assert_error(431).contains("head"));
    let bad_length = b"POST /predict HTTP/1.1\r\nContent-Length: lots\r\n\r\n";
    assert!(raw(&server, bad_length).assert_error(400).contains("Content-Length"));
    // Two lengths: the rest of the body must not be served as a second request.
    let smuggled = b"POST /predict HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 45\r\n\r\n{}\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = server.connect();
    s.write_all(smuggled).unwrap();
    let first = read_reply(&mut s).expect("an answer");
    assert!(first.assert_error(400).contains("conflicting Content-Length"));
    assert!(read_reply(&mut s).is_none(), "the connection is closed after the refusal");
    let chunked = b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert!(raw(&server, chunked).assert_error(411).contains("Content-Length"));
    // A declared 10 GB body is refused at once, without reading it.
    let start = Instant::now();
    let huge = b"POST /predict HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n{}";
    assert!(raw(&server, huge).assert_error(413).contains("10000000000"));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(server.request("GET", "/health", b"").status, 200, "still serving");
}

#[test]
fn keep_alive_expect_continue_and_http_1_0() {
    let server = Server::start(model(), &[]);
    // Several requests on one connection, the last one closing it.
    let mut s = server.connect();
    let pixels = serde_json::json!({ "pixels": vec![0.0; 784] }).to_string();
    for i in 0..5 {
        let close = if i == 4 { "Connection: close\r\n" } else { "" };
        let head = format!("POST /predict HTTP/1.1\r\nHost: x\r\n{close}Content-Length: {}\r\n\r\n", pixels.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(pixels.as_bytes()).unwrap();
        let reply = read_reply(&mut s).expect("an answer on the kept-alive connection");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("connection"), Some(if i == 4 { "close" } else { "keep-alive" }));
    }
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0, "closed after Connection: close");
    // curl sends Expect: 100-continue before large bodies and waits for it.
    let mut s = server.connect();
    let head = format!("POST /predict HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", pixels.len());
    s.write_all(head.as_bytes()).unwrap();
    let interim = read_reply(&mut s).expect("100 Continue");
    assert_eq!(interim.status, 100);
    s.write_all(pixels.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut s).unwrap().status, 200);
    // HTTP/1.0 closes after one answer unless asked.
    let mut s = server.connect();
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut s).unwrap().header("connection"), Some("close"));
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn two_hundred_concurrent_clients_are_all_answered() {
    let server = Server::start(model(), &[]);
    let pixels = serde_json::json!({ "pixels": vec![0.25; 784] }).to_string();
    let start = Instant::now();
    let answered: usize = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..200)
            .map(|client| {
                let (server, pixels) = (&server, &pixels);
                scope.spawn(move || {
                    // Half the clients keep one connection; half open one per request.
                    let mut kept: Option<TcpStream> = None;
                    let mut ok = 0;
                    for i in 0..20 {
                        let mut fresh;
                        let s = if client % 2 == 0 {
                            kept.get_or_insert_with(|| server.connect())
                        } else {
                            fresh = server.connect();
                            &mut fresh
                        };
                        let close = if client % 2 == 0 { "" } else { "Connection: close\r\n" };
                        let request = if i % 2 == 0 {
                            format!("GET /health HTTP/1.1\r\nHost: x\r\n{close}\r\n")
                        } else {
                            format!("POST /predict HTTP/1.1\r\n{close}Content-Length: {}\r\n\r\n{pixels}", pixels.len())
                        };
                        s.write_all(request.as_bytes()).unwrap();
                        let reply = read_reply(s).unwrap_or_else(|| panic!("client {client}, request {i}: no answer"));
                        assert_eq!(reply.status, 200, "client {client}, request {i}: {}", reply.body);
                        ok += 1;
                    }
                    ok
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert_eq!(answered, 200 * 20);
    println!("serve: 200 clients x 20 requests answered in {:.2} s", start.elapsed().as_secs_f64());
}

#[test]
fn bad_timeouts_are_refused() {
    for bad in ["0", "-1", "nan", "1e9"] {
        let run = backprop(&["serve", "--model", model().to_str().unwrap(), "--port", "0", "--timeout", bad]);
        assert_clean_failure(&run, &["--timeout"]);
    }
}
