//! The agents. Each is a [`Learner`]: what one optimizer step computes, from
//! experience it gathers itself; [`RlStep`] wraps it into the one training
//! loop's [`TrainStep`] with what every agent shares ([`Core`]: the policy,
//! the vector environment, the episode tally, the budget and the
//! deterministic evaluations that keep the best policy).

mod a2c;
mod actor_critic;
mod dqn;
mod ppo;
mod reinforce;

pub use a2c::A2cConfig;
pub use dqn::DqnConfig;
pub use ppo::PpoConfig;
pub use reinforce::ReinforceConfig;

pub(crate) use a2c::A2c;
pub(crate) use dqn::Dqn;
pub(crate) use ppo::Ppo;
pub(crate) use reinforce::Reinforce;

use super::{evaluate, Episodes, Policy, VecEnv};
use crate::autograd::{Graph, Param, Var};
use crate::nn::Module;
use crate::tensor::Rng;
use crate::train::{EpochRecord, EpochStats, TrainStep};
use crate::{Error, Result, Tensor};

/// The learning algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// REINFORCE with a learned baseline (Williams 1992; Sutton & Barto 2018, section 13.4).
    Reinforce,
    /// Advantage actor-critic, synchronous (Mnih et al. 2016's A3C without the asynchrony).
    A2c,
    /// Deep Q-network with experience replay, a target network, an epsilon-greedy
    /// schedule (Mnih et al. 2015) and Double DQN targets (van Hasselt et al. 2016).
    Dqn,
    /// Proximal policy optimization, clipped objective (Schulman et al. 2017).
    Ppo,
}

impl Algo {
    /// Every algorithm, in the order help texts list them.
    pub const ALL: [Algo; 4] = [Algo::Reinforce, Algo::A2c, Algo::Dqn, Algo::Ppo];

    /// The lower-case name: `reinforce`, `a2c`, `dqn`, `ppo`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Reinforce => "reinforce",
            Algo::A2c => "a2c",
            Algo::Dqn => "dqn",
            Algo::Ppo => "ppo",
        }
    }

    /// Whether the agent learns a value network besides its policy (all but DQN).
    pub fn has_value_network(self) -> bool {
        self != Algo::Dqn
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algo {
    type Err = Error;
    fn from_str(s: &str) -> Result<Algo> {
        let key = s.trim().to_ascii_lowercase();
        Algo::ALL.into_iter().find(|a| a.name() == key).ok_or_else(|| {
            let names: Vec<&str> = Algo::ALL.iter().map(|a| a.name()).collect();
            Error::invalid("--algo", format!("unknown algorithm '{s}' (expected one of: {})", names.join(", ")))
        })
    }
}

/// How often and how the agent is evaluated while it trains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalConfig {
    /// Environment steps between deterministic evaluations (also one at the end).
    pub every: usize,
    /// Episodes per evaluation.
    pub episodes: usize,
    /// Episode `i` of every evaluation starts from seed `seed + i`.
    pub seed: u64,
    /// Stop training once an evaluation's mean return reaches this.
    pub target: Option<f32>,
}

/// What every agent has: the policy, its environments and random generator,
/// the tally of episodes, the budget, and the evaluations so far.
pub(crate) struct Core {
    pub policy: Policy,
    pub envs: VecEnv,
    pub rng: Rng,
    pub episodes: Episodes,
    /// Environment steps to train for.
    pub budget: usize,
    eval: EvalConfig,
    last_eval: usize,
    best: Option<Evaluation>,
    best_values: Option<Vec<Tensor>>,
    reached: Option<Evaluation>,
}

/// The mean and standard deviation of a deterministic evaluation's returns,
/// with the environment steps and episodes of training before it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean return over the evaluation's episodes.
    pub mean: f32,
    /// Their standard deviation (population).
    pub std: f32,
    /// Training environment steps so far.
    pub env_steps: usize,
    /// Training episodes finished so far.
    pub episodes: usize,
}

impl Core {
    pub fn new(policy: Policy, envs: VecEnv, seed: u64, budget: usize, eval: EvalConfig) -> Core {
        Core {
            policy,
            envs,
            rng: Rng::new(seed),
            episodes: Episodes::default(),
            budget,
            eval,
            last_eval: 0,
            best: None,
            best_values: None,
            reached: None,
        }
    }

    /// Evaluates when due (every `eval.every` steps, and once the budget is
    /// spent), records `eval_return`/`eval_std`, keeps the best weights.
    fn evaluate_if_due(&mut self, record: &mut EpochRecord) -> Result<()> {
        let steps = self.episodes.steps;
        let due = steps >= self.last_eval + self.eval.every || (steps >= self.budget && steps > self.last_eval);
        if !due {
            return Ok(());
        }
        self.last_eval = steps;
        let returns = evaluate(&self.policy, self.eval.episodes, self.eval.seed)?;
        let (mean, std) = mean_std(&returns);
        let e = Evaluation { mean, std, env_steps: steps, episodes: self.episodes.returns.len() };
        record.metrics.insert("eval_return".into(), mean);
        record.metrics.insert("eval_std".into(), std);
        if self.best.is_none_or(|b| mean >= b.mean) {
            self.best = Some(e);
            self.best_values = Some(self.policy.snapshot());
        }
        if self.reached.is_none() && self.eval.target.is_some_and(|t| mean >= t) {
            self.reached = Some(e);
        }
        Ok(())
    }
}

