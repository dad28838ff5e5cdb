//! `backprop train rl`: an agent learns an environment from its rewards.

use super::args::{layer_sizes, positive_usize, LayerSizes};
use super::plot::{Chart, Series, TRAIN_COLOR, VALIDATION_COLOR};
use super::train_args::{LrDefaults, OptimArgs, RunArgs};
use backprop::nn::{Activation, Module};
use backprop::rl::{Algo, EnvName, Evaluation, Outcome, RlConfig};
use backprop::train::EpochRecord;
use backprop::{Error, Result};
use clap::Args;
use plotters::style::RGBColor;
use std::collections::BTreeMap;
use std::time::Instant;

/// The evaluation curve's colour (green).
const EVAL_COLOR: RGBColor = RGBColor(44, 160, 44);

#[derive(Args, Debug)]
#[command(
    mut_arg("out", |a| a.default_value("runs/rl")),
    mut_arg("schedule", |a| a.default_value("constant")),
    mut_arg("lr", |a| a.help("Learning rate (default: the algorithm's, e.g. 1e-3 for PPO on CartPole)")),
    mut_arg("clip", |a| a.help("Clip gradients to this global norm (default: 0.5 for A2C/PPO, 10 for DQN, none for REINFORCE; 0: none)"))
)]
pub(crate) struct RlArgs {
    /// Environment: cartpole (CartPole-v1) or acrobot (Acrobot-v1).
    #[arg(long, value_parser = env_name)]
    env: EnvName,
    /// Algorithm: reinforce, a2c, dqn or ppo.
    #[arg(long, value_parser = algo)]
    algo: Algo,
    /// Environment steps to train for (default 200000 for cartpole, 500000 for acrobot).
    #[arg(long, value_parser = positive_usize)]
    steps: Option<usize>,
    /// Copies of the environment stepped together (default: the algorithm's, 1 to 8).
    #[arg(long, value_parser = positive_usize)]
    envs: Option<usize>,
    /// Hidden layer sizes.
    #[arg(long, default_value = "64,64", value_parser = layer_sizes, value_name = "SIZES")]
    hidden: LayerSizes,
    /// Hidden activation (default tanh; relu for DQN).
    #[arg(long)]
    activation: Option<Activation>,
    /// Environment steps between deterministic evaluations (one more at the end).
    #[arg(long, default_value_t = 5000, value_parser = positive_usize)]
    eval_every: usize,
    /// Episodes per evaluation.
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    eval_episodes: usize,
    /// Stop once an evaluation's mean return reaches RETURN (default: Gymnasium's
    /// reward threshold, 475 for cartpole and -100 for acrobot); "none" trains the whole budget.
    #[arg(long, value_name = "RETURN", value_parser = target)]
    target: Option<Target>,
    #[command(flatten)]
    optim: OptimArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// `--target`: a return, or none.
#[derive(Clone, Copy, Debug)]
struct Target(Option<f32>);

fn target(s: &str) -> Result<Target, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(Target(None));
    }
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(Target(Some(v))),
        _ => Err(format!("'{s}' is not a return (a finite number) or none")),
    }
}

/// The message of a library error about a flag, without its "invalid value for" prefix (clap adds its own).
fn message(e: Error) -> String {
    match e {
        Error::InvalidArgument { message, .. } => message,
        other => other.to_string(),
    }
}

fn env_name(s: &str) -> Result<EnvName, String> {
    s.parse().map_err(message)
}

fn algo(s: &str) -> Result<Algo, String> {
    s.parse().map_err(message)
}

/// The library names the field at fault; the command line names the flag.
fn flag_error(e: Error) -> Error {
    super::args::name_flags(e, &["steps", "envs", "hidden"])
}

pub(crate) fn run(a: RlArgs) -> Result<()> {
    a.run.single_process("an agent gathers its own experience step by step, which is not split across ranks")?;
    let folder = a.run.start()?;
    let mut config = RlConfig::new(a.env, a.algo);
    config.seed = a.run.seed;
    config.steps = a.steps.unwrap_or(config.steps);
    config.envs = a.envs.unwrap_or(config.envs);
    config.hidden = a.hidden.0;
    config.activation = a.activation.unwrap_or(config.activation);
    config.eval.every = a.eval_every;
    config.eval.episodes = a.eval_episodes;
    if let Some(Target(t)) = a.target {
        config.eval.target = t;
    }
    if let Some(clip) = a.optim.clip {
        config.clip = (clip > 0.0).then_some(clip);
    }
    let mut agent = config.agent().map_err(flag_error)?;
    let defaults = LrDefaults { sgd: config.lr, adam: config.lr, decay_matrices_only: false };
    let (optimizer, schedule) = a.optim.build(agent.parameters(), agent.max_updates(), defaults)?;
    folder.say(describe(&config, agent.policy().num_parameters()));
    let started = Instant::now();
    let mut trainer = folder.trainer(optimizer, config.train_config(agent.as_ref(), schedule))?;
    let records = trainer.run(agent.as_step())?;
    drop(trainer);
    agent.restore_best();
    let outcome = Outcome::of(agent.as_ref(), records, started.elapsed().as_secs_f64());
    let mut meta = BTreeMap::new();
    if let Some(best) = outcome.best {
        meta.insert("backprop.eval_return".to_string(), format!("{}", best.mean));
    }
    agent.policy().save(&folder.model, &meta)?;
    if folder.json {
        println!("{}", summary_json(&config, &outcome, &folder));
    }
    folder.say(summary(&config, &outcome));
    folder.say_saved();
    Ok(())
}

