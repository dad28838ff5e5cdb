//! Returns and advantages from rewards: discounted Monte-Carlo returns
//! (REINFORCE) and generalized advantage estimation (A2C, PPO).
//!
//! Time-major layout: step `t` of copy `i` of a vector environment is index
//! `t * envs + i`; `dones[t * envs + i]` says copy `i`'s episode ended at step
//! `t`, so its next state is the start of another episode and is not
//! bootstrapped from. (A truncated episode's last reward should already
//! include `gamma * V(final observation)`.)

use crate::{Error, Result};

/// Discounted returns `G_t = r_t + gamma * G_{t+1}` of a time-major rollout,
/// restarting from 0 after each episode end (and after the last step, so only
/// complete episodes get their true returns).
///
/// ```
/// use backprop::rl::discounted_returns;
/// // One copy, rewards 1, 1, 1 then the episode ends; gamma 0.5.
/// let g = discounted_returns(&[1.0, 1.0, 1.0], &[false, false, true], 1, 0.5).unwrap();
/// assert_eq!(g, vec![1.75, 1.5, 1.0]);
/// ```
///
/// # Errors
/// When the lengths disagree or are not a multiple of `envs`.
pub fn discounted_returns(rewards: &[f32], dones: &[bool], envs: usize, gamma: f32) -> Result<Vec<f32>> {
    check_layout(rewards.len(), &[("dones", dones.len())], envs)?;
    let mut out = vec![0.0; rewards.len()];
    let mut running = vec![0.0f32; envs];
    for t in (0..rewards.len() / envs).rev() {
        for (i, running) in running.iter_mut().enumerate() {
            let k = t * envs + i;
            if dones[k] {
                *running = 0.0;
            }
            *running = rewards[k] + gamma * *running;
            out[k] = *running;
        }
    }
    Ok(out)
}

/// Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional
/// Continuous Control Using Generalized Advantage Estimation"), as
/// Stable-Baselines3's `RolloutBuffer.compute_returns_and_advantage`:
///
/// `delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)`,
/// `A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}`,
/// and the value targets `R_t = A_t + V(s_t)`.
///
/// `values` are `V(s_t)` (`[T * envs]`), `last_values` the values of the
/// observations after the last step (`[envs]`). `lambda = 1` gives n-step
/// returns (A2C), `lambda = 0` one-step TD errors. Returns `(advantages, returns)`.
///
/// ```
/// use backprop::rl::gae;
/// let (adv, ret) = gae(&[1.0, 1.0], &[0.5, 0.5], &[false, false], &[0.5], 1, 1.0, 1.0).unwrap();
/// assert_eq!(ret, vec![2.5, 1.5]); // r0 + r1 + V(s2), r1 + V(s2)
/// assert_eq!(adv, vec![2.0, 1.0]);
/// ```
///
/// # Errors
/// When the lengths disagree or are not a multiple of `envs`.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_values: &[f32],
    envs: usize,
    gamma: f32,
    lambda: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    check_layout(rewards.len(), &[("values", values.len()), ("dones", dones.len())], envs)?;
    if last_values.len() != envs {
        return Err(Error::invalid("last_values", format!("{} values for {envs} environments", last_values.len())));
    }
    let mut advantages = vec![0.0; rewards.len()];
    let mut running = vec![0.0f32; envs];
    let steps = rewards.len() / envs;
    for t in (0..steps).rev() {
        for (i, running) in running.iter_mut().enumerate() {
            let k = t * envs + i;
            let next_value = if t + 1 == steps { last_values[i] } else { values[k + envs] };
            let not_done = if dones[k] { 0.0 } else { 1.0 };
            let delta = rewards[k] + gamma * next_value * not_done - values[k];
            *running = delta + gamma * lambda * not_done * *running;
            advantages[k] = *running;
        }
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    Ok((advantages, returns))
}

