//! CartPole-v1: Gymnasium's `CartPoleEnv` (Euler integration, 500-step limit).

use super::{bad_action, not_reset, Canvas, Env, EnvName, NumpyRng, Step, TimeLimit};
use crate::Result;

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
const X_THRESHOLD: f64 = 2.4;

/// The classic cart-pole balancing task, as Gymnasium 1.x's `CartPole-v1`:
/// action 0 pushes the cart left and 1 right with a force of 10 N; the
/// observation is `[x, x_dot, theta, theta_dot]`; the reward is 1 per step,
/// including the step that ends the episode; the episode terminates when
/// |x| > 2.4 or |theta| > 12 degrees and is truncated after 500 steps.
/// The equations are those of Florian (2007), "Correct equations for the
/// dynamics of the cart-pole system", as Gymnasium writes them.
///
/// ```
/// use backprop::rl::{CartPole, Env};
/// let mut env = CartPole::new();
/// let first = env.reset(Some(42)); // Gymnasium: [0.0273956, -0.00611216, 0.03585979, 0.0197368]
/// assert!((first[0] - 0.0273956).abs() < 1e-7);
/// let mut steps = 0;
/// while !env.step(1).unwrap().terminated {
///     steps += 1; // always pushing right tips the pole over within a few dozen steps
/// }
/// assert!(steps < 50);
/// ```
#[derive(Clone, Debug)]
pub struct CartPole {
    rng: NumpyRng,
    state: Option<[f64; 4]>,
    limit: TimeLimit,
    /// Whether the episode has terminated (later steps earn 0, as in Gymnasium).
    terminated: bool,
}

impl Default for CartPole {
    fn default() -> Self {
        CartPole::new()
    }
}

impl CartPole {
    /// A cart-pole seeded with 0 until the first `reset(Some(seed))`.
    pub fn new() -> CartPole {
        CartPole { rng: NumpyRng::new(0), state: None, limit: TimeLimit::default(), terminated: false }
    }
}

fn theta_threshold() -> f64 {
    12.0 * 2.0 * std::f64::consts::PI / 360.0
}

impl Env for CartPole {
    fn name(&self) -> EnvName {
        EnvName::CartPole
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = NumpyRng::new(seed);
        }
        let s: [f64; 4] = std::array::from_fn(|_| self.rng.uniform(-0.05, 0.05));
        self.state = Some(s);
        self.limit = TimeLimit::default();
        self.terminated = false;
        s.iter().map(|&v| v as f32).collect()
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        if action >= 2 {
            return Err(bad_action(EnvName::CartPole, action));
        }
        let [x, x_dot, theta, theta_dot] = self.state.ok_or_else(|| not_reset(EnvName::CartPole))?;
        let total_mass = MASSPOLE + MASSCART;
        let polemass_length = MASSPOLE * LENGTH;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sintheta, costheta) = theta.sin_cos();
        let temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
        let s = [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc];
        self.state = Some(s);
        let terminated =
            s[0] < -X_THRESHOLD || s[0] > X_THRESHOLD || s[2] < -theta_threshold() || s[2] > theta_threshold();
        let truncated = self.limit.tick(EnvName::CartPole.max_episode_steps());
        let reward = if self.terminated { 0.0 } else { 1.0 };
        self.terminated |= terminated;
        Ok(Step { observation: s.iter().map(|&v| v as f32).collect(), reward, terminated, truncated })
    }

    fn state(&self) -> Vec<f64> {
        self.state.map(|s| s.to_vec()).unwrap_or_default()
    }

    /// Gymnasium's picture, scaled to the canvas: the track 4.8 m wide across
    /// the canvas, a black cart, a brown pole and a blue axle.
    fn render(&self, canvas: &mut Canvas) {
        let Some([x, _, theta, _]) = self.state else { return };
        let (w, h) = (canvas.width() as f32, canvas.height() as f32);
        let scale = w / (2.0 * X_THRESHOLD as f32);
        let unit = w / 600.0; // Gymnasium draws on a 600-pixel-wide screen
        let track_y = 0.75 * h; // 100 pixels above the bottom of a 400-pixel screen
        canvas.line((0.0, track_y), (w, track_y), unit.max(1.0), [0, 0, 0]);
        let cart_x = x as f32 * scale + w / 2.0;
        let (cart_w, cart_h) = (50.0 * unit, 30.0 * unit);
        let top = track_y - cart_h / 2.0;
        let cart = [
            (cart_x - cart_w / 2.0, top),
            (cart_x + cart_w / 2.0, top),
            (cart_x + cart_w / 2.0, top + cart_h),
            (cart_x - cart_w / 2.0, top + cart_h),
        ];
        canvas.fill_polygon(&cart, [0, 0, 0]);
        let axle = (cart_x, top + cart_h / 4.0);
        let pole_len = scale * (2.0 * LENGTH as f32);
        let tip = (axle.0 + pole_len * (theta as f32).sin(), axle.1 - pole_len * (theta as f32).cos());
        canvas.line(axle, tip, 10.0 * unit, [202, 152, 101]);
        canvas.fill_circle(axle.0, axle.1, 5.0 * unit, [129, 132, 203]);
    }
}
