//! Deterministic evaluation: the greedy action (arg-max of the logits or
//! Q-values) at every step, one episode per seed.

use super::{Canvas, Env, Policy};
use crate::{Error, Result, Tensor};

/// Episodes run side by side (a batch of observations per step).
const EPISODES_PER_BATCH: usize = 256;

/// The returns of `episodes` greedy episodes of `policy`, episode `i`
/// starting from `reset(seed + i)`. Episodes run in batches of up to 256, one
/// forward pass per step for the whole batch.
///
/// ```
/// use backprop::nn::Activation;
/// use backprop::rl::{evaluate, Algo, EnvName, Policy};
/// use backprop::tensor::Rng;
/// let policy = Policy::new(EnvName::CartPole, Algo::Ppo, &[8], Activation::Tanh, &mut Rng::new(0));
/// let returns = evaluate(&policy, 3, 0).unwrap();
/// assert_eq!(returns.len(), 3);
/// assert!(returns.iter().all(|&r| (1.0..=500.0).contains(&r)));
/// ```
///
/// # Errors
/// When `episodes` is 0.
pub fn evaluate(policy: &Policy, episodes: usize, seed: u64) -> Result<Vec<f32>> {
    if episodes == 0 {
        return Err(Error::invalid("episodes", "must be at least 1"));
    }
    let mut returns = Vec::with_capacity(episodes);
    for start in (0..episodes).step_by(EPISODES_PER_BATCH) {
        let count = EPISODES_PER_BATCH.min(episodes - start);
        returns.extend(run_batch(policy, count, seed.wrapping_add(start as u64))?);
    }
    Ok(returns)
}

fn run_batch(policy: &Policy, count: usize, seed: u64) -> Result<Vec<f32>> {
    let name = policy.env();
    let size = name.observation_size();
    let mut envs: Vec<Box<dyn Env>> = (0..count).map(|_| name.make()).collect();
    let mut obs: Vec<Vec<f32>> =
        envs.iter_mut().enumerate().map(|(i, e)| e.reset(Some(seed.wrapping_add(i as u64)))).collect();
    let mut returns = vec![0.0f32; count];
    let mut live: Vec<usize> = (0..count).collect();
    while !live.is_empty() {
        let batch: Vec<f32> = live.iter().flat_map(|&i| obs[i].iter().copied()).collect();
        let actions = policy.act(&Tensor::from_vec(batch, &[live.len(), size]));
        let mut still = Vec::with_capacity(live.len());
        for (&i, action) in live.iter().zip(actions) {
            let step = envs[i].step(action)?;
            returns[i] += step.reward;
            if !(step.terminated || step.truncated) {
                still.push(i);
            }
            obs[i] = step.observation;
        }
        live = still;
    }
    Ok(returns)
}

/// One greedy episode from `reset(seed)`, drawn: its return and a frame per
/// state (the first state, then one after each step), each `width` x `height`.
///
/// # Errors
/// When a side is 0 or above 4096 pixels.
pub fn record_episode(policy: &Policy, seed: u64, width: usize, height: usize) -> Result<(f32, Vec<Canvas>)> {
    if !(1..=4096).contains(&width) || !(1..=4096).contains(&height) {
        return Err(Error::invalid("frame size", format!("{width}x{height} is not between 1x1 and 4096x4096")));
    }
    let name = policy.env();
    let mut env = name.make();
    let mut obs = env.reset(Some(seed));
    let draw = |env: &dyn Env| {
        let mut canvas = Canvas::new(width, height, [255, 255, 255]);
        env.render(&mut canvas);
        canvas
    };
    let mut frames = vec![draw(env.as_ref())];
    let mut total = 0.0;
    loop {
        let action = policy.act(&Tensor::from_vec(obs, &[1, name.observation_size()]))[0];
        let step = env.step(action)?;
        total += step.reward;
        frames.push(draw(env.as_ref()));
        if step.terminated || step.truncated {
            return Ok((total, frames));
        }
        obs = step.observation;
    }
}
