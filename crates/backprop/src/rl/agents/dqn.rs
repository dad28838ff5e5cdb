//! Deep Q-learning (Mnih et al. 2015, "Human-level control through deep
//! reinforcement learning"): epsilon-greedy experience in a replay buffer, a
//! target network synchronised every `target_update` optimizer steps, Huber
//! loss on the TD error, and Double DQN targets (van Hasselt, Guez & Silver
//! 2016): the online network picks the next action, the target network values it.

use super::{one_hot, Core, Learner};
use crate::autograd::{Graph, Param, Var};
use crate::nn::{Mlp, Module};
use crate::rl::ReplayBuffer;
use crate::tensor::Rng;
use crate::train::EpochRecord;
use crate::{Error, Result, Tensor};

/// DQN's hyperparameters. Steps are environment steps summed over copies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DqnConfig {
    /// Transitions the replay buffer holds.
    pub buffer: usize,
    /// Transitions per optimizer step.
    pub batch: usize,
    /// Random-action steps before learning starts.
    pub learning_starts: usize,
    /// Environment steps gathered between training phases.
    pub train_freq: usize,
    /// Optimizer steps per training phase.
    pub gradient_steps: usize,
    /// Optimizer steps between copies of the online network into the target network.
    pub target_update: usize,
    /// Discount factor.
    pub gamma: f32,
    /// Environment steps over which epsilon falls linearly from 1 to `final_epsilon`.
    pub exploration_steps: usize,
    /// Epsilon after the decay.
    pub final_epsilon: f32,
    /// Double DQN targets (else the target network's own maximum).
    pub double: bool,
}

impl DqnConfig {
    /// Errors unless sizes are positive and fractions in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("buffer", self.buffer),
            ("batch", self.batch),
            ("train_freq", self.train_freq),
            ("gradient_steps", self.gradient_steps),
            ("target_update", self.target_update),
        ];
        for (name, v) in sizes {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        super::check_unit("gamma", self.gamma)?;
        super::check_unit("final_epsilon", self.final_epsilon)
    }

    /// Epsilon after `steps` environment steps.
    pub fn epsilon(&self, steps: usize) -> f32 {
        if self.exploration_steps == 0 {
            return self.final_epsilon;
        }
        let progress = (steps as f32 / self.exploration_steps as f32).min(1.0);
        self.final_epsilon + (1.0 - self.final_epsilon) * (1.0 - progress)
    }
}

/// The DQN learner: the policy's network is the online Q-network.
pub(crate) struct Dqn {
    config: DqnConfig,
    target: Mlp,
    buffer: ReplayBuffer,
    calls: usize,
    epsilon: f32,
}

impl Dqn {
    pub fn new(config: DqnConfig, core: &Core) -> Dqn {
        let online = core.policy.net();
        let target = Mlp::new(online.config().clone(), &mut Rng::new(0));
        copy_params(&online.parameters(), &target.parameters());
        let size = core.envs.name().observation_size();
        Dqn { config, target, buffer: ReplayBuffer::new(config.buffer, size), calls: 0, epsilon: 1.0 }
    }

    /// Steps every copy `ceil(steps / copies)` times, epsilon-greedily, storing the transitions.
    fn gather(&mut self, core: &mut Core, steps: usize) -> Result<()> {
        let n = core.envs.len();
        let actions_n = core.envs.name().actions();
        for _ in 0..steps.div_ceil(n) {
            self.epsilon = self.config.epsilon(core.episodes.steps);
            let obs = core.envs.observations();
            let greedy = core.policy.act(&obs);
            let actions: Vec<usize> = greedy
                .into_iter()
                .map(|a| if core.rng.next_f32() < self.epsilon { core.rng.below(actions_n) } else { a })
                .collect();
            let step = core.envs.step(&actions)?;
            core.episodes.record(&step);
            let next = core.envs.observations();
            let size = obs.shape()[1];
            for (i, &action) in actions.iter().enumerate() {
                let row = |t: &Tensor| t.data()[i * size..(i + 1) * size].to_vec();
                let next_obs = step.final_observations[i].clone().unwrap_or_else(|| row(&next));
                self.buffer.push(&row(&obs), action, step.rewards[i], &next_obs, step.terminated[i]);
            }
        }
        Ok(())
    }
}

