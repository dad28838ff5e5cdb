//! Advantage actor-critic, synchronous: short rollouts of every copy, n-step
//! (GAE) advantages, one optimizer step each (Mnih et al. 2016, "Asynchronous
//! Methods for Deep Reinforcement Learning", as Stable-Baselines3's A2C).

use super::actor_critic::{collect, log_prob_and_entropy};
use super::{Core, Learner};
use crate::autograd::{Graph, Var};
use crate::nn::Module;
use crate::rl::gae;
use crate::train::EpochRecord;
use crate::{Error, Result, Tensor};

/// A2C's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct A2cConfig {
    /// Steps of every copy per update.
    pub n_steps: usize,
    /// Discount factor.
    pub gamma: f32,
    /// GAE's lambda (1: plain n-step returns).
    pub lambda: f32,
    /// Weight of the entropy bonus.
    pub ent_coef: f32,
    /// Weight of the value loss.
    pub vf_coef: f32,
}

impl A2cConfig {
    /// Errors unless the sizes are positive and the coefficients in range.
    pub fn validate(&self) -> Result<()> {
        if self.n_steps == 0 {
            return Err(Error::invalid("n_steps", "must be at least 1"));
        }
        super::check_unit("gamma", self.gamma)?;
        super::check_unit("lambda", self.lambda)?;
        super::check_non_negative("ent_coef", self.ent_coef)?;
        super::check_non_negative("vf_coef", self.vf_coef)
    }
}

/// The A2C learner.
pub(crate) struct A2c {
    config: A2cConfig,
    entropy: super::RoundMean,
}

impl A2c {
    pub fn new(config: A2cConfig) -> A2c {
        A2c { config, entropy: super::RoundMean::default() }
    }
}

impl Learner for A2c {
    fn loss<'g>(&mut self, core: &mut Core, g: &'g Graph) -> Result<Var<'g>> {
        let c = self.config;
        let r = collect(core, c.n_steps, c.gamma)?;
        let n = core.envs.len();
        let (advantages, returns) = gae(&r.rewards, &r.values, &r.dones, &r.last_values, n, c.gamma, c.lambda)?;
        let b = r.actions.len();
        let size = core.envs.name().observation_size();
        let obs = g.constant(Tensor::from_vec(r.observations, &[b, size]));
        let (log_p, entropy) = log_prob_and_entropy(g, core.policy.forward(g, obs), &r.actions);
        let adv = g.constant(Tensor::from_vec(advantages, &[b]));
        let policy_loss = (log_p * adv).mean() * -1.0;
        let value_net = core.policy.value().expect("A2C policies have a value network");
        let value = value_net.forward(g, obs).reshape(&[b]);
        let value_loss = (value - g.constant(Tensor::from_vec(returns, &[b]))).square().mean();
        self.entropy.add(entropy.item());
        Ok(policy_loss + value_loss * c.vf_coef - entropy * c.ent_coef)
    }

    fn at_boundary(&self) -> bool {
        true
    }

    fn end_round(&mut self, record: &mut EpochRecord) {
        self.entropy.flush("entropy", record);
    }
}
