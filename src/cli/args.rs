//! Flags shared by several commands, each declared once in a group that builds
//! its library object (used with `#[command(flatten)]`), and the value parsers
//! that reject bad input with a message naming the problem.
//!
//! Negative numbers: every flag that takes a value accepts `-1` as its value
//! (see [`negative_numbers_are_values`], applied once to the whole command
//! line), so `--lr -1` gets the value parser's message ("must be a positive
//! number, got -1") instead of clap's "unexpected argument '-1'". Only flags
//! whose *text* may start with a hyphen (`generate --prompt`, `graph --expr`)
//! still say `allow_hyphen_values` themselves.
//!
//! Defaults that differ between commands are not restated here: such a group
//! holds an `Option` and the command passes its default when it resolves it
//! (clap's `default_value_t` on a flattened group could not vary by command).

use backprop::dist::Collective;
use backprop::models::LoadedModel;
use backprop::{Error, Result};
use clap::{Args, Command};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Makes every flag and argument that takes a value accept a negative number
/// as that value, in `cmd` and all its subcommands.
pub(crate) fn negative_numbers_are_values(cmd: Command) -> Command {
    cmd.mut_args(|a| if a.get_action().takes_values() { a.allow_negative_numbers(true) } else { a })
        .mut_subcommands(negative_numbers_are_values)
}

/// `--model FILE`: a checkpoint, read by the one model loader.
#[derive(Args, Debug, Clone)]
pub(crate) struct ModelArg {
    /// A checkpoint written by `backprop train` (`backprop info FILE` says what it holds).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
}

impl ModelArg {
    /// Reads the checkpoint and rebuilds its model ([`backprop::models::load`]).
    pub fn load(&self) -> Result<LoadedModel> {
        backprop::models::load(&self.model)
    }
}

/// `--threads N`: threads for the parallel kernels.
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct ThreadsArg {
    /// Threads for the kernels (default: all cores).
    #[arg(long, value_parser = positive_usize)]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    /// The thread count asked for, or `default` when `--threads` is not
    /// given; `cli::main` sizes the global pool with it before the command
    /// runs (on one of the pool's threads). Refuses more than 4 threads per
    /// core ([`check_threads`]).
    ///
    /// [`check_threads`]: backprop::tensor::parallel::check_threads
    pub fn count(self, default: Option<usize>) -> Result<Option<usize>> {
        self.threads.or(default).map(|n| backprop::tensor::parallel::check_threads("--threads", n)).transpose()
    }
}

/// `--distributed`: one rank of data-parallel training under `mpirun`.
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct DistributedArg {
    /// Train as one rank of `mpirun -np N backprop train ...`: each rank takes its share of every
    /// global batch of N x --batch-size examples and the gradients are averaged over MPI; only
    /// rank 0 prints and writes files; --threads is per rank (needs a build with --features mpi).
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed: seconds a rank waits for the others in one exchange before it stops
    /// with an error (a rank died or hangs).
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub mpi_timeout: Option<u32>,
}

impl DistributedArg {
    /// How long a rank waits for the others by default: 2 minutes.
    const DEFAULT_TIMEOUT: u32 = 120;

    /// Joins the MPI job with `--distributed` (printing one line and exiting
    /// if an exchange waits past `--mpi-timeout`); `None` without it.
    pub fn start(self) -> Result<Option<Rc<dyn Collective>>> {
        if !self.distributed {
            if self.mpi_timeout.is_some() {
                return Err(Error::invalid("--mpi-timeout", "applies to --distributed only"));
            }
            return Ok(None);
        }
        self.join()
    }

    #[cfg(feature = "mpi")]
    fn join(self) -> Result<Option<Rc<dyn Collective>>> {
        let timeout = std::time::Duration::from_secs(self.mpi_timeout.unwrap_or(Self::DEFAULT_TIMEOUT).into());
        let mpi = backprop::dist::Mpi::init(timeout, Box::new(|line| eprintln!("error: {line}")))?;
        Ok(Some(Rc::new(mpi)))
    }

