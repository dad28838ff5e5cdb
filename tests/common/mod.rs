//! Helpers shared by the CLI tests: scratch folders, running the real
//! binary, writing IDX data sets and tiny trained models.

#![allow(dead_code)]

pub mod browser;
pub mod serve;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch folder `temp_dir()/backprop-<name>-<pid>`, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("backprop-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The folder as a command-line argument.
    pub fn arg(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }

    /// Writes `bytes` to `name` in the folder (creating sub-folders) and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The bundled MNIST subset.
pub fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k")
}

pub fn mnist_arg() -> String {
    mnist_dir().to_str().unwrap().to_string()
}

/// A file of `tests/fixtures`, as a command-line argument.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).to_str().unwrap().to_string()
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole output unless the run succeeded.
    pub fn expect_success(self, what: &str) -> Run {
        assert!(self.success(), "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

/// Runs `backprop` with `args` (the working directory is the temp folder, so
/// nothing lands in the source tree by accident).
pub fn backprop<S: AsRef<str>>(args: &[S]) -> Run {
    backprop_with_env(args, &[])
}

/// [`backprop`] with these environment variables set.
pub fn backprop_with_env<S: AsRef<str>>(args: &[S], vars: &[(&str, &str)]) -> Run {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_backprop"))
        .args(&args)
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the backprop binary runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts the run failed cleanly: non-zero exit, exactly one non-empty line
/// on stderr, no panic, and that line contains every one of `words`
/// (case-insensitive). Returns the line.
pub fn assert_clean_failure(run: &Run, words: &[&str]) -> String {
    let context = format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", run.code, run.stdout, run.stderr);
    assert!(run.code.is_some(), "killed by a signal: {context}");
    assert_ne!(run.code, Some(0), "expected a failure: {context}");
    assert!(!run.stderr.contains("panicked"), "the binary panicked: {context}");
    assert!(!run.stderr.contains("RUST_BACKTRACE"), "the binary panicked: {context}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr: {context}");
    let line = lines[0].trim();
    assert!(!line.is_empty(), "the error line is empty: {context}");
    let lower = line.to_lowercase();
    for w in words {
        assert!(lower.contains(&w.to_lowercase()), "the error line does not mention {w:?}: {line}");
    }
    line.to_string()
}

/// The bytes of an unsigned-byte IDX file.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The file names of the bundled data folder.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Copies the bundled files into `dir`, except those named in `skip`.
pub fn copy_mnist(dir: &Path, skip: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for name in MNIST_FILES.iter().filter(|n| !skip.contains(n)) {
        fs::copy(mnist_dir().join(name), dir.join(name)).unwrap();
    }
}

/// A small learnable data set of `side x side` images: class `c` lights up
/// horizontal band `c` (of 10) plus a little seeded noise. Written as raw
/// (uncompressed) IDX files into `dir`.
pub fn write_band_dataset(dir: &Path, side: usize, n_train: usize, n_test: usize) {
    fs::create_dir_all(dir).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 40) as u8
    };
    let mut make = |n: usize| {
        let mut pixels = Vec::with_capacity(n * side * side);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 10;
            labels.push(class as u8);
            for r in 0..side {
                for _ in 0..side {
                    let band = r * 10 / side;
                    pixels.push(if band == class { 215 + noise() } else { noise() });
                }
            }
        }
        (pixels, labels)
    };
    let s = side as u32;
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let (pixels, labels) = make(n);
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx_bytes(&[n as u32, s, s], &pixels)).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx_bytes(&[n as u32], &labels)).unwrap();
    }
}

/// Trains a tiny MLP (one hidden layer of 16) on the 10x10 band data set
/// written into `root/data10`; returns the checkpoint path.
pub fn train_tiny_10x10(root: &TempDir) -> PathBuf {
    let data = root.join("data10");
    write_band_dataset(&data, 10, 200, 50);
    let out = root.join("tiny");
    backprop(&[
        "train",
        "mnist",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--threads",
        "2",
    ])
    .expect_success("training the tiny 10x10 model");
    let model = out.join("model.safetensors");
    assert!(model.is_file());
    model
}
