//! A training run: the configuration (environment, algorithm and their
//! hyperparameters, budget, evaluation), the agent it builds, and how the one
//! training loop runs it.

use super::agents::{A2c, Core, Dqn, Ppo, Reinforce, RlStep};
use super::{
    A2cConfig, Agent, Algo, DqnConfig, EnvName, EvalConfig, Evaluation, Policy, PpoConfig, ReinforceConfig, VecEnv,
};
use crate::nn::Activation;
use crate::optim::{Adam, Schedule};
use crate::tensor::Rng;
use crate::train::{EpochRecord, TrainConfig, Trainer};
use crate::{Error, Result};
use std::time::Instant;

/// Environment steps per history record (a round), roughly.
const STEPS_PER_ROUND: usize = 2048;
/// Episodes per history record for REINFORCE, roughly.
const EPISODES_PER_ROUND: usize = 20;

/// An algorithm with its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AlgoConfig {
    /// REINFORCE with a baseline.
    Reinforce(ReinforceConfig),
    /// Advantage actor-critic.
    A2c(A2cConfig),
    /// DQN.
    Dqn(DqnConfig),
    /// PPO.
    Ppo(PpoConfig),
}

impl AlgoConfig {
    /// Which algorithm.
    pub fn algo(&self) -> Algo {
        match self {
            AlgoConfig::Reinforce(_) => Algo::Reinforce,
            AlgoConfig::A2c(_) => Algo::A2c,
            AlgoConfig::Dqn(_) => Algo::Dqn,
            AlgoConfig::Ppo(_) => Algo::Ppo,
        }
    }
}

/// Everything a reinforcement-learning run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RlConfig {
    /// The environment.
    pub env: EnvName,
    /// The algorithm and its hyperparameters.
    pub algo: AlgoConfig,
    /// Environment steps to train for (summed over copies; a run ends at the
    /// first point after this where the algorithm would gather new experience).
    pub steps: usize,
    /// Seed of the initialisation, the environments (copy `i` starts from
    /// `seed + i`) and every random choice.
    pub seed: u64,
    /// Copies of the environment stepped together.
    pub envs: usize,
    /// Hidden layer sizes of the policy (and value) network.
    pub hidden: Vec<usize>,
    /// Their activation.
    pub activation: Activation,
    /// Adam's learning rate (for [`train`]; the command line builds its own optimizer).
    pub lr: f32,
    /// Gradient clipping by global norm.
    pub clip: Option<f32>,
    /// Evaluations during training.
    pub eval: EvalConfig,
}