/// Copies values from `from` into `to` (same architecture).
fn copy_params(from: &[(String, Param)], to: &[(String, Param)]) {
    for ((_, a), (_, b)) in from.iter().zip(to) {
        b.set_value(a.value().clone());
    }
}

/// The Huber loss of `d` with threshold 1, averaged (PyTorch's `smooth_l1_loss`):
/// `0.5 d^2` for `|d| < 1`, `|d| - 0.5` beyond. With `q = min(|d|, 1)`:
/// `0.5 q^2 + (|d| - q)`.
fn huber<'g>(d: Var<'g>) -> Var<'g> {
    let a = d.abs();
    let q = a.min_scalar(1.0);
    (q.square() * 0.5 + (a - q)).mean()
}

impl Learner for Dqn {
    fn loss<'g>(&mut self, core: &mut Core, g: &'g Graph) -> Result<Var<'g>> {
        let c = self.config;
        if self.calls.is_multiple_of(c.gradient_steps) {
            let warmup = if self.calls == 0 { c.learning_starts.max(c.batch) } else { 0 };
            self.gather(core, warmup + c.train_freq)?;
        }
        if self.calls.is_multiple_of(c.target_update) {
            copy_params(&core.policy.net().parameters(), &self.target.parameters());
        }
        self.calls += 1;
        let t = self.buffer.sample(c.batch, &mut core.rng);
        let b = c.batch;
        // TD targets r + gamma * (1 - terminated) * Q_target(s', a'), off the tape.
        let targets = {
            let ng = Graph::no_grad();
            let next = ng.constant(t.next_observations.clone());
            let q_target = self.target.forward(&ng, next).value();
            let actions_n = q_target.shape()[1];
            let choice = if c.double { core.policy.forward(&ng, next).value() } else { q_target.clone() };
            let best = choice.argmax_axis(1);
            let y: Vec<f32> = (0..b)
                .map(|i| {
                    let future = if t.terminated[i] { 0.0 } else { q_target.data()[i * actions_n + best[i]] };
                    t.rewards[i] + c.gamma * future
                })
                .collect();
            Tensor::from_vec(y, &[b])
        };
        let q = core.policy.forward(g, g.constant(t.observations));
        let actions_n = q.shape()[1];
        let q_taken = (q * one_hot(g, &t.actions, actions_n)).sum_axis(1, false);
        Ok(huber(q_taken - g.constant(targets)))
    }

    fn at_boundary(&self) -> bool {
        self.calls.is_multiple_of(self.config.gradient_steps)
    }

    fn end_round(&mut self, record: &mut EpochRecord) {
        record.metrics.insert("epsilon".into(), self.epsilon);
    }

    fn parameters(&self, core: &Core) -> Vec<(String, Param)> {
        core.policy.net().parameters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{gradcheck, GradcheckOptions};

    #[test]
    fn huber_is_smooth_l1() {
        let g = Graph::no_grad();
        let d = g.constant(Tensor::from_vec(vec![0.5, -2.0, 1.0, 0.0], &[4]));
        // 0.125, 1.5, 0.5, 0 -> mean 0.53125
        assert!((huber(d).item() - 0.53125).abs() < 1e-6);
        let x = Tensor::from_vec(vec![0.3, -1.7, 2.4, -0.2], &[4]);
        let report = gradcheck(&[x], |_, v| huber(v[0]), &GradcheckOptions::default());
        assert!(report.passed, "{report:?}");
    }

    #[test]
    fn epsilon_decays_linearly_then_holds() {
        let c = DqnConfig {
            buffer: 10,
            batch: 1,
            learning_starts: 0,
            train_freq: 1,
            gradient_steps: 1,
            target_update: 1,
            gamma: 0.99,
            exploration_steps: 100,
            final_epsilon: 0.05,
            double: true,
        };
        assert_eq!(c.epsilon(0), 1.0);
        assert!((c.epsilon(50) - 0.525).abs() < 1e-6);
        assert_eq!(c.epsilon(100), 0.05);
        assert_eq!(c.epsilon(900), 0.05);
    }
}
