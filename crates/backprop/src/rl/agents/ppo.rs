//! Proximal policy optimization with the clipped surrogate objective
//! (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"), GAE,
//! several epochs of shuffled minibatches per rollout, and an entropy bonus;
//! the loss is Stable-Baselines3's `PPO.train`.

use super::actor_critic::{collect, log_prob_and_entropy, Rollout};
use super::{gather_rows, Core, Learner};
use crate::autograd::{Graph, Var};
use crate::nn::Module;
use crate::rl::{gae, normalize};
use crate::train::EpochRecord;
use crate::{Error, Result, Tensor};

/// PPO's hyperparameters (besides the learning rate and gradient clipping,
/// which the optimizer and trainer own).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpoConfig {
    /// Steps of every copy per rollout (rollout size = `n_steps * envs`).
    pub n_steps: usize,
    /// Passes over each rollout.
    pub epochs: usize,
    /// Transitions per minibatch (one optimizer step each).
    pub minibatch: usize,
    /// Discount factor.
    pub gamma: f32,
    /// GAE's lambda.
    pub lambda: f32,
    /// The ratio `pi/pi_old` is clipped to `[1 - clip, 1 + clip]`.
    pub clip: f32,
    /// Weight of the entropy bonus.
    pub ent_coef: f32,
    /// Weight of the value loss.
    pub vf_coef: f32,
}

impl PpoConfig {
    /// Errors unless every size is positive and every coefficient in range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("n_steps", self.n_steps), ("epochs", self.epochs), ("minibatch", self.minibatch)] {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        super::check_unit("gamma", self.gamma)?;
        super::check_unit("lambda", self.lambda)?;
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(Error::invalid("clip", format!("must be a positive number, got {}", self.clip)));
        }
        super::check_non_negative("ent_coef", self.ent_coef)?;
        super::check_non_negative("vf_coef", self.vf_coef)
    }
}

/// The PPO learner: a rollout, then `epochs` shuffled passes of minibatches.
pub(crate) struct Ppo {
    config: PpoConfig,
    /// The current rollout with its advantages and value targets.
    batch: Option<(Rollout, Vec<f32>, Vec<f32>)>,
    /// Minibatch index lists for every epoch of the current rollout.
    minibatches: Vec<Vec<usize>>,
    cursor: usize,
    entropy: super::RoundMean,
    clipped: super::RoundMean,
}

impl Ppo {
    pub fn new(config: PpoConfig) -> Ppo {
        Ppo {
            config,
            batch: None,
            minibatches: Vec::new(),
            cursor: 0,
            entropy: Default::default(),
            clipped: Default::default(),
        }
    }

    /// Optimizer steps per rollout of `size` transitions.
    pub fn updates_per_rollout(config: &PpoConfig, size: usize) -> usize {
        config.epochs * size.div_ceil(config.minibatch)
    }

    fn gather(&mut self, core: &mut Core) -> Result<()> {
        let c = self.config;
        let rollout = collect(core, c.n_steps, c.gamma)?;
        let n = core.envs.len();
        let (advantages, returns) =
            gae(&rollout.rewards, &rollout.values, &rollout.dones, &rollout.last_values, n, c.gamma, c.lambda)?;
        let size = rollout.actions.len();
        self.minibatches.clear();
        for _ in 0..c.epochs {
            let mut ids: Vec<usize> = (0..size).collect();
            core.rng.shuffle(&mut ids);
            self.minibatches.extend(ids.chunks(c.minibatch).map(<[usize]>::to_vec));
        }
        self.batch = Some((rollout, advantages, returns));
        Ok(())
    }
}

impl Learner for Ppo {
    fn loss<'g>(&mut self, core: &mut Core, g: &'g Graph) -> Result<Var<'g>> {
        if self.cursor == 0 {
            self.gather(core)?;
        }
        let ids = &self.minibatches[self.cursor];
        self.cursor = (self.cursor + 1) % self.minibatches.len();
        let (rollout, advantages, returns) = self.batch.as_ref().expect("gathered above");
        let size = core.envs.name().observation_size();
        let b = ids.len();
        let obs = g.constant(gather_rows(&rollout.observations, size, ids));
        let actions: Vec<usize> = ids.iter().map(|&i| rollout.actions[i]).collect();
        let pick = |v: &[f32]| ids.iter().map(|&i| v[i]).collect::<Vec<f32>>();
        // Advantages normalised per minibatch, as Stable-Baselines3 does.
        let adv = g.constant(Tensor::from_vec(normalize(&pick(advantages)), &[b]));
        let old_log_p = g.constant(Tensor::from_vec(pick(&rollout.log_probs), &[b]));
        let target = g.constant(Tensor::from_vec(pick(returns), &[b]));

        let (log_p, entropy) = log_prob_and_entropy(g, core.policy.forward(g, obs), &actions);
        let ratio = (log_p - old_log_p).exp();
        let (lo, hi) = (1.0 - self.config.clip, 1.0 + self.config.clip);
        let unclipped = ratio * adv;
        let clipped = ratio.max_scalar(lo).min_scalar(hi) * adv;
        // min(a, b) = b - relu(b - a)
        let surrogate = clipped - (clipped - unclipped).relu();
        let policy_loss = surrogate.mean() * -1.0;
        let value_net = core.policy.value().expect("PPO policies have a value network");
        let value = value_net.forward(g, obs).reshape(&[b]);
        let value_loss = (value - target).square().mean();
        let ratios = ratio.value();
        let outside = ratios.data().iter().filter(|&&r| r < lo || r > hi).count();
        self.clipped.add(outside as f32 / b as f32);
        self.entropy.add(entropy.item());
        Ok(policy_loss + value_loss * self.config.vf_coef - entropy * self.config.ent_coef)
    }

    fn at_boundary(&self) -> bool {
        self.cursor == 0
    }

    fn end_round(&mut self, record: &mut EpochRecord) {
        self.entropy.flush("entropy", record);
        self.clipped.flush("clip_fraction", record);
    }
}
