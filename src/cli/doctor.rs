//! `backprop doctor RUN_DIR`: why a run does not train, from its history,
//! its gradient statistics (`--grad-stats`) and its checkpoint, answered in
//! the course's order (see `backprop::train::examine`).

use super::args::JsonArg;
use backprop::train::{
    examine, read_grad_stats, read_history, EpochRecord, GradStatsRecord, RunFacts, GRAD_STATS_FILE,
};
use backprop::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// A run folder: history.jsonl, and if present grad_stats.jsonl and model.safetensors.
    #[arg(value_name = "RUN_DIR")]
    run: PathBuf,
    /// A run of a shallower model on the same data, to tell a model too small from optimisation failing.
    #[arg(long, value_name = "RUN_DIR")]
    compare: Option<PathBuf>,
    #[command(flatten)]
    output: JsonArg,
}

/// What a run folder holds, read.
struct Run {
    history: Vec<EpochRecord>,
    grad_stats: Vec<GradStatsRecord>,
    classes: Option<usize>,
    layers: Option<usize>,
    parameters: Option<usize>,
}

impl Run {
    fn facts(&self) -> RunFacts<'_> {
        RunFacts {
            history: &self.history,
            grad_stats: &self.grad_stats,
            classes: self.classes,
            layers: self.layers,
            parameters: self.parameters,
        }
    }
}

pub(crate) fn run(a: DoctorArgs) -> Result<()> {
    let run = read_run(&a.run)?;
    let baseline = a.compare.as_deref().map(read_run).transpose()?;
    let exam = examine(&run.facts(), baseline.as_ref().map(Run::facts).as_ref());
    if a.output.json {
        println!("{}", serde_json::to_string(&exam).map_err(|e| Error::invalid("--json", e.to_string()))?);
    } else {
        let grads = if run.grad_stats.is_empty() { "no gradient statistics" } else { "gradient statistics" };
        println!("doctor: {} ({} epochs, {grads})", a.run.display(), run.history.len());
        println!("{exam}");
    }
    Ok(())
}

/// Reads a run folder: the history must be there; the gradient statistics
/// and the checkpoint (classes, layers, parameters) are used when present.
fn read_run(dir: &Path) -> Result<Run> {
    if !dir.is_dir() {
        return Err(Error::invalid("RUN_DIR", format!("{} is not a run folder", dir.display())));
    }
    let file = dir.join("history.jsonl");
    if !file.is_file() {
        return Err(Error::invalid(
            "RUN_DIR",
            format!("{} has no history.jsonl (train into it with `backprop train ... --out DIR`)", dir.display()),
        ));
    }
    let history = read_history(&file)?;
    if history.is_empty() {
        return Err(Error::format(&file, "the history has no epoch records"));
    }
    if let Some(r) = backprop::train::Returns::of(&history) {
        // Its questions (fit, generalisation) are a supervised run's; a policy's
        // loss grows as it gets better, and would be read as divergence.
        return Err(Error::invalid(
            "RUN_DIR",
            format!(
                "{} is a reinforcement-learning run (mean return {:.1} at round {}, best {:.1} at round {}): doctor examines supervised runs; `backprop report` plots its return",
                dir.display(), r.first.1, r.first.0, r.best.1, r.best.0
            ),
        ));
    }
    let stats = dir.join(GRAD_STATS_FILE);
    let grad_stats = if stats.is_file() { read_grad_stats(&stats)? } else { Vec::new() };
    let mut run = Run { history, grad_stats, classes: None, layers: None, parameters: None };
    let model = dir.join("model.safetensors");
    if model.is_file() {
        let loaded = backprop::models::load(&model)?;
        run.classes = loaded.classifier("doctor").ok().map(|c| c.classes);
        let params = loaded.model.module().parameters();
        run.layers = Some(params.iter().filter(|(n, p)| n.ends_with("weight") && p.shape().len() >= 2).count());
        run.parameters = Some(params.iter().map(|(_, p)| p.numel()).sum());
    }
    Ok(run)
}