impl RlConfig {
    /// Settings known to solve `env` with `algo` (after RL Baselines3 Zoo's
    /// tuned hyperparameters where they exist, with DQN's network narrowed
    /// from 256 to 64 units, which solves CartPole as fast in steps and 8x
    /// faster in time): two hidden layers of 64, tanh (ReLU for DQN);
    /// 100-episode evaluations every 5,000 steps, stopping at Gymnasium's
    /// reward threshold.
    pub fn new(env: EnvName, algo: Algo) -> RlConfig {
        let cartpole = env == EnvName::CartPole;
        let (algo, envs, lr, clip) = match algo {
            Algo::Reinforce => (AlgoConfig::Reinforce(ReinforceConfig { gamma: 0.99, vf_coef: 0.5 }), 4, 5e-3, None),
            Algo::A2c => {
                let c = A2cConfig { n_steps: 5, gamma: 0.99, lambda: 1.0, ent_coef: 0.0, vf_coef: 0.5 };
                (AlgoConfig::A2c(c), 8, 1e-3, Some(0.5))
            }
            Algo::Dqn if cartpole => {
                let c = DqnConfig {
                    buffer: 100_000,
                    batch: 64,
                    learning_starts: 1000,
                    train_freq: 256,
                    gradient_steps: 128,
                    target_update: 128,
                    gamma: 0.99,
                    exploration_steps: 10_000,
                    final_epsilon: 0.04,
                    double: true,
                };
                (AlgoConfig::Dqn(c), 1, 2.3e-3, Some(10.0))
            }
            Algo::Dqn => {
                let c = DqnConfig {
                    buffer: 50_000,
                    batch: 128,
                    learning_starts: 1000,
                    train_freq: 4,
                    gradient_steps: 4,
                    target_update: 250,
                    gamma: 0.99,
                    exploration_steps: 12_000,
                    final_epsilon: 0.1,
                    double: true,
                };
                (AlgoConfig::Dqn(c), 1, 6.3e-4, Some(10.0))
            }
            Algo::Ppo if cartpole => {
                let c = PpoConfig {
                    n_steps: 32,
                    epochs: 20,
                    minibatch: 256,
                    gamma: 0.98,
                    lambda: 0.8,
                    clip: 0.2,
                    ent_coef: 0.0,
                    vf_coef: 0.5,
                };
                (AlgoConfig::Ppo(c), 8, 1e-3, Some(0.5))
            }
            Algo::Ppo => {
                // Tuned here: reaches -80 in 55k-92k steps for seeds 1-3.
                let c = PpoConfig {
                    n_steps: 64,
                    epochs: 10,
                    minibatch: 256,
                    gamma: 0.99,
                    lambda: 0.9,
                    clip: 0.2,
                    ent_coef: 0.0,
                    vf_coef: 0.5,
                };
                (AlgoConfig::Ppo(c), 16, 1e-3, Some(0.5))
            }
        };
        let activation = if matches!(algo, AlgoConfig::Dqn(_)) { Activation::Relu } else { Activation::Tanh };
        RlConfig {
            env,
            algo,
            steps: if cartpole { 200_000 } else { 500_000 },
            seed: 1,
            envs,
            hidden: vec![64, 64],
            activation,
            lr,
            clip,
            eval: EvalConfig { every: 5000, episodes: 100, seed: 1_000_000, target: Some(env.reward_threshold()) },
        }
    }

