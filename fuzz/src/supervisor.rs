//! The parent: makes the inputs, feeds them to a child process that runs the
//! loader, and records what went wrong.
//!
//! - a panic is caught in the child (`catch_unwind`) and reported;
//! - an abort (an allocation past the memory cap, a stack overflow, any
//!   signal) ends the child: the parent sees its output close, records the
//!   input and the end of the child's standard error, and starts a new child;
//! - a hang is an input that gets no answer within the time limit: the
//!   parent kills the child, records the input and starts a new one.
//!
//! Every such input is saved under `OUT/TARGET/KIND-N/` (its files and
//! `what.txt`), once per distinct message.

use crate::mutate::{mutate, Input, Rng};
use crate::targets::Target;
use crate::worker::{frame, read_answer, OK, PANIC, REFUSED, UNCLEAR};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// What a run of one target is given.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long to fuzz.
    pub duration: Duration,
    /// The longest one input may take before it counts as a hang.
    pub time_limit: Duration,
    /// The child's address-space cap in MiB.
    pub memory_mib: u64,
    /// Seed of the mutations.
    pub seed: u64,
    /// Where failing inputs are saved.
    pub out: PathBuf,
    /// The repository root (for the seed files).
    pub root: PathBuf,
}

/// The counts of one target's run.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Inputs executed (seeds included).
    pub executed: u64,
    /// Accepted by the loader.
    pub accepted: u64,
    /// Refused with a clear error.
    pub refused: u64,
    /// Panics caught.
    pub panics: u64,
    /// Child processes that died (abort, out of memory, signal).
    pub aborts: u64,
    /// Inputs past the time limit.
    pub hangs: u64,
    /// Errors that span lines or name no file.
    pub unclear: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Counts {
    /// Whether nothing went wrong.
    pub fn clean(&self) -> bool {
        self.panics + self.aborts + self.hangs + self.unclear == 0
    }
}

/// A running child and the channel its answers arrive on.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<Option<(u8, String)>>,
    stderr: PathBuf,
}

impl Worker {
    /// Starts `backprop-fuzz --worker TARGET DIR` under `ulimit -v` (RLIMIT_AS).
    fn start(target: Target, s: &Settings, scratch: &Path) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let stderr = scratch.join("worker.stderr");
        let log = std::fs::File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        let cap = format!("ulimit -v {} && exec \"$0\" \"$@\"", s.memory_mib * 1024);
        let mut child = Command::new("/bin/sh")
            .args(["-c", &cap])
            .arg(&exe)
            .args(["--worker", target.name()])
            .arg(scratch.join("files"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let (send, answers) = mpsc::channel();
        std::thread::spawn(move || loop {
            let answer = read_answer(&mut stdout);
            let done = answer.is_none();
            if send.send(answer).is_err() || done {
                return;
            }
        });
        Ok(Worker { child, stdin, answers, stderr })
    }

    /// Kills the child and returns the last line of its standard error.
    fn stop(mut self) -> String {
        drop(self.stdin);
        self.child.kill().ok();
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        format!("{status}: {last}")
    }
}

/// Fuzzes `target` for `s.duration`, printing nothing; returns the counts.
pub fn run(target: Target, s: &Settings) -> Result<Counts, String> {
    let scratch = std::env::temp_dir().join(format!("backprop-fuzz-{}-{}", std::process::id(), target.name()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let seeds = crate::seeds::seeds(target, &s.root, &scratch)?;
    let mut rng = Rng::new(s.seed ^ target.name().bytes().fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b)));
    let mut counts = Counts::default();
    let mut seen = HashSet::new();
    let mut worker = Worker::start(target, s, &scratch)?;
    let started = Instant::now();
    let mut next_seed = 0;
    while started.elapsed() < s.duration {
        // Every seed first, as it is; then mutations of random seeds.
        let input = if next_seed < seeds.len() {
            next_seed += 1;
            seeds[next_seed - 1].clone()
        } else {
            mutate(rng.pick(&seeds), &seeds, &mut rng)
        };
        counts.executed += 1;
        let sent = worker.stdin.write_all(&frame(&input)).and_then(|()| worker.stdin.flush());
        let answer = if sent.is_ok() { worker.answers.recv_timeout(s.time_limit) } else { Ok(None) };
        let failure = match answer {
            Ok(Some((OK, _))) => {
                counts.accepted += 1;
                None
            }
            Ok(Some((REFUSED, _))) => {
                counts.refused += 1;
                None
            }
            Ok(Some((PANIC, message))) => {
                counts.panics += 1;
                Some(("panic", message))
            }
            Ok(Some((UNCLEAR, message))) => {
                counts.unclear += 1;
                Some(("unclear", message))
            }
            Ok(Some((other, message))) => Some(("protocol", format!("status {other}: {message}"))),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                counts.aborts += 1;
                let why = worker.stop();
                worker = Worker::start(target, s, &scratch)?;
                Some(("abort", why))
            }
            Err(RecvTimeoutError::Timeout) => {
                counts.hangs += 1;
                let why = worker.stop();
                worker = Worker::start(target, s, &scratch)?;
                Some(("hang", format!("no answer within {:?} ({why})", s.time_limit)))
            }
        };
        if let Some((kind, message)) = failure {
            save(target, &s.out, kind, &message, &input, &mut seen);
        }
    }
    worker.stop();
    std::fs::remove_dir_all(&scratch).ok();
    counts.seconds = started.elapsed().as_secs_f64();
    Ok(counts)
}

/// Saves a failing input once per distinct (kind, message without numbers),
/// at most 20 per kind.
fn save(target: Target, out: &Path, kind: &str, message: &str, input: &Input, seen: &mut HashSet<String>) {
    let key: String = message.chars().filter(|c| !c.is_ascii_digit()).take(200).collect();
    let per_kind = seen.iter().filter(|k| k.starts_with(kind)).count();
    if !seen.insert(format!("{kind}: {key}")) || per_kind >= 20 {
        return;
    }
    let dir = out.join(target.name()).join(format!("{kind}-{per_kind}"));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        for (name, bytes) in target.file_names().iter().zip(input) {
            std::fs::write(dir.join(name), bytes)?;
        }
        std::fs::write(dir.join("what.txt"), format!("{kind}: {message}\n"))
    });
    match written {
        Ok(()) => eprintln!("{}: {kind}: {message} (saved in {})", target.name(), dir.display()),
        Err(e) => eprintln!("{}: {kind}: {message} (could not save in {}: {e})", target.name(), dir.display()),
    }
}
