//! The child process: reads inputs from standard input, writes their files,
//! runs the loader under `catch_unwind`, and answers on standard output.
//!
//! Frames, all integers little-endian. In: `u32` file count, then per file a
//! `u32` length and the bytes. Out: one status byte ([`OK`], [`REFUSED`],
//! [`PANIC`], [`UNCLEAR`]), a `u32` length and a UTF-8 message. The child runs
//! under the parent's memory cap (`ulimit -v`, i.e. `setrlimit(RLIMIT_AS)`):
//! an allocation past it aborts the process, which the parent records.

use crate::targets::Target;
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The loader accepted the input.
pub const OK: u8 = 0;
/// The loader refused it with clear errors (one line each, naming the file).
pub const REFUSED: u8 = 1;
/// The loader panicked; the message says where.
pub const PANIC: u8 = 2;
/// The loader refused it with an error that spans lines or names no file.
pub const UNCLEAR: u8 = 3;

/// Where the last panic happened (set by the silent panic hook).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Serves inputs for `target` until standard input closes, writing them into `dir`.
pub fn serve(target: Target, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string().replace('\n', " ");
    }));
    let paths: Vec<PathBuf> = target.file_names().iter().map(|n| dir.join(n)).collect();
    let (mut input, mut output) = (io::stdin().lock(), io::stdout().lock());
    while let Some(files) = read_frame(&mut input)? {
        for (path, bytes) in paths.iter().zip(&files) {
            std::fs::write(path, bytes)?;
        }
        let (status, message) = match panic::catch_unwind(AssertUnwindSafe(|| target.run(&paths))) {
            Ok(errors) if errors.is_empty() => (OK, String::new()),
            Ok(errors) => classify(&errors, target.file_names()),
            Err(_) => (PANIC, LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        };
        output.write_all(&[status])?;
        output.write_all(&(message.len() as u32).to_le_bytes())?;
        output.write_all(message.as_bytes())?;
        output.flush()?;
    }
    Ok(())
}

/// [`REFUSED`] with the first message, or [`UNCLEAR`] with the first message
/// that spans lines or names none of `names`.
fn classify(errors: &[backprop::Error], names: &[&str]) -> (u8, String) {
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    match texts.iter().find(|t| t.contains('\n') || !names.iter().any(|n| t.contains(n))) {
        Some(bad) => (UNCLEAR, bad.clone()),
        None => (REFUSED, texts[0].clone()),
    }
}

/// One input frame, or `None` at the end of the stream.
fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut word = [0u8; 4];
    match input.read_exact(&mut word) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let count = u32::from_le_bytes(word) as usize;
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        input.read_exact(&mut word)?;
        let mut bytes = vec![0u8; u32::from_le_bytes(word) as usize];
        input.read_exact(&mut bytes)?;
        files.push(bytes);
    }
    Ok(Some(files))
}

/// The frame of an input (see the module docs).
pub fn frame(files: &[Vec<u8>]) -> Vec<u8> {
    let mut out = (files.len() as u32).to_le_bytes().to_vec();
    for f in files {
        out.extend((f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Reads one answer: status and message; `None` when the child is gone.
pub fn read_answer(output: &mut impl Read) -> Option<(u8, String)> {
    let mut head = [0u8; 5];
    output.read_exact(&mut head).ok()?;
    let mut message = vec![0u8; u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize];
    output.read_exact(&mut message).ok()?;
    Some((head[0], String::from_utf8_lossy(&message).into_owned()))
}
