//! What agents remember: a replay buffer of transitions (DQN) and the
//! running tally of episodes and environment steps every agent reports.

use super::VecStep;
use crate::tensor::Rng;
use crate::train::EpochRecord;
use crate::Tensor;

/// A fixed-capacity ring of transitions `(s, a, r, s', terminated)`, sampled
/// uniformly (Mnih et al. 2015's experience replay). When full, the oldest
/// transition is overwritten.
///
/// ```
/// use backprop::rl::ReplayBuffer;
/// use backprop::tensor::Rng;
/// let mut buffer = ReplayBuffer::new(2, 1);
/// for i in 0..3 {
///     buffer.push(&[i as f32], 0, 1.0, &[i as f32 + 1.0], false);
/// }
/// assert_eq!(buffer.len(), 2); // the first transition was overwritten
/// let batch = buffer.sample(4, &mut Rng::new(0));
/// assert!(batch.observations.data().iter().all(|&s| s >= 1.0));
/// ```
pub struct ReplayBuffer {
    capacity: usize,
    size: usize,
    observations: Vec<f32>,
    next_observations: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    next: usize,
}

/// A sampled mini-batch of transitions.
#[derive(Clone, Debug)]
pub struct Transitions {
    /// `[B, observation_size]`
    pub observations: Tensor,
    /// `[B]`
    pub actions: Vec<usize>,
    /// `[B]`
    pub rewards: Vec<f32>,
    /// `[B, observation_size]`: the state after the action (the final
    /// observation when the episode ended there).
    pub next_observations: Tensor,
    /// `[B]`: whether the episode terminated (no bootstrapping from `next_observations`).
    pub terminated: Vec<bool>,
}

impl ReplayBuffer {
    /// An empty buffer of `capacity` transitions of `size`-value observations.
    ///
    /// # Panics
    /// When `capacity` is 0.
    pub fn new(capacity: usize, size: usize) -> ReplayBuffer {
        assert!(capacity > 0, "a replay buffer needs room for at least one transition");
        ReplayBuffer {
            capacity,
            size,
            observations: Vec::new(),
            next_observations: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            terminated: Vec::new(),
            next: 0,
        }
    }

    /// Transitions stored.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Stores a transition, overwriting the oldest when full.
    pub fn push(&mut self, observation: &[f32], action: usize, reward: f32, next: &[f32], terminated: bool) {
        debug_assert_eq!((observation.len(), next.len()), (self.size, self.size));
        if self.len() < self.capacity {
            self.observations.extend_from_slice(observation);
            self.next_observations.extend_from_slice(next);
            self.actions.push(action);
            self.rewards.push(reward);
            self.terminated.push(terminated);
        } else {
            let (i, s) = (self.next, self.size);
            self.observations[i * s..(i + 1) * s].copy_from_slice(observation);
            self.next_observations[i * s..(i + 1) * s].copy_from_slice(next);
            self.actions[i] = action;
            self.rewards[i] = reward;
            self.terminated[i] = terminated;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// `batch` transitions drawn uniformly with replacement.
    ///
    /// # Panics
    /// When the buffer is empty.
    pub fn sample(&self, batch: usize, rng: &mut Rng) -> Transitions {
        assert!(!self.is_empty(), "sampling from an empty replay buffer");
        let ids: Vec<usize> = (0..batch).map(|_| rng.below(self.len())).collect();
        let rows = |v: &[f32]| {
            let data = ids.iter().flat_map(|&i| v[i * self.size..(i + 1) * self.size].iter().copied()).collect();
            Tensor::from_vec(data, &[batch, self.size])
        };
        Transitions {
            observations: rows(&self.observations),
            next_observations: rows(&self.next_observations),
            actions: ids.iter().map(|&i| self.actions[i]).collect(),
            rewards: ids.iter().map(|&i| self.rewards[i]).collect(),
            terminated: ids.iter().map(|&i| self.terminated[i]).collect(),
        }
    }
}

/// Environment steps and finished episodes so far, and what a round of
/// training adds to its [`EpochRecord`].
#[derive(Clone, Debug, Default)]
pub struct Episodes {
    /// Environment steps taken (summed over the copies of a vector environment).
    pub steps: usize,
    /// The return of every finished episode, in order.
    pub returns: Vec<f32>,
    round_steps: usize,
    round_episodes: usize,
}

impl Episodes {
    /// Counts the copies a vector step stepped and the episodes it finished.
    pub fn record(&mut self, step: &VecStep) {
        self.steps += step.stepped;
        self.returns.extend(step.finished.iter().map(|&(r, _)| r));
    }

    /// The mean return of the last (up to) 100 episodes, if any finished.
    pub fn mean_return(&self) -> Option<f32> {
        let last = &self.returns[self.returns.len().saturating_sub(100)..];
        (!last.is_empty()).then(|| last.iter().sum::<f32>() / last.len() as f32)
    }

    /// Writes the round's metrics and starts the next round: `env_steps`,
    /// `episodes` (both cumulative), `return` (mean over the episodes that
    /// ended this round), `mean_return` (last 100 episodes) and `steps_per_sec`.
    pub fn end_round(&mut self, record: &mut EpochRecord, seconds: f32) {
        let m = &mut record.metrics;
        m.insert("env_steps".into(), self.steps as f32);
        m.insert("episodes".into(), self.returns.len() as f32);
        let new = &self.returns[self.round_episodes..];
        if !new.is_empty() {
            m.insert("return".into(), new.iter().sum::<f32>() / new.len() as f32);
        }
        if let Some(mean) = self.mean_return() {
            m.insert("mean_return".into(), mean);
        }
        m.insert("steps_per_sec".into(), (self.steps - self.round_steps) as f32 / seconds.max(1e-9));
        self.round_steps = self.steps;
        self.round_episodes = self.returns.len();
    }
}
