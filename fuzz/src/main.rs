//! `backprop-fuzz`: mutation fuzzing of every file loader of backprop, on
//! stable Rust (no cargo-fuzz, no nightly, no instrumentation).
//!
//! For each loader (IDX raw and gzip, CSV, HDF5, safetensors checkpoints,
//! PNG/JPEG pictures, text) it starts from real seed files, mutates them
//! (see [`mutate`]) and feeds the result to the loader in a child process
//! capped at `--memory-mib` of address space, with a time limit per input.
//! It counts inputs accepted, refused with a clear error, panics, aborts,
//! hangs and unclear errors (spanning lines or naming no file), saves each
//! failing input under `--out`, and exits with status 1 if anything failed.
//!
//! ```text
//! backprop-fuzz [--target NAME|all] [--seconds S | --minutes M] [--jobs N]
//!               [--time-limit-ms MS] [--memory-mib MIB] [--seed N] [--out DIR]
//! backprop-fuzz --replay TARGET DIR     # run a saved input in this process
//! ```
//!
//! `fuzz/run.sh` builds it and runs it longer; `.ci/run` runs it briefly.

mod mutate;
mod seeds;
mod supervisor;
mod targets;
mod worker;

use std::path::PathBuf;
use std::time::Duration;
use supervisor::{Counts, Settings};
use targets::Target;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("--worker") => worker_main(&args[1..]),
        Some("--replay") => replay(&args[1..]),
        _ => fuzz(&args),
    };
    std::process::exit(code.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        2
    }));
}

/// `--worker TARGET DIR`: the child side.
fn worker_main(args: &[String]) -> Result<i32, String> {
    let [name, dir] = args else { return Err("usage: --worker TARGET DIR".into()) };
    let target = parse_target(name)?;
    worker::serve(target, dir.as_ref()).map_err(|e| format!("worker: {e}"))?;
    Ok(0)
}

/// `--replay TARGET DIR`: runs the files of a saved input in this process
/// (a panic shows its backtrace), printing the loader's answer.
fn replay(args: &[String]) -> Result<i32, String> {
    let [name, dir] = args else { return Err("usage: --replay TARGET DIR".into()) };
    let target = parse_target(name)?;
    let paths: Vec<PathBuf> = target.file_names().iter().map(|n| PathBuf::from(dir).join(n)).collect();
    let errors = target.run(&paths);
    if errors.is_empty() {
        println!("accepted");
    }
    for e in errors {
        println!("refused: {e}");
    }
    Ok(0)
}

fn parse_target(name: &str) -> Result<Target, String> {
    Target::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        format!("unknown target '{name}' (expected all or one of: {})", names.join(", "))
    })
}

/// The value after flag `name`, parsed.
fn value<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let text = args.get(i + 1).ok_or_else(|| format!("{name} needs a value"))?;
            text.parse().map(Some).map_err(|_| format!("invalid value for {name}: '{text}'"))
        }
    }
}

/// The fuzzing run: every target asked for, `--jobs` at a time.
fn fuzz(args: &[String]) -> Result<i32, String> {
    const FLAGS: [&str; 8] =
        ["--target", "--seconds", "--minutes", "--jobs", "--time-limit-ms", "--memory-mib", "--seed", "--out"];
    if let Some(bad) = args.iter().step_by(2).find(|a| !FLAGS.contains(&a.as_str())) {
        return Err(format!("unknown argument '{bad}' (flags: {})", FLAGS.join(", ")));
    }
    let targets = match value::<String>(args, "--target")?.as_deref() {
        None | Some("all") => Target::ALL.to_vec(),
        Some(list) => list.split(',').map(parse_target).collect::<Result<_, _>>()?,
    };
    let seconds = match (value::<f64>(args, "--seconds")?, value::<f64>(args, "--minutes")?) {
        (Some(s), _) => s,
        (None, Some(m)) => 60.0 * m,
        (None, None) => 10.0,
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let settings = Settings {
        duration: Duration::from_secs_f64(seconds.max(0.0)),
        time_limit: Duration::from_millis(value(args, "--time-limit-ms")?.unwrap_or(5000)),
        memory_mib: value(args, "--memory-mib")?.unwrap_or(2048),
        seed: value(args, "--seed")?.unwrap_or(1),
        out: value::<PathBuf>(args, "--out")?.unwrap_or_else(|| root.join("fuzz/crashes")),
        root,
    };
    let jobs: usize = value(args, "--jobs")?.unwrap_or(1).max(1);
    println!(
        "fuzzing {} for {seconds} s each, {jobs} at a time (memory cap {} MiB, {} ms per input)",
        targets.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
        settings.memory_mib,
        settings.time_limit.as_millis()
    );
    let mut results: Vec<(Target, Result<Counts, String>)> = Vec::new();
    for group in targets.chunks(jobs) {
        let handles: Vec<_> = group
            .iter()
            .map(|&t| {
                let s = settings.clone();
                (t, std::thread::spawn(move || supervisor::run(t, &s)))
            })
            .collect();
        for (t, h) in handles {
            let result = h.join().unwrap_or_else(|_| Err("the supervisor panicked".into()));
            print_line(t, &result);
            results.push((t, result));
        }
    }
    let clean = results.iter().all(|(_, r)| r.as_ref().is_ok_and(Counts::clean));
    println!("{}", if clean { "no failures" } else { "FAILURES (inputs saved under --out)" });
    Ok(if clean { 0 } else { 1 })
}

/// `idx: 12345 inputs (4567 accepted, 7778 refused), 0 panics, 0 aborts, 0 hangs, 0 unclear, 60.0 s`
fn print_line(t: Target, result: &Result<Counts, String>) {
    match result {
        Ok(c) => println!(
            "{:<12} {:>8} inputs ({} accepted, {} refused), {} panics, {} aborts, {} hangs, {} unclear errors, {:.1} s",
            t.name(),
            c.executed,
            c.accepted,
            c.refused,
            c.panics,
            c.aborts,
            c.hangs,
            c.unclear,
            c.seconds
        ),
        Err(e) => println!("{:<12} could not run: {e}", t.name()),
    }
}