    #[cfg(not(feature = "mpi"))]
    fn join(self) -> Result<Option<Rc<dyn Collective>>> {
        let _ = Self::DEFAULT_TIMEOUT;
        Err(Error::invalid(
            "--distributed",
            "this backprop was built without MPI: build it with `cargo build --release --features mpi` \
             (needs Open MPI and libclang) and start it with mpirun",
        ))
    }

    /// Threads per rank when `--threads` is not given: the cores shared by the
    /// ranks `mpirun` started on this machine (Open MPI's
    /// `OMPI_COMM_WORLD_LOCAL_SIZE`), at least 1.
    pub fn default_threads(self) -> Option<usize> {
        let local: usize = std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE").ok()?.parse().ok()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (self.distributed && local > 1).then(|| (cores / local).max(1))
    }
}

/// `--data DIR`: an IDX data folder, by default the bundled MNIST subset.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct DataArg {
    /// IDX data folder (train-/t10k- images and labels, .gz or raw; eval, attack and gradcheck read only
    /// the t10k- test files); default: the bundled data/mnist-10k.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArg {
    /// The folder given, or the bundled data.
    pub fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(super::train::default_data_dir)
    }
}

/// `--json`: machine-readable output.
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct JsonArg {
    /// Print JSON (one object per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--invert`: the images are dark on light.
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct InvertArg {
    /// The images are dark strokes on a light background (MNIST is light on dark).
    #[arg(long)]
    pub invert: bool,
}

/// `--reject-below P`: answer "unknown" below a maximum probability.
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct RejectArg {
    /// Answer "unknown" when the max probability is below P (0 to 1); default: the threshold
    /// `backprop calibrate` stored in the checkpoint, if any.
    #[arg(long, value_name = "P", value_parser = super::ood::probability)]
    pub reject_below: Option<f32>,
}

/// `--tpr R`: the true-positive rate an out-of-distribution threshold keeps.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct TprArg {
    /// True-positive rate: the fraction of in-distribution images the threshold keeps.
    #[arg(long, default_value = "0.95", value_parser = super::ood::tpr)]
    pub tpr: f64,
}

/// `s` as an f32, refusing numbers that f32 cannot hold (they would turn
/// into infinity or 0 and be refused for the wrong reason).
fn parse_f32(s: &str) -> Result<f32, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    let magnitude = v.abs();
    if magnitude.is_finite() && magnitude != 0.0 && !(f32::MIN_POSITIVE as f64..=f32::MAX as f64).contains(&magnitude) {
        return Err(format!("{s} is outside the range of 32-bit floats (magnitudes 1.2e-38 to 3.4e38)"));
    }
    Ok(v as f32)
}

/// A strictly positive, finite number (learning rates, ...).
pub(crate) fn positive_f32(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a positive number, got {s}"))
    }
}

/// A finite number >= 0 (weight decay, momentum, ...).
pub(crate) fn non_negative_f32(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a number >= 0, got {s}"))
    }
}

/// A momentum or decay rate in [0, 1) (SGD's momentum, Adam's betas): at 1
/// or above, the running average never forgets and the steps grow without bound.
pub(crate) fn decay_rate(s: &str) -> Result<f32, String> {
    fraction(s).map_err(|e| format!("{e} (a running average's decay: 0.9 is usual)"))
}

/// A fraction in [0, 1).
pub(crate) fn fraction(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be at least 0 and below 1, got {s}"))
    }
}

/// An integer >= 1.
pub(crate) fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1, got 0".into()),
        Ok(v) => Ok(v),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(format!("'{}' is too large: at most {}", s.trim(), usize::MAX))
        }
        Err(_) => Err(format!("'{s}' is not a positive whole number")),
    }
}

/// The library names the field at fault (`block_size`, `window`); the command
/// line names the flag that sets it (`--block-size`, `--window`): renames the
/// error's subject when it is one of `fields`.
pub(crate) fn name_flags(e: Error, fields: &[&str]) -> Error {
    match e {
        Error::InvalidArgument { name, message } if fields.contains(&name.as_str()) => {
            Error::InvalidArgument { name: format!("--{}", name.replace('_', "-")), message }
        }
        other => other,
    }
}

/// Turns any invalid-argument error into one about `flag` (for library
/// errors whose field is the whole of one flag, e.g. a parsed `--classes`).
pub(crate) fn as_flag(flag: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::InvalidArgument { message, .. } => Error::invalid(flag, message),
        other => other,
    }
}