/// `training ppo on CartPole-v1 for 200000 steps (8 copies): policy 4-64-64-2 (tanh) and value 4-64-64-1; 9155 parameters; stops at an evaluation mean of 475`
fn describe(c: &RlConfig, parameters: usize) -> String {
    let sizes = |outputs: usize| {
        let mut s = vec![c.env.observation_size()];
        s.extend(&c.hidden);
        s.push(outputs);
        s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("-")
    };
    let algo = c.algo.algo();
    let nets = if algo.has_value_network() {
        format!("policy {} ({}) and value {}", sizes(c.env.actions()), c.activation, sizes(1))
    } else {
        format!("Q-network {} ({})", sizes(c.env.actions()), c.activation)
    };
    let stop = match c.eval.target {
        Some(t) => format!("stops at an evaluation mean of {t}"),
        None => "no target return".to_string(),
    };
    format!(
        "training {algo} on {} for {} steps ({} cop{}): {nets}; {parameters} parameters; {stop}",
        c.env,
        c.steps,
        c.envs,
        if c.envs == 1 { "y" } else { "ies" }
    )
}

fn evaluation_text(e: &Evaluation, episodes: usize) -> String {
    format!(
        "{:.1} ± {:.1} over {episodes} greedy episodes after {} steps ({} episodes)",
        e.mean, e.std, e.env_steps, e.episodes
    )
}

/// The last lines of a run: whether it reached the target, the best evaluation, the time.
fn summary(c: &RlConfig, o: &Outcome) -> String {
    let head = match (o.reached, c.eval.target) {
        (Some(e), Some(t)) => format!("reached {t}: {}", evaluation_text(&e, c.eval.episodes)),
        (None, Some(t)) => format!("did not reach {t} within {} steps", o.env_steps),
        _ => format!("trained {} steps", o.env_steps),
    };
    let best = o.best.map_or("no evaluation ran".to_string(), |e| {
        format!("kept the best evaluation's policy: {}", evaluation_text(&e, c.eval.episodes))
    });
    format!("{head}\n{best}\n{} steps, {} episodes in {:.1}s", o.env_steps, o.episodes, o.seconds)
}

fn summary_json(c: &RlConfig, o: &Outcome, folder: &super::train_args::RunFolder) -> serde_json::Value {
    let eval = |e: Option<Evaluation>| {
        e.map(|e| serde_json::json!({"mean_return": e.mean, "std_return": e.std, "env_steps": e.env_steps, "episodes": e.episodes}))
    };
    serde_json::json!({
        "env": c.env.id(), "algo": c.algo.algo().name(), "seed": c.seed,
        "env_steps": o.env_steps, "episodes": o.episodes, "train_seconds": o.seconds,
        "target": c.eval.target, "reached": eval(o.reached), "best": eval(o.best),
        "model": folder.model, "history": folder.history,
    })
}

/// For `report`: the return per episode of an RL run's history (the mean of
/// each round's episodes, the mean of the last 100, and the deterministic
/// evaluations) against the episode count; `None` for other histories.
pub(crate) fn return_chart(history: &[EpochRecord], title: impl Fn(&str) -> String) -> Option<(String, Chart)> {
    let points = |key: &str| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| Some((f64::from(*r.metrics.get("episodes")?), f64::from(*r.metrics.get(key)?))))
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    let series = [
        ("return (episodes of each round)", TRAIN_COLOR, "return"),
        ("mean of the last 100 episodes", VALIDATION_COLOR, "mean_return"),
        ("greedy evaluation", EVAL_COLOR, "eval_return"),
    ];
    let series: Vec<Series> = series
        .into_iter()
        .map(|(name, color, key)| Series { name: name.into(), color, points: points(key) })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let best = history
        .iter()
        .filter_map(|r| Some((r.metrics.get("eval_return")?, r.metrics.get("env_steps")?)))
        .max_by(|a, b| a.0.total_cmp(b.0));
    let caption = match best {
        Some((mean, steps)) => {
            format!("best greedy evaluation: mean return {mean:.1} after {steps:.0} environment steps")
        }
        None => "no evaluation in the history".into(),
    };
    let chart = Chart {
        title: title("return per episode"),
        x_label: "episode",
        y_label: "return".into(),
        series,
        marker: None,
        caption,
        legend_low: true,
        log_y: false,
        y_format: |v| format!("{v:.0}"),
    };
    Some(("return".into(), chart))
}
