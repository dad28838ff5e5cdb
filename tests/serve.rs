//! `backprop serve`: the playground page and the JSON API, over real HTTP,
//! and (where Chromium is installed) the page itself in a headless browser.

mod common;

use common::browser::{chromium, run_chromium};
use common::serve::{model, Server};
use common::{assert_clean_failure, backprop, mnist_dir};
use std::path::Path;
use std::time::Instant;

#[test]
fn serves_the_page_and_predicts_test_digits() {
    let server = Server::start(model(), &[]);

    let page = server.request("GET", "/", b"");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.body.contains("<canvas"), "the page has a canvas");
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "the page needs no network");

    let health = server.request("GET", "/health", b"");
    assert_eq!(health.status, 200);
    let health = health.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["hidden"], serde_json::json!([32, 16]));
    assert_eq!(health["input"], serde_json::json!([28, 28]));

    let test = backprop::data::load_mnist_dir(&mnist_dir()).unwrap().test;
    let mut right = 0;
    for i in 0..10 {
        let pixels = &test.inputs.data()[i * 784..(i + 1) * 784];
        let out = server.predict(pixels);
        let top = out["top"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let probs: Vec<f64> = top.iter().map(|t| t["probability"].as_f64().unwrap()).collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]) && probs.iter().all(|p| (0.0..=1.0).contains(p)));
        right += usize::from(top[0]["class"].as_u64() == Some(test.labels[i] as u64));
        assert_eq!(out["unknown"], false, "no threshold stored, none given");
        assert!(out["threshold"].is_null());
        let saliency = out["saliency"].as_array().unwrap();
        assert_eq!(saliency.len(), 784);
        assert!(saliency.iter().all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
        assert!(saliency.iter().any(|v| v.as_f64().unwrap() > 0.999), "saliency is scaled to its maximum");
        let sizes: Vec<usize> =
            out["activations"].as_array().unwrap().iter().map(|l| l.as_array().unwrap().len()).collect();
        assert_eq!(sizes, [32, 16]);
        assert!(out["ms"].as_f64().unwrap() >= 0.0);
    }
    assert!(right >= 8, "only {right} of 10 test digits predicted right");

    // Latency: the mean over 100 requests, each on a new connection.
    let pixels = &test.inputs.data()[..784];
    let start = Instant::now();
    let mut model_ms = 0.0;
    for _ in 0..100 {
        model_ms += server.predict(pixels)["ms"].as_f64().unwrap();
    }
    let mean = start.elapsed().as_secs_f64() * 1000.0 / 100.0;
    println!("serve: mean latency per prediction {mean:.2} ms over HTTP ({:.2} ms in the model)", model_ms / 100.0);
}

#[test]
fn rejects_bad_requests_with_json_errors() {
    let server = Server::start(model(), &[]);
    let too_big = vec![b' '; 2 << 20];
    assert!(server.request("POST", "/predict", &too_big).assert_error(413).contains("over"));
    assert!(server.request("POST", "/predict", b"{\"pixels\": [0.1,").assert_error(400).contains("JSON"));
    assert!(server.request("POST", "/predict", b"[1, 2]").assert_error(400).contains("pixels"));
    let short = serde_json::json!({ "pixels": vec![0.5; 783] }).to_string();
    assert!(server.request("POST", "/predict", short.as_bytes()).assert_error(400).contains("783"));
    let huge = format!("{{\"pixels\": [1e300{}]}}", ",0".repeat(783));
    assert!(server.request("POST", "/predict", huge.as_bytes()).assert_error(400).contains("finite"));
    let get = server.request("GET", "/predict", b"");
    get.assert_error(405);
    assert_eq!(get.header("allow"), Some("POST"));
    server.request("DELETE", "/", b"").assert_error(405);
    assert!(server.request("GET", "/nope", b"").assert_error(404).contains("/nope"));
    // Still serving after all that.
    assert_eq!(server.request("GET", "/health", b"").status, 200);
}

#[test]
fn reject_below_says_unknown() {
    let server = Server::start(model(), &["--reject-below", "1"]);
    let out = server.predict(&[0.0; 784]);
    assert_eq!(out["unknown"], true);
    assert_eq!(out["threshold"], 1.0);
}

#[test]
fn refuses_what_it_cannot_serve() {
    let dir = common::TempDir::new("serve-bad");
    let run = backprop(&["serve", "--model", &dir.arg("missing.safetensors"), "--port", "0"]);
    assert_clean_failure(&run, &["missing.safetensors"]);
    let not_a_model = dir.write("x.safetensors", b"not a checkpoint");
    let run = backprop(&["serve", "--model", not_a_model.to_str().unwrap(), "--port", "0"]);
    assert_clean_failure(&run, &["safetensors"]);
    // A CSV regression model: refused at startup with one line.
    let csv = dir.write("data.csv", b"a,b,y\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n");
    let out = dir.arg("csv");
    let args = ["train", "csv", "--file", csv.to_str().unwrap(), "--target", "y", "--out", &out, "--epochs", "1"];
    backprop(&args).expect_success("train csv");
    let model = dir.join("csv/model.safetensors");
    let run = backprop(&["serve", "--model", model.to_str().unwrap(), "--port", "0"]);
    assert_clean_failure(&run, &["csv", "train mnist"]);
}

#[test]
fn serves_models_of_other_image_sizes() {
    let dir = common::TempDir::new("serve-10x10");
    let server = Server::start(&common::train_tiny_10x10(&dir), &[]);
    assert_eq!(server.request("GET", "/health", b"").json()["input"], serde_json::json!([10, 10]));
    assert_eq!(server.predict(&[0.5; 100])["saliency"].as_array().unwrap().len(), 100);
    let wrong = serde_json::json!({ "pixels": vec![0.5; 784] }).to_string();
    assert!(server.request("POST", "/predict", wrong.as_bytes()).assert_error(400).contains("expected 100"));
}

#[test]
fn the_page_draws_and_predicts_in_a_browser() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed; CI must install it (apt-get install -y chromium)");
        }
        println!("skipping browser test: chromium not installed");
        return;
    };
    let server = Server::start(model(), &[]);
    let url = server.url("/?selftest=1");
    let profile = common::TempDir::new("serve-chromium");

    let out = run_chromium(&browser, &profile.join("dom"), &["--dump-dom", "--virtual-time-budget=10000", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let first = dom.find("class=\"prediction\"").unwrap_or_else(|| panic!("no prediction in the page:\n{dom}"));
    let item = &dom[first..dom[first..].find("</li>").map_or(dom.len(), |e| first + e)];
    let class = item.split("class=\"digit\">").nth(1).and_then(|s| s.chars().next()).unwrap();
    assert!(class.is_ascii_digit(), "{item}");
    assert!(item.contains('%'), "the prediction shows a probability: {item}");
    println!("browser selftest: the stroke was read as {class}");
    assert!(dom.contains("data-class=\"1\""), "a vertical stroke has 1 among the top 3:\n{item}");

    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/playground.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    let out = run_chromium(
        &browser,
        &profile.join("shot"),
        &[&shot, "--window-size=1000,800", "--hide-scrollbars", "--virtual-time-budget=10000", &url],
    );
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let img = image::open(&png).unwrap_or_else(|e| panic!("{} is not a PNG: {e}", png.display()));
    assert_eq!((img.width(), img.height()), (1000, 800));
    println!("screenshot: {}", png.display());
}
