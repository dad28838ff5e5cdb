//! Environments with Gymnasium's contract: [`Env::reset`] with an optional
//! seed gives the first observation; [`Env::step`] takes an action and gives
//! the next observation, the reward, and whether the episode *terminated*
//! (the task ended: the pole fell, the acrobot swung up) or was *truncated*
//! (the time limit ran out, as Gymnasium's `TimeLimit` wrapper does).
//!
//! The dynamics follow Gymnasium 1.x's `CartPole-v1` and `Acrobot-v1` to the
//! operation, including their seeding ([`NumpyRng`]), so the same seed and
//! actions give the same states (checked against recorded Gymnasium runs in
//! `tests/rl_env.rs`). [`VecEnv`] steps N copies together.

mod acrobot;
mod canvas;
mod cartpole;
mod seeding;
mod vector;

pub use acrobot::Acrobot;
pub use canvas::Canvas;
pub use cartpole::CartPole;
pub use seeding::NumpyRng;
pub use vector::{VecEnv, VecStep};

use crate::{Error, Result};

/// What one step of an environment returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The observation after the action (`[observation_size]`).
    pub observation: Vec<f32>,
    /// The reward of the step.
    pub reward: f32,
    /// The episode ended by the task's own rule (no future rewards).
    pub terminated: bool,
    /// The episode was cut by the time limit (the state still has a future).
    pub truncated: bool,
}

/// An environment with discrete actions `0..actions`.
pub trait Env: Send {
    /// Which environment this is.
    fn name(&self) -> EnvName;

    /// Starts an episode; with `Some(seed)`, first reseeds the environment's
    /// generator (Gymnasium's `reset(seed=...)`), else continues it.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;

    /// Applies `action`.
    ///
    /// # Errors
    /// An action outside `0..actions`, or a step before the first `reset`.
    fn step(&mut self, action: usize) -> Result<Step>;

    /// The physical state in `f64` (CartPole `[x, x_dot, theta, theta_dot]`,
    /// Acrobot `[theta1, theta2, dtheta1, dtheta2]`); empty before `reset`.
    fn state(&self) -> Vec<f64>;

    /// Draws the current state on `canvas` (cart and pole, the acrobot's links).
    fn render(&self, canvas: &mut Canvas);
}

/// The environments this version provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EnvName {
    /// `CartPole-v1`: push a cart left or right to keep a pole upright (Barto, Sutton
    /// & Anderson 1983); +1 per step, at most 500 steps.
    #[serde(rename = "CartPole-v1")]
    CartPole,
    /// `Acrobot-v1`: swing a two-link pendulum's tip above a line by torquing the
    /// middle joint (Sutton 1996); -1 per step until done, at most 500 steps.
    #[serde(rename = "Acrobot-v1")]
    Acrobot,
}

impl EnvName {
    /// Every environment, in the order help texts list them.
    pub const ALL: [EnvName; 2] = [EnvName::CartPole, EnvName::Acrobot];

    /// Gymnasium's id: `CartPole-v1`, `Acrobot-v1`.
    pub fn id(self) -> &'static str {
        match self {
            EnvName::CartPole => "CartPole-v1",
            EnvName::Acrobot => "Acrobot-v1",
        }
    }

    /// The short name the command line takes: `cartpole`, `acrobot`.
    pub fn short(self) -> &'static str {
        match self {
            EnvName::CartPole => "cartpole",
            EnvName::Acrobot => "acrobot",
        }
    }

    /// Values per observation: 4 for CartPole, 6 for Acrobot.
    pub fn observation_size(self) -> usize {
        match self {
            EnvName::CartPole => 4,
            EnvName::Acrobot => 6,
        }
    }

    /// Number of discrete actions: 2 for CartPole, 3 for Acrobot.
    pub fn actions(self) -> usize {
        match self {
            EnvName::CartPole => 2,
            EnvName::Acrobot => 3,
        }
    }

    /// Steps after which an episode is truncated (Gymnasium's `max_episode_steps`).
    pub fn max_episode_steps(self) -> usize {
        500
    }

    /// The return at which Gymnasium calls the task solved (`reward_threshold`):
    /// 475 for CartPole-v1, -100 for Acrobot-v1.
    pub fn reward_threshold(self) -> f32 {
        match self {
            EnvName::CartPole => 475.0,
            EnvName::Acrobot => -100.0,
        }
    }

    /// Frames per second of a rendering (Gymnasium's `render_fps`).
    pub fn render_fps(self) -> u32 {
        match self {
            EnvName::CartPole => 50,
            EnvName::Acrobot => 15,
        }
    }

    /// A new environment of this kind; call [`Env::reset`] before stepping it.
    ///
    /// ```
    /// use backprop::rl::EnvName;
    /// let mut env = EnvName::CartPole.make();
    /// let obs = env.reset(Some(42));
    /// assert_eq!(obs.len(), 4);
    /// let step = env.step(1).unwrap();
    /// assert_eq!((step.reward, step.terminated, step.truncated), (1.0, false, false));
    /// ```
    pub fn make(self) -> Box<dyn Env> {
        match self {
            EnvName::CartPole => Box::new(CartPole::new()),
            EnvName::Acrobot => Box::new(Acrobot::new()),
        }
    }
}

impl std::fmt::Display for EnvName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for EnvName {
    type Err = Error;
    /// `cartpole` or `CartPole-v1`, `acrobot` or `Acrobot-v1` (any case).
    fn from_str(s: &str) -> Result<EnvName> {
        let key = s.trim().to_ascii_lowercase();
        EnvName::ALL.into_iter().find(|e| key == e.short() || key == e.id().to_ascii_lowercase()).ok_or_else(|| {
            let names: Vec<&str> = EnvName::ALL.iter().map(|e| e.short()).collect();
            Error::invalid("--env", format!("unknown environment '{s}' (expected one of: {})", names.join(", ")))
        })
    }
}

/// The error of an action outside `0..actions`.
fn bad_action(env: EnvName, action: usize) -> Error {
    Error::invalid("action", format!("{env} takes actions 0..{}, got {action}", env.actions()))
}

/// The error of a step before the first reset.
fn not_reset(env: EnvName) -> Error {
    Error::invalid("step", format!("{env} was stepped before reset"))
}

/// Gymnasium's `TimeLimit` bookkeeping: counts steps and says when the limit is reached.
#[derive(Clone, Copy, Debug, Default)]
struct TimeLimit {
    elapsed: usize,
}

impl TimeLimit {
    /// Counts a step; true when the episode has now run `max` steps.
    fn tick(&mut self, max: usize) -> bool {
        self.elapsed += 1;
        self.elapsed >= max
    }
}
