//! N copies of an environment stepped together, so a policy acts on a batch.

use super::{Env, EnvName};
use crate::{Error, Result, Tensor};

/// What one step of all copies returns (index `i` is copy `i`).
#[derive(Clone, Debug, Default)]
pub struct VecStep {
    /// Rewards of the step.
    pub rewards: Vec<f32>,
    /// Copies whose episode terminated at this step.
    pub terminated: Vec<bool>,
    /// Copies whose episode was truncated (and did not terminate) at this step.
    pub truncated: Vec<bool>,
    /// For each copy whose episode ended: the last observation of that
    /// episode (the current observation is already the next episode's first).
    pub final_observations: Vec<Option<Vec<f32>>>,
    /// Return and length of each episode that ended at this step.
    pub finished: Vec<(f32, usize)>,
    /// Copies stepped (all of them, except in [`VecEnv::step_some`]).
    pub stepped: usize,
}

impl VecStep {
    /// Whether copy `i`'s episode ended (terminated or truncated).
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }
}

/// `n` copies of one environment. Copy `i` is first reset with seed `seed + i`
/// (Gymnasium's vector `reset(seed=seed)`); a copy whose episode ends is reset
/// at once ("same-step" autoreset), continuing its own generator.
///
/// ```
/// use backprop::rl::{EnvName, VecEnv};
/// let mut envs = VecEnv::new(EnvName::CartPole, 3, 7).unwrap();
/// assert_eq!(envs.observations().shape(), &[3, 4]);
/// let step = envs.step(&[0, 1, 0]).unwrap();
/// assert_eq!(step.rewards, vec![1.0, 1.0, 1.0]);
/// ```
pub struct VecEnv {
    name: EnvName,
    envs: Vec<Box<dyn Env>>,
    observations: Vec<f32>,
    returns: Vec<f32>,
    lengths: Vec<usize>,
}

impl VecEnv {
    /// `n` copies of `name`, reset with seeds `seed`, `seed + 1`, ...
    ///
    /// # Errors
    /// When `n` is 0.
    pub fn new(name: EnvName, n: usize, seed: u64) -> Result<VecEnv> {
        if n == 0 {
            return Err(Error::invalid("envs", "a vector environment needs at least one copy"));
        }
        let mut envs: Vec<Box<dyn Env>> = (0..n).map(|_| name.make()).collect();
        let observations =
            envs.iter_mut().enumerate().flat_map(|(i, e)| e.reset(Some(seed.wrapping_add(i as u64)))).collect();
        Ok(VecEnv { name, envs, observations, returns: vec![0.0; n], lengths: vec![0; n] })
    }

    /// The environment.
    pub fn name(&self) -> EnvName {
        self.name
    }

    /// Number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false: there is at least one copy.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The current observations, `[n, observation_size]`.
    pub fn observations(&self) -> Tensor {
        Tensor::from_vec(self.observations.clone(), &[self.len(), self.name.observation_size()])
    }

    /// The copies themselves (to draw one).
    pub fn envs(&self) -> &[Box<dyn Env>] {
        &self.envs
    }

    /// Steps copy `i` with `actions[i]`, resetting copies whose episode ends.
    ///
    /// # Errors
    /// When `actions` has the wrong length or holds an invalid action.
    pub fn step(&mut self, actions: &[usize]) -> Result<VecStep> {
        let some: Vec<Option<usize>> = actions.iter().map(|&a| Some(a)).collect();
        self.step_some(&some)
    }

    /// Steps only the copies with an action (`Some`); the others keep their
    /// state, get reward 0 and are not done. For collecting whole episodes in
    /// lock-step: a copy whose episode ended waits for the others.
    ///
    /// # Errors
    /// As [`VecEnv::step`].
    pub fn step_some(&mut self, actions: &[Option<usize>]) -> Result<VecStep> {
        if actions.len() != self.len() {
            return Err(Error::invalid(
                "actions",
                format!("{} actions for {} environments", actions.len(), self.len()),
            ));
        }
        let n = self.len();
        let size = self.name.observation_size();
        let mut out = VecStep {
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            final_observations: vec![None; n],
            finished: Vec::new(),
            stepped: 0,
        };
        for (i, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let Some(action) = action else {
                out.rewards.push(0.0);
                out.terminated.push(false);
                out.truncated.push(false);
                continue;
            };
            out.stepped += 1;
            let step = env.step(action)?;
            self.returns[i] += step.reward;
            self.lengths[i] += 1;
            let truncated = step.truncated && !step.terminated;
            let slot = &mut self.observations[i * size..(i + 1) * size];
            if step.terminated || truncated {
                out.finished.push((self.returns[i], self.lengths[i]));
                (self.returns[i], self.lengths[i]) = (0.0, 0);
                slot.copy_from_slice(&env.reset(None));
                out.final_observations[i] = Some(step.observation);
            } else {
                slot.copy_from_slice(&step.observation);
            }
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(truncated);
        }
        Ok(out)
    }
}
