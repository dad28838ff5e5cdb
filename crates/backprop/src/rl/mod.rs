//! Reinforcement learning: environments with Gymnasium's contract, agents
//! that learn from the rewards they collect, and the policies they leave.
//!
//! - [`env`](self#environments): [`CartPole`] and [`Acrobot`] with
//!   Gymnasium's exact dynamics and seeding, [`VecEnv`] for N copies.
//! - agents: REINFORCE with a baseline, A2C, DQN (replay buffer, target
//!   network, epsilon schedule, Double DQN) and PPO (clipped objective, GAE,
//!   minibatch epochs, entropy bonus). Each is a [`TrainStep`](crate::train::TrainStep)
//!   that gathers its own experience, so the one [`Trainer`](crate::train::Trainer)
//!   runs it: clipping, NaN checks, schedules, progress and history as for any model.
//! - [`Policy`]: the trained networks as a plain-MLP checkpoint.
//!
//! # Environments
//!
//! ```
//! use backprop::rl::{EnvName, VecEnv};
//! let mut envs = VecEnv::new(EnvName::Acrobot, 2, 0).unwrap();
//! let step = envs.step(&[0, 2]).unwrap();
//! assert_eq!(step.rewards, vec![-1.0, -1.0]);
//! ```
//!
//! # Training
//!
//! ```
//! use backprop::rl::{evaluate, train, Algo, EnvName, RlConfig};
//! let mut config = RlConfig::new(EnvName::CartPole, Algo::Ppo);
//! config.steps = 4096;
//! config.eval.episodes = 5;
//! let (agent, outcome) = train(&config).unwrap();
//! assert!(outcome.env_steps >= 4096);
//! let returns = evaluate(agent.policy(), 5, 0).unwrap();
//! assert_eq!(returns.len(), 5);
//! ```

mod agents;
mod buffers;
mod env;
mod evaluate;
mod policy;
mod returns;
mod train;

pub use agents::{
    mean_std, A2cConfig, Agent, Algo, DqnConfig, EvalConfig, Evaluation, PpoConfig, ReinforceConfig, RlStep,
};
pub use buffers::{Episodes, ReplayBuffer, Transitions};
pub use env::{Acrobot, Canvas, CartPole, Env, EnvName, NumpyRng, Step, VecEnv, VecStep};
pub use evaluate::{evaluate, record_episode};
pub use policy::{Policy, ACTIVATION_KEY, ALGO_KEY, ENV_KEY, POLICY_KIND, VALUE_CONFIG_KEY, VALUE_PREFIX};
pub use returns::{discounted_returns, gae, normalize};
pub use train::{train, AlgoConfig, Outcome, RlConfig};