/// `(x - mean) / (std + 1e-8)` over all of `x` (the population standard
/// deviation), as Stable-Baselines3 normalises advantages; a single value becomes 0.
pub fn normalize(x: &[f32]) -> Vec<f32> {
    let n = x.len().max(1) as f32;
    let mean = x.iter().sum::<f32>() / n;
    let std = (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
    x.iter().map(|v| (v - mean) / (std + 1e-8)).collect()
}

fn check_layout(len: usize, others: &[(&str, usize)], envs: usize) -> Result<()> {
    if envs == 0 || !len.is_multiple_of(envs) {
        return Err(Error::invalid("rewards", format!("{len} rewards do not split into {envs} environments")));
    }
    for (name, n) in others {
        if *n != len {
            return Err(Error::invalid(*name, format!("{n} entries for {len} rewards")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn gae_matches_hand_worked_values() {
        // One copy, gamma 0.9, lambda 0.8; rewards 1, 2, 3; V = 0.5, 0.4, 0.3; V(s3) = 0.2.
        // delta2 = 3 + 0.9*0.2 - 0.3 = 2.88;  A2 = 2.88
        // delta1 = 2 + 0.9*0.3 - 0.4 = 1.87;  A1 = 1.87 + 0.72*2.88 = 3.9436
        // delta0 = 1 + 0.9*0.4 - 0.5 = 0.86;  A0 = 0.86 + 0.72*3.9436 = 3.699392
        let (adv, ret) = gae(&[1.0, 2.0, 3.0], &[0.5, 0.4, 0.3], &[false; 3], &[0.2], 1, 0.9, 0.8).unwrap();
        assert!(close(&adv, &[3.699392, 3.9436, 2.88]), "{adv:?}");
        assert!(close(&ret, &[4.199392, 4.3436, 3.18]), "{ret:?}");
        // The episode ends at step 1: nothing flows back across it.
        // delta1 = 2 - 0.4 = 1.6 = A1;  A0 = 0.86 + 0.72*1.6 = 2.012;  A2 as before.
        let (adv, _) = gae(&[1.0, 2.0, 3.0], &[0.5, 0.4, 0.3], &[false, true, false], &[0.2], 1, 0.9, 0.8).unwrap();
        assert!(close(&adv, &[2.012, 1.6, 2.88]), "{adv:?}");
    }

    #[test]
    fn two_copies_are_independent() {
        // Copy 0: rewards 1, 1 (ends at t=1); copy 1: rewards 0, 2, bootstrap V = 1.
        // gamma 0.5, lambda 1, values 0: copy 0 returns 1.5, 1; copy 1: 0 + 0.5*(2 + 0.5*1) = 1.25, 2.5.
        let (adv, ret) =
            gae(&[1.0, 0.0, 1.0, 2.0], &[0.0; 4], &[false, false, true, false], &[9.0, 1.0], 2, 0.5, 1.0).unwrap();
        assert!(close(&ret, &[1.5, 1.25, 1.0, 2.5]), "{ret:?}");
        assert_eq!(adv, ret);
        let g = discounted_returns(&[1.0, 0.0, 1.0, 2.0], &[false, false, true, false], 2, 0.5).unwrap();
        assert!(close(&g, &[1.5, 1.0, 1.0, 2.0]), "{g:?}");
    }

    #[test]
    fn bad_layouts_are_named() {
        let e = gae(&[1.0; 3], &[0.0; 3], &[false; 3], &[0.0; 2], 2, 0.9, 0.9).unwrap_err().to_string();
        assert!(e.contains("3 rewards do not split into 2 environments"), "{e}");
        let e = discounted_returns(&[1.0; 2], &[false], 1, 0.9).unwrap_err().to_string();
        assert!(e.contains("dones") && e.contains("1 entries for 2 rewards"), "{e}");
    }

    #[test]
    fn normalize_centres_and_scales() {
        let z = normalize(&[1.0, 2.0, 3.0, 4.0]);
        assert!(z.iter().sum::<f32>().abs() < 1e-6);
        assert!((z.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-5);
        assert_eq!(normalize(&[5.0]), vec![0.0]);
    }
}
