//! What the actor-critic methods (A2C, PPO) share: gathering a rollout with
//! the stochastic policy and its value estimates, and the policy's log
//! probabilities and entropy on the tape.

use super::Core;
use crate::autograd::{Graph, Var};
use crate::nn::{sample_categorical, Module};
use crate::tensor::Rng;
use crate::{Result, Tensor};

/// An action drawn from a row of log-probabilities: [`sample_categorical`]
/// of their exponentials (the GPT's sampler).
pub(crate) fn sample(log_probs: &[f32], rng: &mut Rng) -> usize {
    let probs: Vec<f32> = log_probs.iter().map(|l| l.exp()).collect();
    sample_categorical(&probs, rng)
}

/// `T` steps of `N` copies, time-major (step `t` of copy `i` at `t * N + i`).
pub(crate) struct Rollout {
    /// `[T * N, observation_size]` observations, flat.
    pub observations: Vec<f32>,
    pub actions: Vec<usize>,
    /// Log-probabilities of the actions under the policy that chose them.
    pub log_probs: Vec<f32>,
    /// `V(s_t)`.
    pub values: Vec<f32>,
    /// Rewards; a truncated episode's last one plus `gamma * V(final observation)`.
    pub rewards: Vec<f32>,
    /// Whether the copy's episode ended at the step.
    pub dones: Vec<bool>,
    /// `V` of the observations after the last step, `[N]`.
    pub last_values: Vec<f32>,
}

/// The policy's `[N, actions]` log-probabilities and the value network's `[N]`
/// values of `observations`, with no tape.
pub(crate) fn act_and_value(core: &Core, observations: &Tensor) -> (Tensor, Vec<f32>) {
    let g = Graph::no_grad();
    let x = g.constant(observations.clone());
    let log_probs = core.policy.forward(&g, x).value().log_softmax();
    let values = match core.policy.value() {
        Some(v) => v.forward(&g, x).value().into_vec(),
        None => vec![0.0; observations.shape()[0]],
    };
    (log_probs, values)
}

/// Runs the stochastic policy for `steps` steps of every copy, sampling each
/// action from the softmax of its logits ([`sample`]).
pub(crate) fn collect(core: &mut Core, steps: usize, gamma: f32) -> Result<Rollout> {
    let n = core.envs.len();
    let size = core.envs.name().observation_size();
    let capacity = steps * n;
    let mut r = Rollout {
        observations: Vec::with_capacity(capacity * size),
        actions: Vec::with_capacity(capacity),
        log_probs: Vec::with_capacity(capacity),
        values: Vec::with_capacity(capacity),
        rewards: Vec::with_capacity(capacity),
        dones: Vec::with_capacity(capacity),
        last_values: Vec::new(),
    };
    for _ in 0..steps {
        let obs = core.envs.observations();
        let (log_probs, values) = act_and_value(core, &obs);
        let classes = log_probs.shape()[1];
        let mut actions = Vec::with_capacity(n);
        for row in log_probs.data().chunks(classes) {
            let a = sample(row, &mut core.rng);
            actions.push(a);
            r.log_probs.push(row[a]);
        }
        let step = core.envs.step(&actions)?;
        core.episodes.record(&step);
        let mut rewards = step.rewards.clone();
        // A truncated episode still had a future: bootstrap it from the value
        // of its last observation (as Stable-Baselines3 does).
        let cut: Vec<usize> = (0..n).filter(|&i| step.truncated[i]).collect();
        if !cut.is_empty() && core.policy.value().is_some() {
            let finals: Vec<f32> =
                cut.iter().flat_map(|&i| step.final_observations[i].clone().unwrap_or_default()).collect();
            let (_, v) = act_and_value(core, &Tensor::from_vec(finals, &[cut.len(), size]));
            for (&i, v) in cut.iter().zip(v) {
                rewards[i] += gamma * v;
            }
        }
        r.observations.extend_from_slice(obs.data());
        r.actions.extend_from_slice(&actions);
        r.values.extend_from_slice(&values);
        r.rewards.extend_from_slice(&rewards);
        r.dones.extend((0..n).map(|i| step.done(i)));
    }
    r.last_values = act_and_value(core, &core.envs.observations()).1;
    Ok(r)
}

/// From `[B, actions]` logits on the tape: the `[B]` log-probabilities of
/// `actions` and the mean entropy `-sum_a p log p` of the rows (a scalar).
pub(crate) fn log_prob_and_entropy<'g>(g: &'g Graph, logits: Var<'g>, actions: &[usize]) -> (Var<'g>, Var<'g>) {
    let classes = logits.shape()[1];
    let log_p = logits.log_softmax();
    let taken = (log_p * super::one_hot(g, actions, classes)).sum_axis(1, false);
    let entropy = (log_p.exp() * log_p).sum_axis(1, false).mean() * -1.0;
    (taken, entropy)
}