/// The mean and population standard deviation of `values` (0, 0 when empty).
pub fn mean_std(values: &[f32]) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// One algorithm's optimizer step, from experience it gathers through [`Core`].
pub(crate) trait Learner {
    /// Gathers experience if the algorithm needs more, then records the
    /// scalar loss of one optimizer step on `g`.
    fn loss<'g>(&mut self, core: &mut Core, g: &'g Graph) -> Result<Var<'g>>;

    /// Whether the next [`Learner::loss`] starts by gathering new experience
    /// (only there may training stop for the budget).
    fn at_boundary(&self) -> bool;

    /// Adds the algorithm's own metrics of the round (entropy, epsilon, ...) and resets them.
    fn end_round(&mut self, _record: &mut EpochRecord) {}

    /// The parameters the optimizer updates (default: the policy's, value network included).
    fn parameters(&self, core: &Core) -> Vec<(String, Param)> {
        core.policy.parameters()
    }
}

/// An agent ready for the [`Trainer`](crate::train::Trainer): a learner, what it
/// shares with the others, and how its run is divided into rounds.
pub struct RlStep<L> {
    pub(crate) core: Core,
    pub(crate) learner: L,
    /// Optimizer steps per round (one history record each).
    pub(crate) updates_per_round: usize,
    /// An upper bound on the optimizer steps the budget allows.
    pub(crate) max_updates: usize,
}

/// A training agent, whatever its algorithm: a [`TrainStep`] with its policy,
/// tally and evaluations.
pub trait Agent: TrainStep {
    /// The policy being trained.
    fn policy(&self) -> &Policy;
    /// Steps and episodes so far.
    fn episodes(&self) -> &Episodes;
    /// The parameters the optimizer must update.
    fn parameters(&self) -> Vec<(String, Param)>;
    /// Optimizer steps per round: the trainer's `steps_per_epoch`.
    fn updates_per_round(&self) -> usize;
    /// An upper bound on the optimizer steps of the whole run (for schedules).
    fn max_updates(&self) -> usize;
    /// The best evaluation so far.
    fn best(&self) -> Option<Evaluation>;
    /// The first evaluation that reached the target return, if any did.
    fn reached(&self) -> Option<Evaluation>;
    /// Puts back the weights of the best evaluation (no-op before any).
    fn restore_best(&mut self);
    /// The agent as the trainer's step.
    fn as_step(&mut self) -> &mut dyn TrainStep;
}

impl<L: Learner> TrainStep for RlStep<L> {
    fn loss<'g>(&mut self, g: &'g Graph, _phase: usize) -> Result<Var<'g>> {
        self.learner.loss(&mut self.core, g)
    }

    fn end_epoch(&mut self, record: &mut EpochRecord, stats: &EpochStats) {
        self.core.episodes.end_round(record, stats.elapsed.as_secs_f32());
        self.learner.end_round(record);
    }

    fn evaluate(&mut self, record: &mut EpochRecord) -> Result<()> {
        self.core.evaluate_if_due(record)
    }

    fn finished(&self) -> bool {
        self.core.reached.is_some() || (self.learner.at_boundary() && self.core.episodes.steps >= self.core.budget)
    }
}

impl<L: Learner> Agent for RlStep<L> {
    fn policy(&self) -> &Policy {
        &self.core.policy
    }
    fn episodes(&self) -> &Episodes {
        &self.core.episodes
    }
    fn parameters(&self) -> Vec<(String, Param)> {
        self.learner.parameters(&self.core)
    }
    fn updates_per_round(&self) -> usize {
        self.updates_per_round
    }
    fn max_updates(&self) -> usize {
        self.max_updates
    }
    fn best(&self) -> Option<Evaluation> {
        self.core.best
    }
    fn reached(&self) -> Option<Evaluation> {
        self.core.reached
    }
    fn restore_best(&mut self) {
        if let Some(values) = &self.core.best_values {
            self.core.policy.restore(values);
        }
    }
    fn as_step(&mut self) -> &mut dyn TrainStep {
        self
    }
}

/// Rows `ids` of a `[N, width]` buffer as a `[ids.len(), width]` tensor.
pub(crate) fn gather_rows(data: &[f32], width: usize, ids: &[usize]) -> Tensor {
    let rows = ids.iter().flat_map(|&i| data[i * width..(i + 1) * width].iter().copied()).collect();
    Tensor::from_vec(rows, &[ids.len(), width])
}

/// A `[B, classes]` one-hot constant of `actions`, to pick each row's entry by a product.
pub(crate) fn one_hot<'g>(g: &'g Graph, actions: &[usize], classes: usize) -> Var<'g> {
    g.constant(crate::tensor::one_hot(actions, classes))
}

/// The mean of a metric over one round's updates (the entropy, PPO's clip
/// fraction), written into the round's history record.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RoundMean {
    sum: f64,
    count: usize,
}

impl RoundMean {
    /// Adds one update's value.
    pub fn add(&mut self, value: f32) {
        self.sum += f64::from(value);
        self.count += 1;
    }

    /// Writes the mean under `name` (nothing when no update was seen) and starts over.
    pub fn flush(&mut self, name: &str, record: &mut EpochRecord) {
        if self.count > 0 {
            record.metrics.insert(name.into(), (self.sum / self.count as f64) as f32);
        }
        *self = RoundMean::default();
    }
}

/// Errors unless `value` is a finite number >= 0 (a loss weight).
pub(crate) fn check_non_negative(name: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(name, format!("must be a number >= 0, got {value}")))
    }
}

/// Errors unless `value` is in [0, 1] (a discount factor, GAE's lambda).
pub(crate) fn check_unit(name: &str, value: f32) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(name, format!("must be between 0 and 1, got {value}")))
    }
}
