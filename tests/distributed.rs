//! `--distributed`: data-parallel training. Without the `mpi` feature the flag
//! is refused in one line; with it (`cargo test --features mpi --test
//! distributed`, Open MPI installed), 2 ranks under `mpirun` follow the loss
//! history of one process with twice the batch, and a killed rank stops the
//! job instead of hanging it.

mod common;

use common::{assert_clean_failure, backprop, TempDir};

#[test]
fn distributed_flags_are_refused_where_they_do_nothing() {
    let dir = TempDir::new("dist-flags");
    let run = backprop(&["train", "mnist", "--mpi-timeout", "5", "--epochs", "1", "--out", &dir.arg("run")]);
    assert_clean_failure(&run, &["--mpi-timeout", "--distributed"]);
    let run =
        backprop(&["train", "rl", "--env", "cartpole", "--algo", "ppo", "--distributed", "--out", &dir.arg("rl")]);
    assert_clean_failure(&run, &["--distributed", "split across ranks"]);
    for kind in ["gan", "autoencoder"] {
        let run = backprop(&["train", kind, "--data", "data/mnist-10k", "--distributed", "--out", &dir.arg(kind)]);
        assert_clean_failure(&run, &["--distributed", "runs on one process"]);
    }
    let run = backprop(&["train", "mnist", "--distributed", "--mpi-timeout", "0", "--out", &dir.arg("run")]);
    assert_clean_failure(&run, &["--mpi-timeout", "at least 1"]);
}

/// Trains a tiny GPT for 6 steps with `batch` sequences per rank, as rank
/// `comm` (or alone), and returns its history's (train, validation) losses.
fn gpt_losses(batch: usize, comm: Option<backprop::dist::Local>) -> Vec<(f32, f32)> {
    use backprop::data::TextData;
    use backprop::nn::{Gpt, GptConfig};
    use backprop::train::{LmConfig, LmStep, Trainer};
    let text = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer ".repeat(20);
    let data = TextData::from_text(&text, 0.8);
    let config = GptConfig {
        vocab_size: data.tokenizer.vocab_size(),
        block_size: 8,
        layers: 1,
        heads: 2,
        embd: 16,
        dropout: 0.0,
        bias: false,
        tied: true,
    };
    let model = Gpt::new(config, &mut backprop::tensor::Rng::new(7)).unwrap();
    let lm = LmConfig { iters: 6, batch_size: batch, eval_every: 3, eval_batches: 2, warmup: 1, ..LmConfig::default() };
    let mut step = LmStep::new(&model, &data, &lm).unwrap();
    let mut trainer = Trainer::new(Box::new(lm.optimizer(&model)), lm.train_config());
    if let Some(comm) = comm {
        trainer = trainer.distributed(std::rc::Rc::new(comm));
    }
    let records = trainer.run(&mut step).unwrap();
    records.iter().map(|r| (r.train_loss, r.val_loss.unwrap())).collect()
}

