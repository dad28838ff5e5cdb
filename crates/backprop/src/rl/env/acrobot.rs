//! Acrobot-v1: Gymnasium's `AcrobotEnv` ("book" dynamics, RK4 over 0.2 s, 500-step limit).

use super::{bad_action, not_reset, Canvas, Env, EnvName, NumpyRng, Step, TimeLimit};
use crate::Result;
use std::f64::consts::PI;

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_LENGTH_2: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

/// The acrobot swing-up task, as Gymnasium 1.x's `Acrobot-v1`: two links
/// hang from a fixed joint; action 0, 1, 2 applies a torque of -1, 0, +1 N m
/// at the joint between them; the observation is
/// `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]`; the reward is -1 per step and
/// 0 on the step that lifts the free end more than one link length above the
/// fixed joint, which terminates the episode; it is truncated after 500 steps.
/// Dynamics from Sutton & Barto (2018), "Reinforcement Learning: An
/// Introduction", integrated by 4th-order Runge-Kutta exactly as Gymnasium does.
///
/// ```
/// use backprop::rl::{Acrobot, Env};
/// let mut env = Acrobot::new();
/// let obs = env.reset(Some(0));
/// assert_eq!(obs.len(), 6);
/// let step = env.step(2).unwrap();
/// assert_eq!((step.reward, step.terminated), (-1.0, false));
/// ```
#[derive(Clone, Debug)]
pub struct Acrobot {
    rng: NumpyRng,
    state: Option<[f64; 4]>,
    limit: TimeLimit,
}

impl Default for Acrobot {
    fn default() -> Self {
        Acrobot::new()
    }
}

impl Acrobot {
    /// An acrobot seeded with 0 until the first `reset(Some(seed))`.
    pub fn new() -> Acrobot {
        Acrobot { rng: NumpyRng::new(0), state: None, limit: TimeLimit::default() }
    }

    fn observation(s: &[f64; 4]) -> Vec<f32> {
        [s[0].cos(), s[0].sin(), s[1].cos(), s[1].sin(), s[2], s[3]].iter().map(|&v| v as f32).collect()
    }
}

/// The time derivative of `[t1, t2, dt1, dt2]` under torque `a` (Gymnasium's `_dsdt`, "book").
fn dsdt(s: &[f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2) = (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2);
    let (i1, i2, g) = (LINK_MOI, LINK_MOI, 9.8);
    let [theta1, theta2, dtheta1, dtheta2] = *s;
    let d1 = m1 * lc1.powi(2) + m2 * (l1.powi(2) + lc2.powi(2) + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2.powi(2) + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * dtheta2.powi(2) * theta2.sin() - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1.powi(2) * theta2.sin() - phi2)
        / (m2 * lc2.powi(2) + i2 - d2.powi(2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// One classical Runge-Kutta step of `dt` (Gymnasium's `rk4` over `[0, dt]`).
fn rk4(y0: &[f64; 4], a: f64, dt: f64) -> [f64; 4] {
    let dt2 = dt / 2.0;
    let shifted = |k: &[f64; 4], h: f64| std::array::from_fn::<f64, 4, _>(|i| y0[i] + h * k[i]);
    let k1 = dsdt(y0, a);
    let k2 = dsdt(&shifted(&k1, dt2), a);
    let k3 = dsdt(&shifted(&k2, dt2), a);
    let k4 = dsdt(&shifted(&k3, dt), a);
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Wraps `x` into `[m, M]` by whole turns (Gymnasium's `wrap`).
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

impl Env for Acrobot {
    fn name(&self) -> EnvName {
        EnvName::Acrobot
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = NumpyRng::new(seed);
        }
        // Gymnasium stores the initial state as float32.
        let s: [f64; 4] = std::array::from_fn(|_| f64::from(self.rng.uniform(-0.1, 0.1) as f32));
        self.state = Some(s);
        self.limit = TimeLimit::default();
        Acrobot::observation(&s)
    }

    fn step(&mut self, action: usize) -> Result<Step> {
        let torque = *AVAIL_TORQUE.get(action).ok_or_else(|| bad_action(EnvName::Acrobot, action))?;
        let s = self.state.ok_or_else(|| not_reset(EnvName::Acrobot))?;
        let mut ns = rk4(&s, torque, DT);
        ns[0] = wrap(ns[0], -PI, PI);
        ns[1] = wrap(ns[1], -PI, PI);
        ns[2] = ns[2].clamp(-MAX_VEL_1, MAX_VEL_1);
        ns[3] = ns[3].clamp(-MAX_VEL_2, MAX_VEL_2);
        self.state = Some(ns);
        let terminated = -ns[0].cos() - (ns[1] + ns[0]).cos() > 1.0;
        let truncated = self.limit.tick(EnvName::Acrobot.max_episode_steps());
        let reward = if terminated { 0.0 } else { -1.0 };
        Ok(Step { observation: Acrobot::observation(&ns), reward, terminated, truncated })
    }

    fn state(&self) -> Vec<f64> {
        self.state.map(|s| s.to_vec()).unwrap_or_default()
    }

    /// Gymnasium's picture, scaled to the canvas: teal links, yellow joints
    /// and the black line the tip must cross.
    fn render(&self, canvas: &mut Canvas) {
        let Some([t1, t2, _, _]) = self.state else { return };
        let (w, h) = (canvas.width() as f32, canvas.height() as f32);
        let bound = (LINK_LENGTH_1 + LINK_LENGTH_2 + 0.2) as f32;
        let scale = w.min(h) / (2.0 * bound);
        let (cx, cy) = (w / 2.0, h / 2.0);
        // World (x right, y up) to pixels (y down).
        let px = |x: f32, y: f32| (cx + x * scale, cy - y * scale);
        canvas.line(px(-bound, 1.0), px(bound, 1.0), (scale * 0.01).max(1.0), [0, 0, 0]);
        let (t1, t12) = (t1 as f32, (t1 + t2) as f32);
        let p1 = (LINK_LENGTH_1 as f32 * t1.sin(), -(LINK_LENGTH_1 as f32) * t1.cos());
        let p2 = (p1.0 + LINK_LENGTH_2 as f32 * t12.sin(), p1.1 - LINK_LENGTH_2 as f32 * t12.cos());
        for (a, b) in [((0.0, 0.0), p1), (p1, p2)] {
            canvas.line(px(a.0, a.1), px(b.0, b.1), 0.2 * scale, [0, 204, 204]);
            let (jx, jy) = px(a.0, a.1);
            canvas.fill_circle(jx, jy, 0.1 * scale, [204, 204, 0]);
        }
    }
}
