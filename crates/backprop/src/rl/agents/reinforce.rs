//! REINFORCE with a learned baseline (Williams 1992, "Simple statistical
//! gradient-following algorithms for connectionist reinforcement learning";
//! Sutton & Barto 2018, section 13.4): whole episodes, Monte-Carlo returns,
//! and the gradient of `log pi(a|s) * (G - V(s))`.

use super::actor_critic::{act_and_value, log_prob_and_entropy, sample};
use super::{Core, Learner};
use crate::autograd::{Graph, Var};
use crate::nn::Module;
use crate::rl::{discounted_returns, normalize};
use crate::train::EpochRecord;
use crate::{Result, Tensor};

/// REINFORCE's hyperparameters. Each update uses one whole episode of every
/// copy of the vector environment, run in lock step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReinforceConfig {
    /// Discount factor.
    pub gamma: f32,
    /// Weight of the baseline's squared error.
    pub vf_coef: f32,
}

impl ReinforceConfig {
    /// Errors unless the coefficients are in range.
    pub fn validate(&self) -> Result<()> {
        super::check_unit("gamma", self.gamma)?;
        super::check_non_negative("vf_coef", self.vf_coef)
    }
}

/// The REINFORCE learner.
pub(crate) struct Reinforce {
    config: ReinforceConfig,
    entropy: super::RoundMean,
}

impl Reinforce {
    pub fn new(config: ReinforceConfig) -> Reinforce {
        Reinforce { config, entropy: super::RoundMean::default() }
    }
}

/// One episode per copy: per copy, its observations (flat), actions and rewards.
type Trajectories = Vec<(Vec<f32>, Vec<usize>, Vec<f32>)>;

/// Runs one whole episode in every copy (a copy that finishes waits for the
/// others). A truncated episode's last reward gets `gamma * V(final observation)`.
fn run_episodes(core: &mut Core, gamma: f32) -> Result<Trajectories> {
    let n = core.envs.len();
    let size = core.envs.name().observation_size();
    let mut out: Trajectories = vec![Default::default(); n];
    let mut active = vec![true; n];
    while active.iter().any(|&a| a) {
        let obs = core.envs.observations();
        let (log_probs, _) = act_and_value(core, &obs);
        let classes = log_probs.shape()[1];
        let actions: Vec<Option<usize>> = (0..n)
            .map(|i| active[i].then(|| sample(&log_probs.data()[i * classes..(i + 1) * classes], &mut core.rng)))
            .collect();
        let step = core.envs.step_some(&actions)?;
        core.episodes.record(&step);
        let acted: Vec<usize> = (0..n).filter(|&i| active[i]).collect();
        for i in acted {
            let (o, a, r) = &mut out[i];
            o.extend_from_slice(&obs.data()[i * size..(i + 1) * size]);
            a.push(actions[i].expect("active copies act"));
            r.push(step.rewards[i]);
            if step.truncated[i] {
                let last = step.final_observations[i].clone().unwrap_or_default();
                let (_, v) = act_and_value(core, &Tensor::from_vec(last, &[1, size]));
                *r.last_mut().expect("just pushed") += gamma * v[0];
            }
            active[i] = !step.done(i);
        }
    }
    Ok(out)
}

impl Learner for Reinforce {
    fn loss<'g>(&mut self, core: &mut Core, g: &'g Graph) -> Result<Var<'g>> {
        let c = self.config;
        let episodes = run_episodes(core, c.gamma)?;
        let (mut obs, mut actions, mut returns) = (Vec::new(), Vec::new(), Vec::new());
        for (o, a, r) in episodes {
            let mut dones = vec![false; r.len()];
            *dones.last_mut().expect("an episode has a step") = true;
            returns.extend(discounted_returns(&r, &dones, 1, c.gamma)?);
            obs.extend(o);
            actions.extend(a);
        }
        let b = actions.len();
        let size = core.envs.name().observation_size();
        let x = g.constant(Tensor::from_vec(obs, &[b, size]));
        let value = core.policy.value().expect("REINFORCE policies have a baseline").forward(g, x).reshape(&[b]);
        // Advantages G - V(s), normalised; the baseline is a constant in the policy term.
        let advantages: Vec<f32> = returns.iter().zip(value.value().data()).map(|(g, v)| g - v).collect();
        let adv = g.constant(Tensor::from_vec(normalize(&advantages), &[b]));
        let (log_p, entropy) = log_prob_and_entropy(g, core.policy.forward(g, x), &actions);
        let policy_loss = (log_p * adv).mean() * -1.0;
        let value_loss = (value - g.constant(Tensor::from_vec(returns, &[b]))).square().mean();
        self.entropy.add(entropy.item());
        Ok(policy_loss + value_loss * c.vf_coef)
    }

    fn at_boundary(&self) -> bool {
        true
    }

    fn end_round(&mut self, record: &mut EpochRecord) {
        self.entropy.flush("entropy", record);
    }
}