    /// Errors name the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("steps", self.steps),
            ("envs", self.envs),
            ("eval_every", self.eval.every),
            ("eval_episodes", self.eval.episodes),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        if self.envs > 4096 {
            return Err(Error::invalid("envs", format!("{} copies is more than the limit of 4096", self.envs)));
        }
        if self.hidden.iter().any(|&h| h == 0 || h > 1 << 16) {
            return Err(Error::invalid(
                "hidden",
                format!("layer sizes must be between 1 and 65536, got {:?}", self.hidden),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::invalid("lr", format!("must be a positive number, got {}", self.lr)));
        }
        match self.algo {
            AlgoConfig::Reinforce(c) => c.validate(),
            AlgoConfig::A2c(c) => c.validate(),
            AlgoConfig::Ppo(c) => c.validate(),
            AlgoConfig::Dqn(c) => {
                c.validate()?;
                let first = c.learning_starts.max(c.batch) + c.train_freq;
                if self.steps < first {
                    return Err(Error::invalid(
                        "steps",
                        format!("DQN's first training phase needs {first} steps ({} warm-up + {}), more than the budget of {}", c.learning_starts.max(c.batch), c.train_freq, self.steps),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The agent: a fresh policy, `envs` copies of the environment and the learner.
    ///
    /// # Errors
    /// As [`RlConfig::validate`].
    pub fn agent(&self) -> Result<Box<dyn Agent>> {
        self.validate()?;
        let mut rng = Rng::new(self.seed);
        let policy = Policy::new(self.env, self.algo.algo(), &self.hidden, self.activation, &mut rng);
        let envs = VecEnv::new(self.env, self.envs, self.seed)?;
        let core = Core::new(policy, envs, self.seed.wrapping_add(1), self.steps, self.eval);
        let (budget, n) = (self.steps, self.envs);
        let rounds_of = |unit: usize| (STEPS_PER_ROUND / unit.max(1)).max(1);
        Ok(match self.algo {
            AlgoConfig::Reinforce(c) => {
                let per_round = (EPISODES_PER_ROUND / n).max(1);
                Box::new(RlStep {
                    core,
                    learner: Reinforce::new(c),
                    updates_per_round: per_round,
                    max_updates: budget.div_ceil(n),
                })
            }
            AlgoConfig::A2c(c) => {
                let unit = n * c.n_steps;
                let learner = A2c::new(c);
                Box::new(RlStep {
                    core,
                    learner,
                    updates_per_round: rounds_of(unit),
                    max_updates: budget.div_ceil(unit),
                })
            }
            AlgoConfig::Ppo(c) => {
                let unit = n * c.n_steps;
                let per_rollout = Ppo::updates_per_rollout(&c, unit);
                let (per_round, max_updates) = (rounds_of(unit) * per_rollout, budget.div_ceil(unit) * per_rollout);
                Box::new(RlStep { core, learner: Ppo::new(c), updates_per_round: per_round, max_updates })
            }
            AlgoConfig::Dqn(c) => {
                let learner = Dqn::new(c, &core);
                let unit = c.train_freq.div_ceil(n) * n;
                let (per_round, max_updates) =
                    (rounds_of(unit) * c.gradient_steps, budget.div_ceil(unit) * c.gradient_steps);
                Box::new(RlStep { core, learner, updates_per_round: per_round, max_updates })
            }
        })
    }

    /// The trainer's configuration for `agent`: rounds of
    /// [`Agent::updates_per_round`] steps, the given schedule, this configuration's clipping.
    pub fn train_config(&self, agent: &dyn Agent, schedule: Schedule) -> TrainConfig {
        let per_round = agent.updates_per_round();
        TrainConfig {
            epochs: agent.max_updates().div_ceil(per_round),
            steps_per_epoch: Some(per_round),
            // REINFORCE's updates depend on episode lengths: its maximum is only a bound.
            max_steps: (self.algo.algo() != Algo::Reinforce).then(|| agent.max_updates()),
            seed: self.seed,
            schedule,
            clip_norm: self.clip,
            ..Default::default()
        }
    }
}

/// How a run went.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One record per round.
    pub records: Vec<EpochRecord>,
    /// Environment steps taken.
    pub env_steps: usize,
    /// Episodes finished.
    pub episodes: usize,
    /// The best evaluation (its weights are the policy's after [`train`]).
    pub best: Option<Evaluation>,
    /// The first evaluation that reached the target, if one did.
    pub reached: Option<Evaluation>,
    /// Wall-clock seconds of training.
    pub seconds: f64,
}

impl Outcome {
    /// What `agent` reports after `records`, `seconds` of training.
    pub fn of(agent: &dyn Agent, records: Vec<EpochRecord>, seconds: f64) -> Outcome {
        let e = agent.episodes();
        Outcome {
            records,
            env_steps: e.steps,
            episodes: e.returns.len(),
            best: agent.best(),
            reached: agent.reached(),
            seconds,
        }
    }
}

/// Trains an agent as `config` says with Adam at `config.lr` (constant),
/// silently, and leaves it with the weights of its best evaluation.
///
/// ```no_run
/// use backprop::rl::{train, Algo, EnvName, RlConfig};
/// let config = RlConfig::new(EnvName::CartPole, Algo::Ppo);
/// let (agent, outcome) = train(&config).unwrap();
/// println!("solved after {:?} steps", outcome.reached.map(|e| e.env_steps));
/// agent.policy().save("cartpole.safetensors".as_ref(), &Default::default()).unwrap();
/// ```
///
/// # Errors
/// A configuration out of range; a loss that turns non-finite.
pub fn train(config: &RlConfig) -> Result<(Box<dyn Agent>, Outcome)> {
    let mut agent = config.agent()?;
    let adam = Adam::new(agent.parameters(), config.lr);
    let started = Instant::now();
    let records =
        Trainer::new(Box::new(adam), config.train_config(agent.as_ref(), Schedule::Constant)).run(agent.as_step())?;
    agent.restore_best();
    let outcome = Outcome::of(agent.as_ref(), records, started.elapsed().as_secs_f64());
    Ok((agent, outcome))
}