/// Whole seconds, at least 1 (a timeout).
pub(crate) fn positive_seconds(s: &str) -> Result<u32, String> {
    let v = positive_usize(s)?;
    u32::try_from(v).map_err(|_| format!("{s} seconds is more than a timeout can be (at most {})", u32::MAX))
}

/// A whole number >= 0.
pub(crate) fn non_negative_usize(s: &str) -> Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| format!("'{s}' is not a whole number >= 0"))
}

/// Hidden layer sizes given as one flag value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerSizes(pub Vec<usize>);

/// Layer sizes such as `256,128` (empty string: no hidden layer).
pub(crate) fn layer_sizes(s: &str) -> Result<LayerSizes, String> {
    if s.trim().is_empty() {
        return Ok(LayerSizes(Vec::new()));
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("a layer size must be at least 1, got 0".to_string()),
            Ok(v) => Ok(v),
            Err(_) => Err(format!(
                "'{}' is not a layer size (expected whole numbers separated by commas, e.g. 256,128)",
                part.trim()
            )),
        })
        .collect::<Result<Vec<usize>, String>>()
        .map(LayerSizes)
}

/// Refuses to write `output` (named by `flag`) over one of the command's
/// `inputs` (`(what, path)`): the write is atomic, but the model or data
/// would be replaced by the command's output all the same.
pub(crate) fn refuse_overwriting_inputs(flag: &str, output: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let Ok(out) = output.canonicalize() else { return Ok(()) }; // not there yet: nothing to lose
    for (what, input) in inputs {
        if input.canonicalize().is_ok_and(|p| p == out) {
            let message =
                format!("{} is the {what}: writing there would replace it; choose another file", output.display());
            return Err(Error::invalid(flag, message));
        }
    }
    Ok(())
}

/// Refuses an output folder (named by `flag`) that exists as something else
/// or cannot be written (a read-only disk, no permission), before any work
/// is done: otherwise the work is lost when the first file is saved. The
/// check writes and removes a probe file; folders it had to create for that
/// are removed again, so a run that fails later leaves nothing behind.
pub(crate) fn check_out_folder(flag: &str, dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::invalid(flag, format!("{} is a file, not a folder", dir.display())));
    }
    let created: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).collect();
    let cannot = |e: std::io::Error| Error::invalid(flag, format!("cannot write in {}: {e}", dir.display()));
    let probe = dir.join(format!(".backprop-write-check-{}", std::process::id()));
    let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::File::create(&probe)).map_err(cannot);
    let _ = std::fs::remove_file(&probe);
    for folder in &created {
        let _ = std::fs::remove_dir(folder); // only empty ones go
    }
    written.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_reject_bad_values_with_reasons() {
        assert!(positive_f32("-1").unwrap_err().contains("positive"));
        assert!(positive_f32("abc").unwrap_err().contains("not a number"));
        assert!(positive_f32("NaN").is_err());
        assert_eq!(positive_f32("0.5"), Ok(0.5));
        assert!(layer_sizes("abc").unwrap_err().contains("'abc' is not a layer size"));
        assert!(layer_sizes("256,0").is_err());
        assert_eq!(layer_sizes("256, 128"), Ok(LayerSizes(vec![256, 128])));
        assert_eq!(layer_sizes(""), Ok(LayerSizes(vec![])));
        assert!(positive_usize("0").is_err());
        assert!(fraction("1").is_err());
        assert_eq!(non_negative_f32("0"), Ok(0.0));
    }

    /// An output folder that cannot be made is refused up front; one that
    /// can is checked without being left behind.
    #[test]
    fn out_folders_are_checked_before_the_work() {
        let err = check_out_folder("--out", Path::new("/proc/backprop-no-such/run")).unwrap_err().to_string();
        assert!(err.contains("--out") && err.contains("cannot write in /proc/backprop-no-such/run"), "{err}");
        let base = std::env::temp_dir().join(format!("backprop-out-check-{}", std::process::id()));
        let nested = base.join("a/b");
        check_out_folder("--out", &nested).expect("a folder under the temp dir can be written");
        assert!(!base.exists(), "the check left {} behind", base.display());
    }
}