#[test]
fn two_threads_of_a_gpt_follow_one_process_with_twice_the_batch() {
    // The same contract as the MPI test, over backprop::dist::Local (no MPI needed).
    let one = gpt_losses(4, None);
    let two: Vec<Vec<(f32, f32)>> = std::thread::scope(|s| {
        let ranks: Vec<_> =
            backprop::dist::Local::group(2).into_iter().map(|c| s.spawn(move || gpt_losses(2, Some(c)))).collect();
        ranks.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(two[0], two[1], "the ranks' records differ");
    assert_eq!(one.len(), 2);
    for (a, b) in one.iter().zip(&two[0]) {
        assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4, "1 process {one:?}\n2 ranks {two:?}");
    }
    // A different batch gives a different history: the comparison can fail.
    let other = gpt_losses(2, None);
    assert!((other[1].0 - one[1].0).abs() > 1e-4, "{other:?} vs {one:?}");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_needs_a_build_with_mpi() {
    let dir = TempDir::new("dist-nompi");
    let run = backprop(&["train", "mnist", "--distributed", "--epochs", "1", "--out", &dir.arg("run")]);
    assert_clean_failure(&run, &["--distributed", "--features mpi"]);
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::common::{mnist_arg, TempDir};
    use backprop::train::{read_history, EpochRecord};
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    /// `mpirun -np <ranks> backprop <args>`, as root if need be, more ranks than cores allowed.
    fn mpirun(ranks: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new("mpirun");
        cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", &ranks.to_string()])
            .arg(env!("CARGO_BIN_EXE_backprop"))
            .args(args)
            .current_dir(std::env::temp_dir());
        cmd
    }

    fn ok(out: Output, what: &str) -> Output {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "{what} failed\nstdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
        out
    }

    fn one_process(args: &[&str]) -> Output {
        ok(Command::new(env!("CARGO_BIN_EXE_backprop")).args(args).output().unwrap(), "one process")
    }

    /// Asserts two histories agree epoch by epoch in loss (and accuracy) within `tol`.
    fn assert_same_history(one: &[EpochRecord], two: &[EpochRecord], tol: f32) {
        assert_eq!(one.len(), two.len(), "epochs: {one:?}\nvs\n{two:?}");
        for (a, b) in one.iter().zip(two) {
            let pairs = [
                ("train_loss", Some(a.train_loss), Some(b.train_loss)),
                ("val_loss", a.val_loss, b.val_loss),
                ("train_accuracy", a.train_accuracy, b.train_accuracy),
                ("val_accuracy", a.val_accuracy, b.val_accuracy),
            ];
            for (name, x, y) in pairs {
                assert_eq!(x.is_some(), y.is_some(), "{name} of epoch {}", a.epoch);
                if let (Some(x), Some(y)) = (x, y) {
                    assert!((x - y).abs() <= tol, "epoch {} {name}: 1 process {x}, 2 ranks {y}", a.epoch);
                }
            }
        }
    }

    #[test]
    fn two_ranks_follow_one_process_with_twice_the_batch() {
        let dir = TempDir::new("dist-mnist");
        let (one, two) = (dir.arg("one"), dir.arg("two"));
        let common = ["--data", &mnist_arg(), "--hidden", "32", "--epochs", "2", "--threads", "1", "--seed", "3"];
        let mut args = vec!["train", "mnist", "--batch-size", "64", "--out", &one];
        args.extend(common);
        one_process(&args);
        let mut args = vec!["train", "mnist", "--distributed", "--batch-size", "32", "--out", &two];
        args.extend(common);
        let out = ok(mpirun(2, &args).output().unwrap(), "2 ranks");
        // Only rank 0 speaks: one "saved" line, not two.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("saved ").count(), 1, "{stdout}");
        let one = read_history(&dir.join("one/history.jsonl")).unwrap();
        let two = read_history(&dir.join("two/history.jsonl")).unwrap();
        assert_same_history(&one, &two, 2e-3);
        // The model trained: not just the same, also learning.
        assert!(two[1].val_accuracy.unwrap() > 0.85, "{two:?}");
    }

    #[test]
    fn two_ranks_of_a_gpt_follow_one_process_with_twice_the_batch() {
        let dir = TempDir::new("dist-gpt");
        let (one, two) = (dir.arg("one"), dir.arg("two"));
        let common = [
            "--layers",
            "1",
            "--heads",
            "2",
            "--embd",
            "16",
            "--block-size",
            "16",
            "--iters",
            "30",
            "--eval-every",
            "15",
            "--threads",
            "1",
        ];
        let mut args = vec!["train", "gpt", "--batch-size", "8", "--out", &one];
        args.extend(common);
        one_process(&args);
        let mut args = vec!["train", "gpt", "--distributed", "--batch-size", "4", "--out", &two];
        args.extend(common);
        ok(mpirun(2, &args).output().unwrap(), "2 ranks");
        let one = read_history(&dir.join("one/history.jsonl")).unwrap();
        let two = read_history(&dir.join("two/history.jsonl")).unwrap();
        assert_same_history(&one, &two, 2e-3);
        assert!(two[1].val_loss.unwrap() < two[0].val_loss.unwrap() + 0.5, "{two:?}");
    }

    /// The pid of the rank `rank` among the children of `mpirun`.
    fn rank_pid(mpirun: &Child, rank: usize) -> Option<u32> {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat.rsplit(") ").next().and_then(|rest| rest.split(' ').nth(1));
            if parent != Some(&mpirun.id().to_string()) {
                continue;
            }
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
            if environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
                return Some(pid);
            }
        }
        None
    }

    /// Starts 2 ranks of a long training run, sends `signal` to rank 1 once
    /// training is under way, and returns how long the job then took to end
    /// and what it printed on stderr. Panics if it still runs after 60 s.
    fn signal_rank_1(name: &str, signal: &str, timeout: &str) -> (Duration, String) {
        let dir = TempDir::new(name);
        let out = dir.arg("run");
        let args = [
            "train",
            "mnist",
            "--distributed",
            "--data",
            &mnist_arg(),
            "--hidden",
            "32",
            "--epochs",
            "1000",
            "--threads",
            "1",
            "--mpi-timeout",
            timeout,
            "--out",
            &out,
        ];
        let mut job = mpirun(2, &args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // Wait for training to be under way (the first epoch's record), then signal rank 1.
        let started = Instant::now();
        while !dir.join("run/history.jsonl").is_file() {
            assert!(started.elapsed() < Duration::from_secs(120), "training did not start");
            assert!(job.try_wait().unwrap().is_none(), "the job ended before the signal");
            std::thread::sleep(Duration::from_millis(100));
        }
        let victim = rank_pid(&job, 1).expect("rank 1 is a child of mpirun");
        let signalled = Instant::now();
        Command::new("kill").args([signal, &victim.to_string()]).status().unwrap();
        let status = loop {
            if let Some(status) = job.try_wait().unwrap() {
                break status;
            }
            if signalled.elapsed() > Duration::from_secs(60) {
                let _ = job.kill();
                let _ = Command::new("kill").args(["-KILL", &victim.to_string()]).status();
                panic!("the job still ran 60 s after rank 1 got {signal}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let took = signalled.elapsed();
        let _ = Command::new("kill").args(["-KILL", &victim.to_string()]).status();
        let mut stderr = String::new();
        std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        (took, stderr)
    }

    #[test]
    fn a_killed_rank_stops_the_job_instead_of_hanging_it() {
        // mpirun sees the death and ends the other ranks, naming the dead one.
        let (took, stderr) = signal_rank_1("dist-kill", "-KILL", "60");
        assert!(took < Duration::from_secs(30), "{took:?}\n{stderr}");
        assert!(stderr.contains("rank 1"), "{stderr}");
    }

    #[test]
    fn a_hung_rank_makes_the_others_stop_after_the_timeout() {
        // A stopped process is alive to mpirun: rank 0's watchdog ends the job.
        let (took, stderr) = signal_rank_1("dist-stop", "-STOP", "3");
        assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(30), "{took:?}\n{stderr}");
        let line = stderr.lines().find(|l| l.starts_with("error: rank 0 of 2")).unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("waited more than 3 s") && line.contains("died or hangs"), "{line}");
    }
}
